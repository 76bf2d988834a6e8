"""A file's identity by content, so a renamed or copied photo is recognised without re-running it."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

CHUNK = 1 << 20


@dataclass(frozen=True)
class Hashed:
    hash: str        # blake2b-256, hex
    size: int        # from the same open file as the hash, not from an earlier stat
    mtime_ns: int


def hash_file(path: str | os.PathLike) -> Hashed:
    """Stream the file through blake2b; raises OSError if it can't be read."""
    digest = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return Hashed(digest.hexdigest(), st.st_size, st.st_mtime_ns)
