"""An MCP server over stdio (tests) that writes to its stderr: a line as it starts, one per call
of ``say``, and a last line, escape sequences and its TALKS_TOKEN in it, before ``fall`` exits."""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("talks")


@server.tool()
def say(text: str) -> str:
    """Writes ``text`` to stderr."""
    print(f"talks said {text}", file=sys.stderr, flush=True)
    return "said"


@server.tool()
def fall() -> str:
    """Writes a last line to stderr and exits under the call."""
    token = os.environ.get("TALKS_TOKEN", "")
    print(f"talks: fatal: \x1b[31mthe disk is full\x1b[0m (token {token})", file=sys.stderr,
          flush=True)
    os._exit(1)


if __name__ == "__main__":
    print("talks is listening", file=sys.stderr, flush=True)
    server.run()
