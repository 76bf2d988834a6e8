"""A classification job that the web page runs batch by batch, and the board the server keeps jobs on.

The Python side offers one batch of decoded pixels at a time and waits for its results; the
page pulls the batch through the JSON API (`api/batch.py`), classifies it and posts the top-K
back, which lands on `events`. Only one batch is ever waiting, so memory holds one batch in
transfer however many files the run has (the decode pool holds the next ones).
"""

from __future__ import annotations

import json
import queue
import secrets
import threading
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np


@dataclass(frozen=True)
class PixelBatch:
    """Images as the page receives them: RGB rows back to back, and each image's size."""
    seq: int
    sizes: list[tuple[int, int]]     # (width, height) per image, in order
    body: bytes                      # width × height × 3 bytes per image, concatenated

    @classmethod
    def encode(cls, seq: int, pixels: Sequence[np.ndarray]) -> "PixelBatch":
        return cls(seq, [(p.shape[1], p.shape[0]) for p in pixels],
                   b"".join(np.ascontiguousarray(p, np.uint8).tobytes() for p in pixels))

    def header(self) -> str:
        return json.dumps({"seq": self.seq, "sizes": self.sizes})


FINISHED = object()    # what next_batch returns once the Python side has no more batches


@dataclass
class BatchPageJob:
    model_name: str
    model_url: str
    top: int
    backend: str
    id: str = field(default_factory=lambda: secrets.token_urlsafe(9))
    # What the page posts: ("status", {...}) as it loads the model, ("batch", {"seq", "results"}).
    events: "queue.Queue[tuple[str, dict]]" = field(default_factory=queue.Queue)
    _waiting: "queue.Queue[PixelBatch | object]" = field(default_factory=lambda: queue.Queue(maxsize=1))
    _seq: int = 0

    def spec(self) -> dict:
        return {"id": self.id, "kind": "batch", "model": {"name": self.model_name, "url": self.model_url},
                "top": self.top, "backend": self.backend}

    def offer(self, pixels: Sequence[np.ndarray]) -> int:
        """Hand the page a batch; returns its sequence number, which its results carry."""
        self._seq += 1
        self._waiting.put_nowait(PixelBatch.encode(self._seq, pixels))   # the last one was taken
        return self._seq

    def finish(self) -> None:
        """No more batches: the page's next pull is told so (and stops); a batch not taken is dropped."""
        try:
            self._waiting.get_nowait()
        except queue.Empty:
            pass
        self._waiting.put_nowait(FINISHED)

    def next_batch(self, timeout: float) -> PixelBatch | object | None:
        """The batch waiting for the page, FINISHED, or None when nothing came within timeout."""
        try:
            taken = self._waiting.get(timeout=timeout)
        except queue.Empty:
            return None
        if taken is FINISHED:
            self._waiting.put(FINISHED)     # every later pull hears it too
        return taken


class Job(Protocol):
    id: str
    events: "queue.Queue[tuple[str, dict]]"

    def spec(self) -> dict: ...


class JobBoard:
    """Jobs the page may fetch and report on, by id."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def add(self, job: Job) -> Job:
        with self._lock:
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)
