"""Signals as asyncio callbacks, so an interrupt never lands in the middle of a save.

Ctrl-C, SIGTERM and SIGHUP cancel the task that streams an answer; the turn then saves what arrived
(flagged) before anything else happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def handling(handler: Callable[[], object], *signals: signal.Signals) -> Iterator[None]:
    """Run ``handler`` on the event loop when any of ``signals`` arrives, while inside."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in signals:
        try:
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread (tests), or no such signals on this platform
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
