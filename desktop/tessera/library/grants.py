"""Files and folders the user granted to the page, and the only way the server reads them.

A grant is an opaque id for one resolved path. Requests name a grant and, for folders, a path
inside it; anything that climbs out (`..`, absolute paths, symlinks pointing elsewhere) is
refused, so the page can read exactly what was granted and nothing else.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path


class NotGranted(Exception):
    """The requested path is outside every grant (or no longer exists)."""


@dataclass(frozen=True)
class Grant:
    id: str
    root: Path          # fully resolved
    is_folder: bool


class Grants:
    def __init__(self) -> None:
        self._by_id: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def add(self, path: str | os.PathLike, grant_id: str | None = None) -> Grant:
        """Grant path; grant_id keeps a remembered folder's id stable across launches."""
        root = Path(os.path.realpath(path))
        if not root.exists():
            raise FileNotFoundError(path)
        grant = Grant(grant_id or secrets.token_urlsafe(12), root, root.is_dir())
        with self._lock:
            self._by_id[grant.id] = grant
        return grant

    def remove(self, grant_id: str) -> None:
        with self._lock:
            self._by_id.pop(grant_id, None)

    def get(self, grant_id: str) -> Grant:
        with self._lock:
            grant = self._by_id.get(grant_id)
        if grant is None:
            raise NotGranted(f"unknown grant {grant_id!r}")
        return grant

    def resolve(self, grant_id: str, relpath: str = "") -> Path:
        """The real file behind grant_id/relpath, or NotGranted."""
        grant = self.get(grant_id)
        if not grant.is_folder:
            if relpath:
                raise NotGranted("a file grant has no paths below it")
            target = Path(os.path.realpath(grant.root))
            if target != grant.root:    # replaced by a symlink since it was granted
                raise NotGranted("the granted file changed into a link")
        else:
            parts = relpath.split("/")
            if "\x00" in relpath or relpath.startswith("/") or any(p in ("..", "") for p in parts):
                raise NotGranted(f"bad path {relpath!r}")
            target = Path(os.path.realpath(grant.root.joinpath(*parts)))
            if os.path.commonpath([target, grant.root]) != str(grant.root):
                raise NotGranted(f"{relpath!r} leads outside the granted folder")
        if not target.is_file():
            raise NotGranted(f"{target} is not a file")
        return target
