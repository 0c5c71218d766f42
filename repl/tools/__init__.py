"""Tools from MCP servers: their configuration (servers.py), the connections and calls
(toolbox.py). The loop of an answer's tool calls (approved, run, stored) is a turn's: repl/calls.py,
beside chat.py.

Nothing here writes to the terminal but through ``ctx.ui``; the ``mcp`` package is imported only
when servers are started (it is an extra: ``pip install 'chatrepl[mcp]'``).
"""
