"""Decode ahead of the consumer on a pool of threads, with a bounded queue between them.

Threads rather than processes: Pillow releases the GIL while it decodes and resizes (measured:
a pure-Python loop keeps most of its speed while another thread decodes JPEGs), so threads
overlap the work without pickling megabytes of pixels between processes.

The queue holds at most `ahead` submitted items; the next item is taken from the input only
when the consumer has taken one out, so a slow consumer (the GPU, the browser) holds the
producer back and memory stays at `ahead` decoded images whatever the size of the input.
Results come out in input order.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Callable, Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_WORKERS = min(4, os.cpu_count() or 1)


class AheadPool(Generic[T, R]):
    """work(item) for each item on `workers` threads, at most `ahead` in flight, in order.

    Use as a context manager; leaving it (or close()) cancels what has not started and waits
    for what has. work() must not raise for bad input: return an error value instead.
    """

    def __init__(self, items: Iterable[T], work: Callable[[T], R], *,
                 workers: int = DEFAULT_WORKERS, ahead: int = 32):
        self._items = iter(items)
        self._work = work
        self._ahead = max(1, ahead)
        self._queue: deque[Future[R]] = deque()
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="decode")

    def _fill(self) -> None:
        for item in islice(self._items, self._ahead - len(self._queue)):
            self._queue.append(self._executor.submit(self._work, item))

    def __iter__(self) -> Iterator[R]:
        self._fill()
        while self._queue:
            result = self._queue.popleft().result()
            self._fill()
            yield result

    def batches(self, size: int) -> Iterator[list[R]]:
        """Lists of up to size results; the pool keeps decoding while the caller works on one."""
        results = iter(self)
        while batch := list(islice(results, size)):
            yield batch

    def close(self) -> None:
        for future in self._queue:
            future.cancel()
        self._queue.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "AheadPool[T, R]":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
