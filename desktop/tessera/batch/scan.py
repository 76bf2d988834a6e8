"""Walk the folders and files a batch names, lazily, and say what each entry is.

`scan()` is a generator: it holds one directory's sorted names per level of the current path
and a set of the directories already walked, never the whole tree, so 100,000 files cost no
more memory than 100. Entries come in a stable order (arguments in the order given, names
sorted within each folder, depth first). Every entry becomes a `Found` record, and a problem
with one entry (a symbolic link loop, a folder it can't read, a name too long for the system)
is a record too, never an exception.

Symbolic links are followed, to files and to folders; a folder reached twice (a link loop,
or two links to the same folder) is walked once. Hidden entries (a leading dot) are skipped:
they are editors' temporary files, caches and other tools' sidecars, not photos.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Iterator

from tessera.library.listing import IMAGE_SUFFIXES


class Kind(str, Enum):
    IMAGE = "image"        # a file with an image suffix: decode it
    SKIPPED = "skipped"    # not ours to process (another file type, a hidden entry): report only
    ERROR = "error"        # meant to be processed but can't be: becomes an error row in the store


@dataclass(frozen=True)
class Found:
    path: str              # as the OS gives it; undecodable bytes are surrogate escapes
    kind: Kind
    reason: str | None = None
    size: int = 0
    mtime_ns: int = 0


def describe_os_error(e: OSError) -> str:
    """One phrase for why a path could not be used."""
    if e.errno == errno.ELOOP:
        return "a symbolic link loop"
    if e.errno == errno.ENAMETOOLONG:
        return "the path is too long for the operating system"
    if isinstance(e, FileNotFoundError):
        return "it does not exist (or is a broken symbolic link)"
    if isinstance(e, PermissionError):
        return "permission denied"
    return f"it could not be read ({e.strerror or e})"


def examine(path: str, *, explicit: bool = False) -> Found:
    """What one path is, following symbolic links; folders are reported, not walked.

    explicit: the user named this path, so a hidden name is fine and a wrong type is an error.
    """
    name = os.path.basename(path)
    if name.startswith(".") and not explicit:
        return Found(path, Kind.SKIPPED, "a hidden file")
    image_suffix = os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES
    not_ours = Kind.ERROR if explicit else Kind.SKIPPED
    try:
        st = os.stat(path)
    except OSError as e:
        return Found(path, Kind.ERROR, describe_os_error(e))
    if stat.S_ISDIR(st.st_mode):
        # A folder named like a photo is an error: the user most likely meant a file.
        return (Found(path, Kind.ERROR, "a folder, not an image file") if image_suffix
                else Found(path, not_ours, "a folder (subfolders are scanned only when recursive)"))
    if not stat.S_ISREG(st.st_mode):
        return Found(path, Kind.ERROR if image_suffix else not_ours, "not a regular file")
    if not image_suffix:
        suffix = os.path.splitext(name)[1] or "no suffix"
        return Found(path, not_ours, f"not a supported image type ({suffix})")
    return Found(path, Kind.IMAGE, size=st.st_size, mtime_ns=st.st_mtime_ns)


def _dir_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _sorted_names(folder: str) -> list[str]:
    with os.scandir(folder) as it:
        return sorted(entry.name for entry in it)


def _walk(folder: str, recursive: bool, walked: set[tuple[int, int]]) -> Iterator[Found]:
    key = _dir_key(folder)
    if key in walked:
        yield Found(folder, Kind.SKIPPED, "already scanned (a symbolic link loop or a second link)")
        return
    if key is not None:
        walked.add(key)
    try:
        names = _sorted_names(folder)
    except OSError as e:
        yield Found(folder, Kind.ERROR, f"the folder can't be listed: {describe_os_error(e)}")
        return
    for name in names:
        path = os.path.join(folder, name)
        if recursive and not name.startswith(".") and os.path.isdir(path):
            yield from _walk(path, recursive, walked)
        else:
            yield examine(path)


def scan(inputs: Iterable[str | os.PathLike], *, recursive: bool = False) -> Iterator[Found]:
    """Every file the inputs name: files as given, folders walked (subfolders if recursive)."""
    walked: set[tuple[int, int]] = set()
    for arg in inputs:
        path = os.fspath(arg)
        if os.path.isdir(path):
            yield from _walk(path, recursive, walked)
        else:
            yield examine(path, explicit=True)
