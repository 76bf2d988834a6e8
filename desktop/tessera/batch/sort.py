"""--sort-into: copy or move each classified file into a folder named after its top-1 label.

Never overwrites: the destination name is claimed with O_EXCL first, and an existing name
gets " (2)", " (3)", … before its suffix. Never moves a file whose result is an error.
A file whose top-1 score is below min_score stays where it is (and is not copied): a guess
is worse than no folder, and the report lists it so the user can look. Moves are recorded
in the store, so exports and sidecars written afterwards point at the new place.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from tessera.batch.labels import DEFAULT_MIN_SCORE, short_label
from tessera.batch.store import ResultStore, StoredResult

MAX_FOLDER_NAME = 80
MAX_COPIES = 10_000
UNSAFE_IN_NAMES = re.compile(r'[<>:"/\\|?*\x00-\x1f]')    # not allowed on Windows or POSIX


@dataclass
class SortReport:
    placed: list[tuple[str, str]] = field(default_factory=list)     # (from, to)
    left: list[tuple[str, str]] = field(default_factory=list)       # (path, why it stayed)


def folder_name(label: str) -> str:
    name = UNSAFE_IN_NAMES.sub("_", short_label(label))[:MAX_FOLDER_NAME].strip(" .")
    return name or "unnamed label"


def _numbered(name: str) -> Iterator[str]:
    stem, suffix = os.path.splitext(name)
    yield name
    for n in range(2, MAX_COPIES):
        yield f"{stem} ({n}){suffix}"


def _claim(folder: Path, name: str) -> Path:
    """Create an empty file with a name nobody has; the copy or move then replaces it."""
    for candidate in _numbered(name):
        target = folder / candidate
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644))
        except FileExistsError:
            continue
        return target
    raise FileExistsError(errno.EEXIST, f"too many files named like {name!r}")


def _place(source: str, target: Path, move: bool) -> None:
    if move:
        try:
            os.replace(source, target)    # replaces only the empty file _claim made
            return
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise
    shutil.copyfile(source, target)
    shutil.copystat(source, target)
    if move:
        os.unlink(source)


def _why_not(r: StoredResult, min_score: float) -> str | None:
    if not r.ok:
        return f"its result is an error ({r.error})"
    if not r.top:
        return "it has no label"
    if r.top[0]["score"] < min_score:
        return f"its best label scores {r.top[0]['score']:.2f}, below {min_score:.2f}"
    return None


def sort_into(results: Iterable[StoredResult], dest: Path, *, move: bool = False,
              min_score: float = DEFAULT_MIN_SCORE, store: ResultStore | None = None) -> SortReport:
    """Copy (or move) each confidently labelled file into dest/<label>/."""
    report = SortReport()
    for r in results:
        why = _why_not(r, min_score)
        if why is not None:
            report.left.append((r.path, why))
            continue
        folder = Path(dest) / folder_name(r.top[0]["label"])
        if os.path.realpath(os.path.dirname(r.path)) == os.path.realpath(folder):
            report.left.append((r.path, "it is already in its folder"))
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target = _claim(folder, os.path.basename(r.path))
            try:
                _place(r.path, target, move)
            except BaseException:
                target.unlink(missing_ok=True)
                raise
        except OSError as e:
            report.left.append((r.path, f"it could not be {'moved' if move else 'copied'} ({e.strerror or e})"))
            continue
        if move and store is not None:
            store.rename(r.path, str(target))
        report.placed.append((r.path, str(target)))
    return report
