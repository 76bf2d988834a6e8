"""`tessera classify`: files and folders through the batch runner, classified by the web page.

One pipeline for a single photo and a folder of 100,000: scan → the results store (files it
already has are not read again) → decode ahead on a thread pool → batches of pixels pulled by
the page → one store transaction per batch → export, sidecars, sorting. `emit` gets every
file's outcome; when every input is a file, in the order given.
"""

from __future__ import annotations

import os
import signal
from collections import defaultdict, deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Callable, Sequence

from tessera.batch.progress import Progress
from tessera.batch.runner import BatchRunner, Outcome, Summary
from tessera.batch.stopping import stop_on_interrupt
from tessera.batch.store import ResultStore
from tessera.batch.watch import FolderWatcher
from tessera.errors import TesseraError
from tessera.jobs.batch_outputs import OutputOptions, RunOutputs
from tessera.jobs.page_classifier import PageClassifier, PageInfo
from tessera.models import InstalledModel, get_model
from tessera.shells.page_session import running_server

DEFAULT_BATCH_SIZE = 16
STORED_TOP = 5            # the store keeps at least this many classes, whatever --top shows
WATCH_STABLE_S = 2.0      # a file that has not changed for this long is complete


@dataclass
class RunInfo:
    model: str
    page: PageInfo = field(default_factory=PageInfo)   # empty when the store had every file
    stopped: bool = False           # Ctrl-C ended the run before its inputs did


@dataclass
class RunOptions:
    recursive: bool = False
    watch: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    outputs: OutputOptions = field(default_factory=OutputOptions)
    progress: bool = False         # count, rate and ETA on stderr
    note: Callable[[str], None] = print    # one line per file that sorting or sidecars left alone


def model_min_side(model: InstalledModel) -> int:
    """The shorter side the model resizes to before its crop: decoding any larger is waste."""
    preprocess = model.meta.get("preprocess") or {}
    return int(preprocess.get("resize") or model.meta["input"]["shape"][2])


class InputOrder:
    """Passes outcomes on in the order the files were named (errors are known before results)."""

    def __init__(self, paths: Sequence[str], emit: Callable[[Outcome], None]):
        self._expected = deque(paths)
        self._arrived: dict[str, deque[Outcome]] = defaultdict(deque)
        self._emit = emit

    def __call__(self, outcome: Outcome) -> None:
        self._arrived[outcome.path].append(outcome)
        while self._expected and self._arrived[self._expected[0]]:
            self._emit(self._arrived[self._expected.popleft()].popleft())


def classify(paths: list[str], *, model: str, top: int = 5, backend: str = "auto",
             emit: Callable[[Outcome], None], options: RunOptions | None = None) -> tuple[RunInfo, Summary]:
    """Classify every image the paths name (folders walked); returns what ran and the counts."""
    options = options or RunOptions()
    installed = get_model(model)
    if installed.task != "classify":
        raise TesseraError(f"{model!r} is a {installed.task} model, not a classifier.")
    if options.watch and (len(paths) != 1 or not os.path.isdir(paths[0])):
        raise TesseraError("--watch needs exactly one folder to watch.")
    info = RunInfo(model=installed.name)
    if not any(os.path.isdir(p) for p in paths):
        emit = InputOrder(paths, emit)

    with ExitStack() as stack:
        store = stack.enter_context(ResultStore())
        server = stack.enter_context(running_server())
        outputs = RunOutputs(store, installed.name, options.outputs, options.note)

        def on_outcome(outcome: Outcome) -> None:
            outputs.settled(outcome)
            emit(outcome)

        def stop_gently() -> None:
            # A first Ctrl-C finishes the batch in flight, a second one stops at once. A run
            # gets this once the model is loaded (before, no batch can be in flight: Ctrl-C
            # stops at once); a watch, which Ctrl-C normally ends, from the start. SIGTERM
            # always stops at once: the batch in flight is simply not recorded.
            stack.enter_context(stop_on_interrupt(runner.stop, (signal.SIGINT,)))

        page = stack.enter_context(PageClassifier(server, installed, top=max(top, STORED_TOP), backend=backend,
                                                  on_ready=None if options.watch else stop_gently))
        runner = BatchRunner(store, installed.name, page, min_side=model_min_side(installed),
                             batch_size=options.batch_size, on_outcome=on_outcome,
                             progress=Progress() if options.progress else None,
                             after_batch=outputs.after_batch)
        outputs.run_id = runner.run_id
        try:
            if options.watch:
                stop_gently()
                with FolderWatcher(paths[0], store, recursive=options.recursive,
                                   stable_s=WATCH_STABLE_S) as watcher:
                    summary = runner.watch(_FlushWhenIdle(watcher, outputs))
            else:
                summary = runner.run(paths, recursive=options.recursive)
        finally:
            outputs.flush()     # whatever was recorded, also after an error or a second Ctrl-C
        info.page = page.info
        info.stopped = summary.stopped and not options.watch
    return info, summary


class _FlushWhenIdle:
    """The watcher as runner.watch sees it; when nothing arrives, exports put off are written."""

    def __init__(self, watcher: FolderWatcher, outputs: RunOutputs):
        self.root, self.recursive = watcher.root, watcher.recursive
        self._watcher, self._outputs = watcher, outputs

    def wait_ready(self, timeout: float):
        ready = self._watcher.wait_ready(timeout)
        if not ready:
            self._outputs.flush()
        return ready
