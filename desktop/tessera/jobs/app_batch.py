"""A batch job started from the app's Batch view, run by a BatchRunner on a thread of its own.

The runner's `classify_batch` is answered by the very page that started the job: the job
offers each batch on a BatchPageJob, the Batch view pulls it (`runBatchJob` over the shared
model session) and posts the results. Outputs go through `RunOutputs` like the CLI's, into
folders the API has already checked (sources granted, destinations chosen as outputs).

How a job ends:
- the input is done (or, watching, Cancel): exports written, state "finished";
- Cancel: `runner.stop`, so the batch in flight is finished and recorded first;
- the page gives up (window closed, model switched) or stops polling for PAGE_GONE_S: the
  batch in flight is not recorded (a rerun does it), the exports are written from the store;
- the process exits: `close()` (atexit) cancels, waits a little for the batch in flight, then
  gives up on it.
Pause is the page's doing (it stops pulling); the runner simply keeps waiting, since the page
still polls the job's state, and paused time does not count in the rate.
"""

from __future__ import annotations

import atexit
import io
import math
import os
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Sequence

import numpy as np

from tessera.batch.labels import DEFAULT_MIN_SCORE
from tessera.batch.progress import Progress
from tessera.batch.runner import BatchRunner, Classified, Outcome, Status
from tessera.batch.store import ResultStore
from tessera.batch.watch import FolderWatcher
from tessera.errors import TesseraError
from tessera.jobs.batch_outputs import EXPORTERS, OutputOptions, RunOutputs
from tessera.jobs.classify_run import STORED_TOP, WATCH_STABLE_S, model_min_side
from tessera.jobs.page_classifier import _classified
from tessera.jobs.page_job import BatchPageJob, JobBoard
from tessera.models import InstalledModel

BATCH_SIZE = 8           # small enough that Pause and Cancel take effect within seconds on wasm
PAGE_GONE_S = 180.0      # no poll from the page this long: its window is gone (hidden windows poll slowly)
WAIT_POLL_S = 0.25       # how often a waiting batch checks whether the page gave up
CLOSE_GRACE_S = 5.0      # on exit, how long the batch in flight may take before it is given up
MAX_NOTES = 100          # lines kept about files that sorting or sidecars left alone
EXPORT_SUFFIXES = {"csv": ".csv", "jsonl": ".jsonl"}


@dataclass
class AppBatchOptions:
    folders: list[Path]                  # granted image folders, resolved
    model: InstalledModel
    recursive: bool = False
    watch: bool = False
    xmp: bool = False
    sort_into: Path | None = None        # an output folder
    move: bool = False
    min_score: float = DEFAULT_MIN_SCORE
    export_into: Path | None = None      # an output folder
    export_formats: list[str] = field(default_factory=list)   # keys of EXPORT_SUFFIXES


def reserve_exports(folder: Path, stem: str, suffixes: Sequence[str]) -> list[Path]:
    """New files stem.csv, stem.jsonl… in folder, or "stem (2)…" when any is taken: never overwrites."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for n in range(1, 10_000):
        name = stem if n == 1 else f"{stem} ({n})"
        made: list[Path] = []
        try:
            for suffix in suffixes:
                os.close(os.open(folder / f"{name}{suffix}", flags, 0o644))
                made.append(folder / f"{name}{suffix}")
            return made
        except FileExistsError:
            for path in made:
                path.unlink()
    raise TesseraError(f"{folder} already holds 10,000 exports named {stem}; choose another output folder.")


class AlreadyRunning(TesseraError):
    """Only one batch job at a time."""


class _Discard(io.StringIO):
    """Progress's figures without its printing."""

    def write(self, text: str) -> int:
        return len(text)


class AppBatchJob:
    def __init__(self, options: AppBatchOptions, board: JobBoard):
        self.id = secrets.token_urlsafe(9)
        self.options = options
        model = options.model
        self.page_job = board.add(BatchPageJob(model.name, f"models/{model.name}/", STORED_TOP, "auto"))
        self.stop = threading.Event()
        self.state = "running"           # running → stopping → finished | failed
        self.watching = False            # the first pass is done, waiting for new files
        self.cancelled = False
        self.paused = False
        self.error: str | None = None
        self.exports: list[Path] = []
        self.sorted = self.sidecars = 0
        self.counts = {s.value: 0 for s in Status}
        self._outcomes: list[dict] = []
        self._notes: list[str] = []
        self._notes_total = 0
        self._lock = threading.Lock()
        self._last_seen = time.monotonic()
        self._given_up: str | None = None
        self._paused_at: float | None = None
        self._paused_s = 0.0
        self.progress = Progress(stream=_Discard(), line_every_s=math.inf, clock=self._active_time)
        self._thread = threading.Thread(target=self._run, name=f"tessera-batch-{self.id}", daemon=True)

    # ---- called from the API's threads ----

    def start(self) -> "AppBatchJob":
        if self.options.export_into is not None and self.options.export_formats:
            suffixes = [EXPORT_SUFFIXES[f] for f in self.options.export_formats]
            self.exports = reserve_exports(self.options.export_into, f"tessera-batch-{date.today()}", suffixes)
        atexit.register(self.close)
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self.state in ("running", "stopping")

    def seen(self) -> None:
        """The page polled: its window is still there."""
        self._last_seen = time.monotonic()

    def pause(self, paused: bool) -> None:
        with self._lock:
            if paused and self._paused_at is None:
                self._paused_at = time.monotonic()
            elif not paused and self._paused_at is not None:
                self._paused_s += time.monotonic() - self._paused_at
                self._paused_at = None
            self.paused = paused

    def cancel(self) -> None:
        """Finish the batch in flight (the page resumes to do it), record it, write the exports."""
        with self._lock:     # never "stopping" after the thread has ended
            if not self.running:
                return
            self.cancelled = True
            self.state = "stopping"
        self.pause(False)
        self.stop.set()

    def give_up(self, reason: str) -> None:
        """The page can't answer any more (one sentence why): end without the batch in flight."""
        self._given_up = reason
        self.cancel()

    def close(self) -> None:
        """On exit: like Cancel, but the batch in flight gets only CLOSE_GRACE_S."""
        self.cancel()
        self._thread.join(CLOSE_GRACE_S)
        if self._thread.is_alive():
            self.give_up("Tessera closed before the page finished the batch in flight.")
            self._thread.join(CLOSE_GRACE_S)

    def snapshot(self, since: int = 0, limit: int = 2000) -> dict:
        """The job as the page shows it, with the per-file outcomes from `since` on."""
        with self._lock:
            outcomes = self._outcomes[since:since + limit]
            notes = list(self._notes)
            total_outcomes = len(self._outcomes)
        p = self.progress
        return {
            "id": self.id, "page_job": self.page_job.id, "top": STORED_TOP,
            "model": self.options.model.name, "folders": [f.name for f in self.options.folders],
            "watch": self.options.watch, "state": self.state, "watching": self.watching,
            "paused": self.paused, "cancelled": self.cancelled, "error": self.error,
            "counts": dict(self.counts),
            "progress": {"count": p.count, "total": p.total, "rate": round(p.rate(), 3),
                         "eta_s": None if self.watching else p.eta_s()},
            "outcomes": outcomes, "next": since + len(outcomes), "outcomes_total": total_outcomes,
            "exports": [e.name for e in self.exports],
            "export_folder": self.options.export_into.name if self.options.export_into else None,
            "sort_folder": self.options.sort_into.name if self.options.sort_into else None,
            "sorted": self.sorted, "sidecars": self.sidecars, "notes": notes, "notes_total": self._notes_total,
        }

    # ---- on the job's thread ----

    def _active_time(self) -> float:
        paused_now = time.monotonic() - self._paused_at if self._paused_at is not None else 0.0
        return time.monotonic() - self._paused_s - paused_now

    def _run(self) -> None:
        try:
            with ResultStore() as store:
                self._run_with(store)
            self._end("finished")
        except TesseraError as e:
            self._fail(str(e))
        except OSError as e:
            self._fail(f"Tessera could not read or write {e.filename or 'a file'} ({e.strerror or e}). "
                       "Check that the folders are still there and writable, then start again: "
                       "files already done are skipped.")
        except Exception as e:    # a bug: still one sentence for the page
            self._fail(f"The batch job stopped on an unexpected error ({type(e).__name__}: {e}). "
                       "What was classified is kept; start again to go on.")
        finally:
            self.page_job.finish()
            atexit.unregister(self.close)

    def _fail(self, message: str) -> None:
        self.error = message
        self._end("failed")

    def _end(self, state: str) -> None:
        with self._lock:
            self.state = state

    def _run_with(self, store: ResultStore) -> None:
        options, model = self.options, self.options.model
        outputs = self._outputs(store)
        runner = BatchRunner(store, model.name, self._classify_batch, min_side=model_min_side(model),
                             batch_size=BATCH_SIZE, on_outcome=lambda o: self._settled(o, outputs),
                             progress=self.progress, after_batch=lambda: self._after_batch(outputs),
                             stop=self.stop)
        for o in outputs:
            o.run_id = runner.run_id
        roots = [str(f) for f in options.folders]
        try:
            if options.watch:
                self._watch(runner, store, roots, outputs)
            else:
                runner.run(roots, recursive=options.recursive)
        finally:
            for o in outputs:    # whatever was recorded, also after an error
                o.flush()
            self._count_placed(outputs)

    def _outputs(self, store: ResultStore) -> list[RunOutputs]:
        """The first also sorts and writes sidecars; each writes one of the exports."""
        o, name = self.options, self.options.model.name
        first = OutputOptions(out=self.exports[0] if self.exports else None, xmp=o.xmp,
                              sort_into=o.sort_into, move=o.move, min_score=o.min_score)
        return ([RunOutputs(store, name, first, self._note)]
                + [RunOutputs(store, name, OutputOptions(out=e), self._note) for e in self.exports[1:]])

    def _watch(self, runner: BatchRunner, store: ResultStore, roots: list[str], outputs: list[RunOutputs]) -> None:
        """The folders as they are, then each file that lands in one, until Cancel."""
        watchers = [FolderWatcher(r, store, recursive=self.options.recursive, stable_s=WATCH_STABLE_S).start()
                    for r in roots]
        try:
            runner.run(roots, recursive=self.options.recursive)
            self.watching = True
            while not self.stop.is_set():
                ready = [f for w in watchers for f in w.wait_ready(0.5 / len(watchers))]
                if ready:
                    runner.process(ready)
                else:
                    for o in outputs:     # nothing to do: write the exports put off meanwhile
                        o.flush()
                    self._count_placed(outputs)
        finally:
            for w in watchers:
                w.stop()

    def _classify_batch(self, pixels: list[np.ndarray]) -> list[Classified]:
        seq = self.page_job.offer(pixels)
        while True:
            if self._given_up:
                raise TesseraError(self._given_up)
            if time.monotonic() - self._last_seen > PAGE_GONE_S:
                raise TesseraError("The app's window stopped answering, so the batch job ended. "
                                   "What was classified is kept; start the job again to go on.")
            try:
                kind, body = self.page_job.events.get(timeout=WAIT_POLL_S)
            except queue.Empty:
                continue
            if kind == "batch" and body.get("seq") == seq:
                break
        results = body["results"]
        if len(results) != len(pixels):
            raise TesseraError(f"The page answered {len(results)} results for {len(pixels)} images.")
        return [_classified(r) for r in results]

    def _settled(self, outcome: Outcome, outputs: list[RunOutputs]) -> None:
        for o in outputs:
            o.settled(outcome)
        best = outcome.top[0] if outcome.top else None
        row = {"file": self._shown(outcome.path), "status": outcome.status.value, "reason": outcome.reason,
               "label": best["label"] if best else None, "score": best["score"] if best else None}
        with self._lock:
            self.counts[outcome.status.value] += 1
            self._outcomes.append(row)

    def _after_batch(self, outputs: list[RunOutputs]) -> None:
        for o in outputs:
            o.after_batch()
        self._count_placed(outputs)

    def _count_placed(self, outputs: list[RunOutputs]) -> None:
        self.sorted, self.sidecars = outputs[0].sorted, outputs[0].sidecars

    def _note(self, line: str) -> None:
        with self._lock:
            self._notes_total += 1
            if len(self._notes) < MAX_NOTES:
                self._notes.append(self._shown(line))

    def _shown(self, text: str) -> str:
        """Paths as the user knows them: from the chosen folder's name down."""
        for folder in self.options.folders:
            prefix = str(folder.parent).rstrip(os.sep) + os.sep
            if text.startswith(prefix):
                return text[len(prefix):]
        return text


class AppBatchJobs:
    """The app's one batch job at a time, and the last one, whose summary the view shows."""

    def __init__(self, board: JobBoard):
        self._board = board
        self._lock = threading.Lock()
        self.latest: AppBatchJob | None = None

    def start(self, options: AppBatchOptions) -> AppBatchJob:
        with self._lock:
            if self.latest is not None and self.latest.running:
                done = self.latest.progress.count
                raise AlreadyRunning(f"A batch job is already running ({done} files so far); cancel it or "
                                   "wait for it to finish before starting another.")
            self.latest = AppBatchJob(options, self._board).start()
            return self.latest

    def get(self, job_id: str) -> AppBatchJob | None:
        job = self.latest
        return job if job is not None and job.id == job_id else None
