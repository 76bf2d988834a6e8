"""`tessera classify`: send images to the page, collect one outcome per input, in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from tessera.errors import TesseraError
from tessera.jobs.page_job import PageItem, PageJob
from tessera.models import get_model
from tessera.shells.page_session import page_session, running_server

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".mpo"}
LOAD_TIMEOUT_S = 900      # a big model on a software adapter can take minutes to compile
ITEM_TIMEOUT_S = 300


@dataclass
class Outcome:
    path: str
    ok: bool
    top: list[dict] = field(default_factory=list)
    error: str | None = None
    backend: str | None = None
    ms: float | None = None
    stages_ms: dict | None = None     # where the time went: fetch, decode, classify

    def to_json(self) -> dict:
        d = {"path": self.path, "ok": self.ok, "backend": self.backend,
             "ms": None if self.ms is None else round(self.ms, 1)}
        d.update({"top": self.top} if self.ok else {"error": self.error})
        if self.stages_ms:
            d["stages_ms"] = {k: round(v, 1) for k, v in self.stages_ms.items()}
        return d


@dataclass
class RunInfo:
    model: str
    backend: str | None = None
    note: str | None = None
    load_ms: float | None = None
    adapter: dict | None = None


def expand_inputs(args: Iterable[str]) -> list[tuple[str, Path | None, str | None]]:
    """(shown path, real file or None, error) per image; folders give their images (sorted)."""
    out: list[tuple[str, Path | None, str | None]] = []
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                out.append((arg, None, "the folder contains no image files"))
            out.extend((str(f), f, None) for f in files)
        elif p.is_file():
            out.append((arg, p, None))
        elif p.exists():
            out.append((arg, None, "not a regular file"))
        else:
            out.append((arg, None, "no such file or folder"))
    return out


def classify(args: list[str], *, model: str, top: int, backend: str,
             emit: Callable[[Outcome], None]) -> tuple[RunInfo, list[Outcome]]:
    """Classify every input; emit() each outcome in input order as soon as it is known."""
    installed = get_model(model)
    if installed.task != "classify":
        raise TesseraError(f"{model!r} is a {installed.task} model, not a classifier.")
    inputs = expand_inputs(args)
    outcomes: list[Outcome | None] = [None] * len(inputs)
    info = RunInfo(model=installed.name)
    next_to_emit = 0

    def settle(i: int, outcome: Outcome) -> None:
        nonlocal next_to_emit
        outcomes[i] = outcome
        while next_to_emit < len(outcomes) and outcomes[next_to_emit] is not None:
            emit(outcomes[next_to_emit])
            next_to_emit += 1

    with running_server() as server:
        items = []
        for i, (shown, real, error) in enumerate(inputs):
            if real is None:
                continue
            try:
                grant = server.grants.add(real)
            except OSError as e:
                inputs[i] = (shown, None, f"cannot open ({e.strerror or e})")
                continue
            items.append(PageItem(i, shown, f"files/{grant.id}"))
        for i, (shown, real, error) in enumerate(inputs):
            if real is None:
                settle(i, Outcome(shown, False, error=error))
        if items:
            job = server.jobs.add(PageJob(installed.name, f"models/{installed.name}/", top, backend, items))
            with page_session(server, job=job.id) as page:
                _, status = page.wait(job.events, LOAD_TIMEOUT_S, "loading the model")
                if status.get("state") != "ready":
                    raise TesseraError(f"The model could not be loaded in the browser: "
                                       f"{status.get('error', 'unknown error')}")
                info.backend, info.note = status.get("backend"), status.get("note")
                info.load_ms, info.adapter = status.get("load_ms"), status.get("adapter")
                remaining = len(items)
                while remaining:
                    kind, body = page.wait(job.events, ITEM_TIMEOUT_S, "classifying images")
                    if kind != "results":
                        continue
                    i = int(body["index"])
                    settle(i, Outcome(inputs[i][0], bool(body.get("ok")), body.get("top") or [],
                                      body.get("error"), body.get("backend"), body.get("ms"),
                                      body.get("stages_ms")))
                    remaining -= 1
    return info, [o for o in outcomes if o is not None]
