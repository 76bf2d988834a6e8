"""Writing results into a folder the user chose as an output folder, and nowhere else.

The page names only a plain file name; the folder comes from a grant of role "output". A file
is never overwritten: an existing name gets " (2)", " (3)", … before its suffix, and the file is
created with O_EXCL (and O_NOFOLLOW), so a name that appears meanwhile, or a planted symlink,
can't be written through.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

OUTPUT_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".json", ".csv", ".txt", ".xmp"})
MAX_NAME = 200
MAX_COPIES = 10_000


class OutputRefused(Exception):
    """The write is not allowed; str(e) says why in one sentence."""


def check_name(name: str) -> str:
    if (not name or len(name) > MAX_NAME or name.startswith(".")
            or re.search(r"[/\\\x00-\x1f:]", name)):
        raise OutputRefused(f"{name!r} is not a plain file name (no folders, no leading dot).")
    if Path(name).suffix.lower() not in OUTPUT_SUFFIXES:
        raise OutputRefused(f"Tessera writes only {', '.join(sorted(OUTPUT_SUFFIXES))} files.")
    return name


def _candidates(name: str):
    stem, suffix = os.path.splitext(name)
    yield name
    for n in range(2, MAX_COPIES):
        yield f"{stem} ({n}){suffix}"


def write_output(folder: Path, name: str, data: bytes) -> Path:
    """Write data as a new file named like name in folder; returns the path actually written."""
    check_name(name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for candidate in _candidates(name):
        target = folder / candidate
        try:
            fd = os.open(target, flags, 0o644)
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target
    raise OutputRefused(f"too many files named like {name!r} in the folder already.")
