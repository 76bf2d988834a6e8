"""Folders the user chose, remembered across launches, each one a grant with a stable id.

A folder is chosen for reading images ("images") or as a place Tessera may write results into
("output"); only the user's choice in a dialog adds one, never a path the page names. The
list lives in <user data>/folders.json; a remembered folder that has disappeared stays listed
(marked missing) so the user can see it and forget it.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

from tessera.library.grants import Grant, Grants, NotGranted
from tessera.library.json_store import JsonStore

ROLES = ("images", "output")


class GrantedFolders:
    def __init__(self, grants: Grants, store: JsonStore):
        self.grants = grants
        self.store = store
        self._restored = False
        self._lock = threading.Lock()

    def _restore(self) -> None:
        """Grant every remembered folder that still exists, under its remembered id."""
        with self._lock:
            if self._restored:
                return
            for entry in self.store.read().get("folders", []):
                if os.path.isdir(entry["path"]):
                    self.grants.add(entry["path"], grant_id=entry["id"])
            self._restored = True

    def list(self) -> list[dict]:
        self._restore()
        return [{**entry, "name": Path(entry["path"]).name or entry["path"],
                 "missing": not os.path.isdir(entry["path"])}
                for entry in self.store.read().get("folders", [])]

    def add(self, path: str | os.PathLike, role: str) -> dict:
        """Remember and grant a folder the user chose; choosing it again returns the same entry."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        self._restore()
        real = os.path.realpath(path)
        if not os.path.isdir(real):
            raise NotADirectoryError(path)
        added: dict = {}

        def remember(data: dict) -> None:
            folders = data.setdefault("folders", [])
            for entry in folders:
                if entry["path"] == real and entry["role"] == role:
                    added.update(entry)
                    return
            added.update(id=secrets.token_urlsafe(12), path=real, role=role)
            folders.append(dict(added))

        self.store.update(remember)
        self.grants.add(real, grant_id=added["id"])
        return {**added, "name": Path(real).name or real, "missing": False}

    def forget(self, folder_id: str) -> None:
        self.store.update(lambda d: d.__setitem__(
            "folders", [e for e in d.get("folders", []) if e["id"] != folder_id]))
        self.grants.remove(folder_id)

    def folder(self, folder_id: str, role: str | None = None) -> Grant:
        """The granted folder behind folder_id (of that role, if given), or NotGranted."""
        self._restore()
        grant = self.grants.get(folder_id)
        entry = next((e for e in self.store.read().get("folders", []) if e["id"] == folder_id), None)
        if not grant.is_folder or entry is None or (role and entry["role"] != role):
            raise NotGranted(f"{folder_id!r} is not a granted {role + ' ' if role else ''}folder")
        if os.path.realpath(grant.root) != str(grant.root):
            raise NotGranted("the granted folder changed into a link")
        return grant
