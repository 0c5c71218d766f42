"""An MCP server that hangs at start: it never reads its input nor answers (tests). Given a
path, it writes its pid there first."""

import os
import sys
import time

if len(sys.argv) > 1:
    with open(sys.argv[1], "w") as f:
        f.write(str(os.getpid()))
time.sleep(3600)
