"""CSV and JSON Lines exports of a run, always whole: written beside the target, then renamed.

An export is a projection of the store (`ResultStore.run_results`), rewritten in full each time,
so it lists each file exactly once however often the run was interrupted and resumed. A crash
while writing leaves the previous export intact and, at worst, a hidden `.NAME.*.tmp` beside it.

File names that are not valid UTF-8 keep their exact bytes in JSON Lines (as "\\udcXX"
escapes, which json.loads turns back into the name os.fsencode expects) and are shown with
"\\xXX" escapes in CSV, so that the CSV stays valid UTF-8 for spreadsheets.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Iterable, Iterator

from tessera.batch.store import StoredResult

CSV_COLUMNS = ("path", "ok", "label", "score", "top", "backend", "ms", "size", "modified", "hash", "error")


@contextmanager
def atomic_writer(dest: Path, mode: str = "w", **open_args) -> Iterator[IO]:
    """A file that replaces dest only once it is complete and on disk."""
    dest = Path(dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_args) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, dest.stat().st_mode & 0o7777 if dest.exists() else 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def display_path(path: str) -> str:
    """The path as valid text: undecodable bytes of a file name become \\xXX."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _top_text(top: list[dict]) -> str:
    return "; ".join(f"{t['label']} ({t['score']:.3f})" for t in top)


def _csv_row(r: StoredResult) -> list:
    best = r.top[0] if r.ok and r.top else None
    modified = datetime.fromtimestamp(r.mtime_ns / 1e9, timezone.utc).isoformat() if r.mtime_ns else ""
    return [display_path(r.path), "yes" if r.ok else "no",
            best["label"] if best else "", f"{best['score']:.4f}" if best else "",
            _top_text(r.top) if r.ok else "", r.backend or "",
            "" if r.ms is None else f"{r.ms:.1f}", r.size, modified, r.hash or "", r.error or ""]


def write_csv(results: Iterable[StoredResult], dest: Path) -> int:
    """One row per file; returns how many."""
    count = 0
    with atomic_writer(dest, newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for r in results:
            writer.writerow(_csv_row(r))
            count += 1
    return count


def json_record(r: StoredResult) -> dict:
    record = {"path": r.path, "ok": r.ok, "size": r.size, "mtime_ns": r.mtime_ns, "hash": r.hash}
    if r.ok:
        record.update(top=r.top, backend=r.backend, ms=r.ms)
    else:
        record["error"] = r.error
    return record


def write_jsonl(results: Iterable[StoredResult], dest: Path) -> int:
    """One JSON object per line and file; returns how many."""
    count = 0
    with atomic_writer(dest, encoding="ascii") as f:
        for r in results:
            f.write(json.dumps(json_record(r)) + "\n")    # ensure_ascii keeps odd names exact
            count += 1
    return count
