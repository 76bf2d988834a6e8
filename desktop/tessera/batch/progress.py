"""Progress of a long run on stderr: a redrawn bar on a terminal, a plain line now and then otherwise.

Log files and pipes get one line every `line_every_s` seconds (a bar redrawn with carriage
returns would be unreadable there); a terminal gets the bar at most every `redraw_s`.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

BAR_WIDTH = 24


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    def __init__(self, total: int | None = None, *, stream: TextIO | None = None,
                 label: str = "images", redraw_s: float = 0.1, line_every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.total = total          # may be set later, once counted; without it: no bar, no ETA
        self.count = 0
        self.stream = stream or sys.stderr
        self.label = label
        self._tty = self.stream.isatty()
        self._every = redraw_s if self._tty else line_every_s
        self._clock = clock
        self._start = clock()
        self._last_shown = self._start

    def rate(self) -> float:
        elapsed = self._clock() - self._start
        return self.count / elapsed if elapsed > 0 else 0.0

    def eta_s(self) -> float | None:
        rate = self.rate()
        if self.total is None or rate == 0:
            return None
        return max(0, self.total - self.count) / rate

    def text(self) -> str:
        done = f"{self.count}/{self.total}" if self.total is not None else str(self.count)
        parts = [f"{done} {self.label}", f"{self.rate():.1f}/s"]
        eta = self.eta_s()
        if eta is not None:
            parts.append(f"ETA {_duration(eta)}")
        if self._tty and self.total:
            filled = min(BAR_WIDTH, BAR_WIDTH * self.count // self.total)
            parts.insert(0, "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]")
        return "  ".join(parts)

    def advance(self, n: int = 1) -> None:
        self.count += n
        if self._clock() - self._last_shown >= self._every:
            self._show()

    def finish(self) -> None:
        self._show()
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()

    def _show(self) -> None:
        self._last_shown = self._clock()
        self.stream.write(("\r" + self.text() + "\x1b[K") if self._tty else self.text() + "\n")
        self.stream.flush()
