"""An MCP server over streamable HTTP (tests): ``python web.py PORT``; it checks a header."""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("web", log_level="WARNING")


@server.tool()
def shout(text: str) -> str:
    """The text in capitals."""
    return text.upper()


if __name__ == "__main__":
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
