"""AheadPool: results in input order, input taken only as fast as results are consumed, clean stop."""

from __future__ import annotations

import threading
import time

from tessera.batch.pool import AheadPool


class CountingInput:
    def __init__(self, n: int):
        self.n, self.taken = n, 0

    def __iter__(self):
        for i in range(self.n):
            self.taken += 1
            yield i


def test_results_come_in_input_order_in_batches():
    with AheadPool(range(23), lambda i: i * i, workers=3, ahead=5) as pool:
        batches = list(pool.batches(4))
    assert [len(b) for b in batches] == [4, 4, 4, 4, 4, 3]
    assert sum(batches, []) == [i * i for i in range(23)]


def test_input_is_taken_only_as_results_are_consumed():
    source = CountingInput(1000)
    with AheadPool(source, lambda i: i, workers=2, ahead=8) as pool:
        results = pool.batches(4)
        for consumed in (4, 8, 12):
            next(results)
            assert source.taken <= consumed + 8
    assert source.taken < 1000


def test_close_cancels_what_has_not_started():
    started = []
    release = threading.Event()

    def work(i):
        started.append(i)
        if i > 0:
            release.wait(5)
        return i

    pool = AheadPool(range(100), work, workers=2, ahead=10)
    assert next(pool.batches(1)) == [0]       # now 10 more are queued
    deadline = time.monotonic() + 5
    while len(started) < 3 and time.monotonic() < deadline:   # until both workers hold one (1 and 2)
        time.sleep(0.01)
    closing = threading.Thread(target=pool.close)
    closing.start()
    closing.join(0.2)
    release.set()
    closing.join(5)
    assert not closing.is_alive()
    assert sorted(started) == [0, 1, 2]       # the queued rest never ran
