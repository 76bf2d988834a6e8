"""The batch loop: scan, skip what the store has, decode ahead, classify in batches, record.

The classifier is a plain callable, `classify_batch(pixels_list) -> list[Classified]`, one
result per image in the same order: the browser page in the app, a deterministic fake in the
tests. Everything else (which files, what is already done, decoding, the store) is here.

A file's way through:
  scan -> Found(IMAGE) -> unchanged path, size and mtime with a result for this model? done
       -> (pool thread) hash the content -> a result for this hash? done (a renamed file)
       -> (pool thread) decode to RGB at min_side -> ImageRejected? an error result
       -> classify_batch -> one transaction per batch in the store

A batch is recorded only after classify_batch returns, in one transaction; if the process
dies before that, the next run finds those files not done and does them again, so every file
ends up in the store exactly once. If classify_batch raises, the exception ends the run
(the page or the GPU is gone) and that batch is not recorded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

import numpy as np

from tessera.batch.content_hash import Hashed, hash_file
from tessera.batch.decode import Decoded, decode_image
from tessera.batch.pool import DEFAULT_WORKERS, AheadPool
from tessera.batch.progress import Progress
from tessera.batch.scan import Found, Kind, describe_os_error, scan
from tessera.batch.store import NewResult, ResultStore
from tessera.library.images import ImageRejected

if TYPE_CHECKING:
    from tessera.batch.watch import FolderWatcher

SEEN_CHUNK = 500      # files already done are marked as seen this many per transaction


@dataclass(frozen=True)
class Classified:
    """What the classifier says about one image."""
    top: list[dict] = field(default_factory=list)   # [{"index", "label", "score"}, …], best first
    backend: str | None = None
    ms: float | None = None
    error: str | None = None


ClassifyBatch = Callable[[list[np.ndarray]], Sequence[Classified]]


class Status(str, Enum):
    CLASSIFIED = "classified"
    ALREADY_DONE = "already done"
    FAILED = "failed"        # an error row in the store: unreadable, corrupt, refused by the model
    SKIPPED = "skipped"      # not an image for us (another file type, hidden): not stored


@dataclass(frozen=True)
class Outcome:
    path: str
    status: Status
    top: list[dict] = field(default_factory=list)
    reason: str | None = None     # the error, or why it was skipped
    backend: str | None = None    # what computed the result (now, or when it was stored)
    ms: float | None = None


@dataclass
class Summary:
    counts: dict[Status, int] = field(default_factory=lambda: {s: 0 for s in Status})
    stopped: bool = False         # the stop event ended the run before the input did


@dataclass(frozen=True)
class _Prepared:
    found: Found
    hashed: Hashed | None = None
    decoded: Decoded | None = None
    error: str | None = None
    already_done: bool = False


class BatchRunner:
    """Runs one model over files, recording every outcome in the store under one run id.

    on_outcome(Outcome) is called for every file as it is settled; after_batch() after each
    batch is recorded (e.g. to rewrite the exports). stop: set it (from a signal handler,
    another thread) to finish the batch in flight and return; see `stopping.stop_on_interrupt`.
    """

    def __init__(self, store: ResultStore, model: str, classify_batch: ClassifyBatch, *,
                 min_side: int | None = 256, batch_size: int = 16, workers: int = DEFAULT_WORKERS,
                 retry_errors: bool = False, on_outcome: Callable[[Outcome], None] | None = None,
                 progress: Progress | None = None, after_batch: Callable[[], None] | None = None,
                 stop: threading.Event | None = None):
        self.store, self.model, self.classify_batch = store, model, classify_batch
        self.min_side, self.batch_size, self.workers = min_side, batch_size, workers
        self.retry_errors = retry_errors
        self.on_outcome, self.progress, self.after_batch = on_outcome, progress, after_batch
        self.stop = stop or threading.Event()
        self.run_id = store.begin_run(model)

    def run(self, inputs: Iterable[str], *, recursive: bool = False) -> Summary:
        """Every image under the inputs; with progress, a quick first walk counts them for the ETA."""
        inputs = list(inputs)
        if self.progress is not None:
            self.progress.total = sum(1 for f in scan(inputs, recursive=recursive)
                                      if f.kind is not Kind.SKIPPED)
        return self.process(scan(inputs, recursive=recursive))

    def process(self, found: Iterable[Found]) -> Summary:
        summary = Summary()
        with AheadPool(self._needing_work(found, summary), self._prepare, workers=self.workers,
                       ahead=2 * self.batch_size) as pool:
            for batch in pool.batches(self.batch_size):
                self._finish(batch, summary)
                if self.after_batch is not None:
                    self.after_batch()
                if self.stop.is_set():
                    summary.stopped = True
                    break
        if self.progress is not None:
            self.progress.finish()
        return summary

    def watch(self, watcher: FolderWatcher, poll_s: float = 0.5) -> Summary:
        """The watched folder as it is now (the watcher started), then each file that arrives, until stop is set."""
        summary = self.run([watcher.root], recursive=watcher.recursive)
        while not self.stop.is_set():
            ready = watcher.wait_ready(poll_s)
            if ready:
                _add(summary, self.process(ready))
        summary.stopped = True
        return summary

    # ---- on the consumer's thread, as the pool asks for more input ----

    def _needing_work(self, found: Iterable[Found], summary: Summary) -> Iterator[Found]:
        seen: list[str] = []
        for f in found:
            if f.kind is Kind.SKIPPED:
                self._report(summary, Outcome(f.path, Status.SKIPPED, reason=f.reason))
            elif f.kind is Kind.ERROR:
                self.store.record_file_errors([(f.path, f.reason)], self.run_id)
                self._report(summary, Outcome(f.path, Status.FAILED, reason=f.reason))
            elif self._done(self.store.known_hash(f.path, f.size, f.mtime_ns)):
                seen.append(f.path)
                if len(seen) >= SEEN_CHUNK:
                    self.store.mark_seen(seen, self.run_id)
                    seen.clear()
                self._report(summary, self._already_done_outcome(f.path))
            else:
                yield f
        self.store.mark_seen(seen, self.run_id)

    def _done(self, content_hash: str | None) -> bool:
        return content_hash is not None and self.store.is_done(
            content_hash, self.model, errors_count=not self.retry_errors)

    def _already_done_outcome(self, path: str) -> Outcome:
        stored = self.store.result_for(path, self.model)
        if stored is not None and not stored.ok:
            return Outcome(path, Status.ALREADY_DONE, reason=stored.error)
        if stored is None:
            return Outcome(path, Status.ALREADY_DONE)
        return Outcome(path, Status.ALREADY_DONE, stored.top, backend=stored.backend, ms=stored.ms)

    # ---- on a pool thread ----

    def _prepare(self, found: Found) -> _Prepared:
        try:
            hashed = hash_file(found.path)
        except OSError as e:
            return _Prepared(found, error=describe_os_error(e))
        if self._done(hashed.hash):
            return _Prepared(found, hashed, already_done=True)
        try:
            return _Prepared(found, hashed, decoded=decode_image(found.path, self.min_side))
        except ImageRejected as e:
            return _Prepared(found, hashed, error=str(e))
        except Exception as e:    # a Pillow plugin tripping over a malformed file: still one row
            return _Prepared(found, hashed, error=f"the image could not be decoded ({type(e).__name__}: {e})")

    # ---- back on the consumer's thread, one batch at a time ----

    def _finish(self, batch: list[_Prepared], summary: Summary) -> None:
        unreadable = [p for p in batch if p.hashed is None]
        already = [p for p in batch if p.already_done]
        failed = [p for p in batch if p.hashed is not None and p.error is not None]
        to_classify = [p for p in batch if p.decoded is not None]
        classified = self._classify([p.decoded.pixels for p in to_classify]) if to_classify else []

        self.store.record_file_errors([(p.found.path, p.error) for p in unreadable], self.run_id)
        self.store.record_files([(p.found.path, p.hashed.size, p.hashed.mtime_ns, p.hashed.hash)
                                 for p in already], self.run_id)
        self.store.record_results(
            [_new_result(p, Classified(error=p.error)) for p in failed]
            + [_new_result(p, c) for p, c in zip(to_classify, classified)], self.run_id)

        for p in unreadable + failed:
            self._report(summary, Outcome(p.found.path, Status.FAILED, reason=p.error))
        for p in already:
            self._report(summary, self._already_done_outcome(p.found.path))
        for p, c in zip(to_classify, classified):
            self._report(summary, Outcome(p.found.path, Status.FAILED, reason=c.error) if c.error
                         else Outcome(p.found.path, Status.CLASSIFIED, list(c.top), backend=c.backend, ms=c.ms))

    def _classify(self, pixels: list[np.ndarray]) -> Sequence[Classified]:
        results = self.classify_batch(pixels)
        if len(results) != len(pixels):
            raise ValueError(f"classify_batch returned {len(results)} results for {len(pixels)} images")
        return results

    def _report(self, summary: Summary, outcome: Outcome) -> None:
        summary.counts[outcome.status] += 1
        if self.progress is not None and outcome.status is not Status.SKIPPED:
            self.progress.advance()
        if self.on_outcome is not None:
            self.on_outcome(outcome)


def _new_result(p: _Prepared, c: Classified) -> NewResult:
    return NewResult(p.found.path, p.hashed.size, p.hashed.mtime_ns, p.hashed.hash,
                     None if c.error else list(c.top), c.backend, c.ms, c.error)


def _add(total: Summary, more: Summary) -> None:
    for status, n in more.counts.items():
        total.counts[status] += n
