"""A calculator MCP server over stdio (tests): add, and slow, which takes its time."""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("calc")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@server.tool()
def fail(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"cannot: {reason}")


@server.tool()
async def hang(seconds: float = 3600) -> str:
    """Sleeps (for the timeout and Ctrl-C tests); writes a mark when it is cancelled."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        if len(sys.argv) > 1:
            with open(sys.argv[1], "a") as f:
                f.write("cancelled\n")
        raise
    return "woke up"


@server.tool()
def noisy() -> str:
    """A result full of terminal escape sequences."""
    return "\x1b[2J\x1b]0;pwned\x07red \x1b[31mtext\x1b[0m\nline 2\nline 3\nline 4\nline 5"


@server.tool()
def die() -> str:
    """The server exits under the call."""
    os._exit(1)


if __name__ == "__main__":
    server.run()
