"""A small JSON document on disk, written atomically.

Used for the user's settings and remembered folders: a crash or a second writer mid-save can
leave the old document or the new one, never half of one (write a temporary file beside it,
fsync, rename over). A missing or damaged file reads as empty, so a bad file never stops the
app from starting.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path


class JsonStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def update(self, change) -> dict:
        """Read, apply change(data) in place, write; serialised within this process."""
        with self._lock:
            data = self.read()
            change(data)
            self.write(data)
            return data
