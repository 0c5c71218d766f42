"""An MCP server that hangs at start: it never reads its input nor answers (tests)."""

import time

time.sleep(3600)
