"""What a classify run leaves behind besides its printed lines: the export, sidecars, sorted copies.

All of it is made from the store, so it lists each file once however often the run was
interrupted. Sidecars and sorting follow each batch (only the files that batch settled);
the export (`--out`) is rewritten whole — after a batch when it is due, always at the end.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from tessera.batch.exports import atomic_writer, display_path, json_record, write_csv, write_jsonl
from tessera.batch.labels import DEFAULT_MIN_SCORE
from tessera.batch.runner import Outcome, Status
from tessera.batch.sort import sort_into
from tessera.batch.store import ResultStore, StoredResult
from tessera.batch.xmp import write_sidecars
from tessera.errors import TesseraError

# Rewriting a whole export costs time proportional to the run's size; after a batch it is
# rewritten only once this many times its last writing time has passed (≤ ~10% of the run).
EXPORT_COST_FACTOR = 10


def write_json_array(results: Iterable[StoredResult], dest: Path) -> int:
    """The JSON Lines records as one JSON array (a .json file any JSON reader takes); returns how many."""
    count = 0
    with atomic_writer(dest, encoding="ascii") as f:
        f.write("[")
        for r in results:
            f.write(("\n" if count == 0 else ",\n") + json.dumps(json_record(r)))
            count += 1
        f.write("\n]\n")
    return count


def write_sqlite(results: Iterable[StoredResult], dest: Path) -> int:
    """A small SQLite file with one `results` row per file (top as JSON); returns how many."""
    dest = Path(dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    count = 0
    try:
        conn = sqlite3.connect(tmp)
        with conn:
            conn.execute("CREATE TABLE results (path TEXT PRIMARY KEY, ok INTEGER, label TEXT, score REAL, "
                         "top TEXT, backend TEXT, ms REAL, size INTEGER, mtime_ns INTEGER, hash TEXT, error TEXT)")
            for r in results:
                best = r.top[0] if r.ok and r.top else {}
                conn.execute("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (display_path(r.path), int(r.ok), best.get("label"), best.get("score"),
                              json.dumps(r.top) if r.ok else None, r.backend, r.ms, r.size, r.mtime_ns,
                              r.hash, r.error))
                count += 1
        conn.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


EXPORTERS: dict[str, Callable[[Iterable[StoredResult], Path], int]] = {
    ".csv": write_csv, ".json": write_json_array, ".jsonl": write_jsonl,
    ".sqlite": write_sqlite, ".sqlite3": write_sqlite, ".db": write_sqlite,
}


def check_export_path(out: Path) -> None:
    """A clear TesseraError now, rather than after the run, if --out can't be written."""
    if out.suffix.lower() not in EXPORTERS:
        raise TesseraError(f"--out {out}: the name must end in {', '.join(EXPORTERS)} (that picks the format).")
    if not out.parent.is_dir():
        raise TesseraError(f"--out {out}: the folder {out.parent} does not exist.")
    if out.is_dir():
        raise TesseraError(f"--out {out}: that is a folder; give a file name.")


@dataclass
class OutputOptions:
    out: Path | None = None
    xmp: bool = False
    sort_into: Path | None = None
    move: bool = False
    min_score: float = DEFAULT_MIN_SCORE


class RunOutputs:
    """Keeps the run's outputs in step with the store; `note` gets one line per file left alone."""

    def __init__(self, store: ResultStore, model: str, options: OutputOptions, note: Callable[[str], None]):
        self.store, self.model, self.options, self.note = store, model, options, note
        self.run_id: int | None = None       # set once the runner exists
        self.exported = 0
        self.sorted = 0
        self.sidecars = 0
        self._settled: list[str] = []
        self._export_dirty = False
        self._next_export_at = 0.0

    def settled(self, outcome: Outcome) -> None:
        """Every outcome the runner reports; files with a result get sorted and sidecars."""
        self._export_dirty = True
        if outcome.status in (Status.CLASSIFIED, Status.ALREADY_DONE) and outcome.reason is None:
            if self.options.xmp or self.options.sort_into:
                self._settled.append(outcome.path)

    def after_batch(self) -> None:
        self._place_settled()
        if time.monotonic() >= self._next_export_at:
            self.flush()

    def flush(self) -> None:
        """Sidecars and sorting for what is settled, and the export if anything changed since."""
        self._place_settled()
        if self.options.out is None or not self._export_dirty or self.run_id is None:
            return
        started = time.monotonic()
        self.exported = EXPORTERS[self.options.out.suffix.lower()](self.store.run_results(self.run_id),
                                                                   self.options.out)
        self._export_dirty = False
        self._next_export_at = time.monotonic() + EXPORT_COST_FACTOR * (time.monotonic() - started)

    def _place_settled(self) -> None:
        if not self._settled:
            return
        paths, self._settled = self._settled, []
        options = self.options
        if options.sort_into:
            report = sort_into(self._results(paths), options.sort_into, move=options.move,
                               min_score=options.min_score, store=self.store)
            self.sorted += len(report.placed)
            for path, why in report.left:
                self.note(f"{display_path(path)}: not sorted: {why}")
            moved = dict(report.placed) if options.move else {}
            paths = [moved.get(p, p) for p in paths]
        if options.xmp:
            report = write_sidecars(self._results(paths), min_score=options.min_score)
            self.sidecars += report.written
            for path, why in report.failed:
                self.note(f"{display_path(path)}: no sidecar: {why}")

    def _results(self, paths: list[str]) -> list[StoredResult]:
        return [r for r in map(lambda p: self.store.result_for(p, self.model), paths) if r is not None]
