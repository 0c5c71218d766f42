"""An MCP server that exits at start, before it says anything (tests)."""

import sys

sys.stderr.write("exits: missing its configuration\n")
sys.exit(3)
