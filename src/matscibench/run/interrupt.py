"""Ctrl-C and SIGTERM end a run the same way: running jobs killed with everything they
started, claims released, the run marked interrupted."""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["Terminated", "sigterm_as_interrupt"]


class Terminated(KeyboardInterrupt):
    """The driver received SIGTERM (a batch scheduler ending its allocation): handled like Ctrl-C."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Any:
    """Within it, SIGTERM (and SIGHUP) raise ``Terminated`` in the main thread, so the run stops
    like on Ctrl-C: running jobs killed with every process they started, claims released, the
    run marked interrupted."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        # once: a second signal during the clean-up does not cut it short
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        raise Terminated(signal.Signals(signum).name)

    old = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        old[sig] = signal.signal(sig, handler)

    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
