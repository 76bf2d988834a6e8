"""Ctrl-C for long runs: the first one finishes the batch in flight, a second one stops at once."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def stop_on_interrupt(stop: threading.Event,
                      signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[threading.Event]:
    """While inside, those signals set stop (the runner's); if it is already set, KeyboardInterrupt.

    Signal handlers can only be installed from the main thread.
    """
    def handle(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in signals}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
