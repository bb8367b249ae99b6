"""Critical sections that Ctrl-C and SIGTERM cannot cut in half.

``deferred_interrupts()`` holds SIGINT and SIGTERM back for the length of a ``with`` block
and delivers them (as ``KeyboardInterrupt``) when it ends. Writers use it around a step that
must finish or not start at all: setting unstaged changes aside and restoring them, or one
file's guarded write, so that an interrupted run knows exactly what it did.

Signal handlers can only be set from the main thread; elsewhere (the editor's workers) the
block runs unprotected, as before. ``terminate_as_interrupt()`` makes SIGTERM raise like
Ctrl-C, so that ``finally`` blocks run and temporary files are removed.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from infill.errors import Interrupted


class Terminated(Interrupted):
    """SIGTERM, raised like Ctrl-C so that clean-up runs."""


def terminate_as_interrupt() -> None:
    """From now on SIGTERM raises ``Terminated`` (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then act on the first one received."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum, frame) -> None:
        received.append(signum)

    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, hold)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            _deliver(received[0], previous[received[0]])


def _deliver(signum: int, handler) -> None:
    """Act on a held signal as its previous handler would have."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL and signum == signal.SIGINT:
        raise KeyboardInterrupt
    elif handler == signal.SIG_DFL:
        signal.raise_signal(signum)  # the default action: terminate
