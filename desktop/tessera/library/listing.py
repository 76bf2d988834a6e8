"""The images in a granted folder: only image suffixes, sorted, paged, with size and mtime.

A symlink is listed only when it points inside the folder, matching what Grants.resolve will
serve; hidden files and folders are skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"})
SORT_KEYS = ("name", "mtime", "size")
MAX_RECURSIVE_FILES = 200_000    # stop walking a huge tree rather than hang the request


@dataclass(frozen=True)
class ImageEntry:
    rel: str            # '/'-separated path inside the folder
    size: int
    mtime: float

    def to_json(self) -> dict:
        return {"rel": self.rel, "name": self.rel.rsplit("/", 1)[-1], "size": self.size,
                "mtime": self.mtime}


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([os.path.realpath(path), root]) == root


def _scan(root: str, rel: str, recursive: bool, out: list[ImageEntry]) -> None:
    with os.scandir(os.path.join(root, rel) if rel else root) as it:
        for entry in it:
            if entry.name.startswith(".") or len(out) >= MAX_RECURSIVE_FILES:
                continue
            child = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_symlink() and not _inside(entry.path, root):
                continue
            try:
                if entry.is_dir():
                    if recursive:
                        _scan(root, child, recursive, out)
                elif entry.is_file() and Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                    st = entry.stat()
                    out.append(ImageEntry(child, st.st_size, st.st_mtime))
            except OSError:
                continue    # vanished or unreadable while listing: not an image we can offer


def list_images(root: Path, *, sort: str = "name", descending: bool = False,
                recursive: bool = False) -> list[ImageEntry]:
    if sort not in SORT_KEYS:
        raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}")
    entries: list[ImageEntry] = []
    _scan(str(root), "", recursive, entries)
    if sort == "name":
        key = lambda e: (e.rel.casefold(), e.rel)
    else:
        key = lambda e: (getattr(e, sort), e.rel.casefold())
    return sorted(entries, key=key, reverse=descending)
