"""`classify_batch` for the BatchRunner, answered by the web page in headless Chromium.

The browser is started, and the model loaded, on the first batch: a rerun over files the
store already has never starts it. Each call offers one batch to the page job and blocks
until the page posts its results; a dead browser or a page that stops answering raises
TesseraError, so the runner ends without recording that batch.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from tessera.batch.runner import Classified
from tessera.errors import TesseraError
from tessera.jobs.page_job import BatchPageJob
from tessera.models import InstalledModel
from tessera.server import TesseraServer
from tessera.shells.page_session import PageSession, page_session

LOAD_TIMEOUT_S = 900      # a big model on a software adapter can take minutes to compile
BATCH_TIMEOUT_S = 600     # a batch of 16 on a software adapter takes well under a minute


@dataclass
class PageInfo:
    """What the page said when its model was ready."""
    backend: str | None = None
    note: str | None = None
    load_ms: float | None = None
    adapter: dict | None = None


@dataclass
class BatchTiming:
    """Where the batches' time went, summed: the wall time of the calls, and what the page says
    it spent unpacking pixels into bitmaps and classifying; the rest is transfer both ways."""
    total_s: float = 0.0
    unpack_s: float = 0.0
    classify_s: float = 0.0
    images: int = 0

    @property
    def transfer_s(self) -> float:
        return max(0.0, self.total_s - self.unpack_s - self.classify_s)


class PageClassifier:
    def __init__(self, server: TesseraServer, model: InstalledModel, *, top: int, backend: str,
                 on_ready: Callable[[], None] | None = None):
        self.server, self.model, self.top, self.backend = server, model, top, backend
        self.on_ready = on_ready        # called once the model is loaded (e.g. to make Ctrl-C gentle)
        self.info = PageInfo()
        self.timing = BatchTiming()
        self._job: BatchPageJob | None = None
        self._page: PageSession | None = None
        self._stack = ExitStack()

    def __enter__(self) -> "PageClassifier":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._job is not None:
            self._job.finish()
        self._stack.close()

    def __call__(self, pixels: Sequence[np.ndarray]) -> list[Classified]:
        page, job = self._page or self._start(), self._job
        offered = time.monotonic()
        seq = job.offer(pixels)
        while True:
            kind, body = page.wait(job.events, BATCH_TIMEOUT_S, "classifying images")
            if kind == "status" and body.get("state") == "failed":
                raise TesseraError(f"The browser page failed while classifying: {body.get('error')}")
            if kind == "batch" and body.get("seq") == seq:
                break
        results = body["results"]
        if len(results) != len(pixels):
            raise TesseraError(f"The browser page answered {len(results)} results for {len(pixels)} images.")
        stages = body.get("stages_ms") or {}
        self.timing.total_s += time.monotonic() - offered
        self.timing.unpack_s += stages.get("unpack", 0.0) / 1000
        self.timing.classify_s += stages.get("classify", 0.0) / 1000
        self.timing.images += len(pixels)
        return [_classified(r) for r in results]

    def _start(self) -> PageSession:
        name = self.model.name
        self._job = self.server.jobs.add(BatchPageJob(name, f"models/{name}/", self.top, self.backend))
        self._page, self.info = open_page_job(self._stack, self.server, self._job, "model")
        if self.on_ready is not None:
            self.on_ready()
        return self._page


def open_page_job(stack: ExitStack, server: TesseraServer, job, what: str,
                  **params: str) -> tuple[PageSession, PageInfo]:
    """The headless page for `job` (closed with `stack`), once it says it has loaded `what`
    ("model", "style network"); TesseraError with the page's reason if it couldn't."""
    page = stack.enter_context(page_session(server, job=job.id, **params))
    _, status = page.wait(job.events, LOAD_TIMEOUT_S, f"loading the {what}")
    if status.get("state") != "ready":
        raise TesseraError(f"The {what} could not be loaded in the browser: "
                           f"{status.get('error', 'unknown error')}")
    return page, PageInfo(status.get("backend"), status.get("note"), status.get("load_ms"), status.get("adapter"))


def _classified(r: dict) -> Classified:
    if not r.get("ok"):
        return Classified(error=str(r.get("error") or "the page could not classify this image"))
    return Classified(top=list(r.get("top") or []), backend=r.get("backend"), ms=r.get("ms"))
