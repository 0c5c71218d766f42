"""Tools from MCP servers: their configuration (servers.py), the connections and calls
(toolbox.py), and the loop of an answer's tool calls, approved, run and stored (loop.py).

Nothing here writes to the terminal but through ``ctx.ui``; the ``mcp`` package is imported only
when servers are started (it is an extra: ``pip install 'chatrepl[mcp]'``).
"""
