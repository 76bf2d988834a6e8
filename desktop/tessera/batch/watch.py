"""Watch a folder (watchdog) and hand over each new or changed image once it is complete.

A path an event names goes into `pending`; `wait_ready()` polls the pending paths and hands a
file over once its size and mtime have not changed for `stable_s` and it opens for reading,
so a photo still being copied in is classified once, when complete. What the watcher does
beyond forwarding events:

- A new or moved-in folder is scanned at once: its first files can land before the watch on
  it exists, and inotify never reports those.
- Deletions and renames go straight to the store (`forget`, `rename`), so a renamed photo
  keeps its result and a deleted one leaves the exports.
- The watched folder itself may vanish (deleted, unmounted) and come back: each poll checks
  it, drops the dead watch and, once it exists again, watches it anew and scans it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from watchdog.events import (DirCreatedEvent, DirDeletedEvent, DirMovedEvent, FileClosedEvent,
                             FileCreatedEvent, FileDeletedEvent, FileModifiedEvent, FileMovedEvent,
                             FileSystemEvent, FileSystemEventHandler)
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from tessera.batch.scan import Found, Kind, examine, scan
from tessera.batch.store import ResultStore

EVENTS = [FileCreatedEvent, FileModifiedEvent, FileClosedEvent, FileMovedEvent, FileDeletedEvent,
          DirCreatedEvent, DirMovedEvent, DirDeletedEvent]
UNOPENABLE_PATIENCE = 4     # a stable file that won't open is an error after this many stable_s
RECENTLY_HANDED = 10_000    # how many handed-over files are remembered, to hand each over once


@dataclass
class _Pending:
    size: int
    mtime_ns: int
    stable_since: float


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if os.path.isdir(path) else None


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class FolderWatcher(FileSystemEventHandler):
    def __init__(self, root: str | os.PathLike, store: ResultStore, *, recursive: bool = True,
                 stable_s: float = 2.0):
        self.root = os.path.abspath(os.fspath(root))
        self.recursive = recursive
        self.stable_s = stable_s
        self._store = store
        self._poll_s = min(0.25, stable_s / 4)
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._handed: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._observer = Observer()
        self._watch: ObservedWatch | None = None
        self._root_identity: tuple[int, int] | None = None
        self._root_lost = False

    # ---- lifetime ----

    def start(self) -> "FolderWatcher":
        self._observer.start()
        self._ensure_watched(scan_new=False)     # what is there now is the runner's first pass
        return self

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join()

    def __enter__(self) -> "FolderWatcher":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _ensure_watched(self, scan_new: bool = True) -> None:
        """Watch the root if it exists and the current watch is not on this very folder."""
        identity = _identity(self.root)
        if identity == self._root_identity and not self._root_lost:
            return
        if self._watch is not None:
            try:
                self._observer.unschedule(self._watch)
            except (KeyError, OSError):
                pass    # its emitter already ended with the folder
            self._watch = None
        self._root_identity, self._root_lost = None, False
        if identity is None:
            return
        try:
            self._watch = self._observer.schedule(self, self.root, recursive=self.recursive,
                                                  event_filter=EVENTS)
        except OSError:
            return      # gone again between the check and the watch: try on the next poll
        self._root_identity = identity
        if scan_new:
            self._add_tree(self.root)

    # ---- events, on watchdog's thread ----

    def on_any_event(self, event: FileSystemEvent) -> None:
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if event.dest_path else ""
        if event.event_type == "deleted":
            self._store.forget(src)
            self._drop_pending(src)
            if src == self.root:
                self._root_lost = True
        elif event.event_type == "moved":
            self._store.rename(src, dest)
            self._drop_pending(src)
            self._add_tree(dest) if event.is_directory else self._add(dest)
        elif event.is_directory:
            if event.event_type == "created" and self.recursive:
                self._add_tree(src)
        else:
            self._add(src)

    def _add(self, path: str) -> None:
        with self._lock:
            if path not in self._pending:
                self._pending[path] = _Pending(-1, -1, time.monotonic())

    def _add_tree(self, folder: str) -> None:
        for found in scan([folder], recursive=self.recursive):
            if found.kind is not Kind.SKIPPED:
                self._add(found.path)

    def _drop_pending(self, path: str) -> None:
        with self._lock:
            for p in [p for p in self._pending if _inside(p, path)]:
                del self._pending[p]

    # ---- handing files over, on the caller's thread ----

    def wait_ready(self, timeout: float) -> list[Found]:
        """The files that became complete, by path; [] if none did within timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self._ensure_watched()
            ready = self._take_ready()
            if ready or time.monotonic() >= deadline:
                return ready
            time.sleep(self._poll_s)

    def _take_ready(self) -> list[Found]:
        now = time.monotonic()
        with self._lock:
            paths = list(self._pending)
        ready = []
        for path in sorted(paths):
            found = examine(path)
            with self._lock:
                entry = self._pending.get(path)
                if entry is None:
                    continue
                if found.kind is Kind.SKIPPED or (found.kind is Kind.ERROR and not os.path.lexists(path)):
                    del self._pending[path]      # a temporary or hidden file, or already gone
                    continue
                if (found.size, found.mtime_ns) != (entry.size, entry.mtime_ns):
                    entry.size, entry.mtime_ns, entry.stable_since = found.size, found.mtime_ns, now
                    continue
                if now - entry.stable_since < self.stable_s:
                    continue
                if found.kind is Kind.IMAGE and not _opens(path):
                    if now - entry.stable_since < UNOPENABLE_PATIENCE * self.stable_s:
                        continue     # on Windows a file being written can't be opened yet
                    found = Found(path, Kind.ERROR, "it could not be opened for reading")
                del self._pending[path]
            if self._hand_over_once(found):
                ready.append(found)
        return ready

    def _hand_over_once(self, found: Found) -> bool:
        """False when this very version of the file was handed over already (a late event)."""
        signature = (found.size, found.mtime_ns)
        if found.kind is Kind.IMAGE and self._handed.get(found.path) == signature:
            return False
        self._handed[found.path] = signature
        self._handed.move_to_end(found.path)
        if len(self._handed) > RECENTLY_HANDED:
            self._handed.popitem(last=False)
        return True


def _opens(path: str) -> bool:
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False
