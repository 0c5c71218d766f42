"""An MCP server over streamable HTTP (tests): ``python web.py PORT``; shout says which X-Token
header its request carried, so the test sees the configured headers arrive."""

from __future__ import annotations

import sys

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("web", log_level="WARNING")


@server.tool()
def shout(text: str, ctx: Context) -> str:
    """The text in capitals."""
    headers = ctx.headers or {}
    return f"{text.upper()} (token {headers.get('x-token', 'none')})"


if __name__ == "__main__":
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
