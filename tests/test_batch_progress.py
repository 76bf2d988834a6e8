"""Progress: count, rate and ETA; a redrawn bar on a terminal, occasional plain lines otherwise."""

from __future__ import annotations

import io

from tessera.batch.progress import Progress


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_rate_and_eta_follow_the_clock():
    clock = FakeClock()
    progress = Progress(total=100, stream=io.StringIO(), clock=clock)
    clock.now += 10
    progress.advance(25)
    assert progress.rate() == 2.5
    assert progress.eta_s() == 30
    assert progress.text() == "25/100 images  2.5/s  ETA 0:30"


def test_without_a_total_there_is_no_eta():
    progress = Progress(stream=io.StringIO(), clock=FakeClock())
    progress.advance(3)
    assert progress.eta_s() is None and progress.text().startswith("3 images")


def test_pipes_get_a_plain_line_now_and_then():
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(total=10, stream=out, clock=clock, line_every_s=5)
    for _ in range(10):
        clock.now += 1
        progress.advance()
    progress.finish()
    lines = out.getvalue().splitlines()
    assert lines == ["5/10 images  1.0/s  ETA 0:05", "10/10 images  1.0/s  ETA 0:00",
                     "10/10 images  1.0/s  ETA 0:00"]
    assert "\r" not in out.getvalue()


def test_terminals_get_a_bar_redrawn_in_place():
    clock, out = FakeClock(), Terminal()
    progress = Progress(total=4, stream=out, clock=clock)
    clock.now += 1
    progress.advance(2)
    progress.finish()
    assert out.getvalue() == ("\r[############............]  2/4 images  2.0/s  ETA 0:01\x1b[K" * 2) + "\n"
