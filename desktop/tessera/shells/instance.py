"""One app window per user: a second `tessera` hands over to the running one.

The running instance holds an OS lock on <user data>/instance.lock and writes its port and
launch secret beside it (instance.json, readable by this user only). A second launch that
finds the lock taken asks the running server to bring its window forward and exits; a lock
left by a crashed instance is free again, because the OS releases it with the process.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
from pathlib import Path

from tessera.errors import TesseraError
from tessera.library.json_store import JsonStore
from tessera.paths import user_data_dir


class InstanceLock:
    def __init__(self, folder: Path | None = None):
        self.folder = folder or user_data_dir()
        self.info = JsonStore(self.folder / "instance.json")
        self._file = None

    def acquire(self) -> bool:
        """True if this process is now the running instance; False if another one is."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._file = open(self.folder / "instance.lock", "a+")
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(self._file.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.close()
            self._file = None
            return False
        return True

    def publish(self, port: int, secret: str) -> None:
        self.info.write({"pid": os.getpid(), "port": port, "secret": secret})
        os.chmod(self.info.path, 0o600)

    def release(self) -> None:
        if self._file is not None:
            self.info.path.unlink(missing_ok=True)
            self._file.close()
            self._file = None


def raise_running_window(lock: InstanceLock) -> None:
    """Ask the running instance to bring its window forward; TesseraError if it can't."""
    info = lock.info.read()
    if not info.get("port"):
        raise TesseraError("Tessera is already starting in another process; wait for its window.")
    conn = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=10)
    try:
        conn.request("POST", "/api/window/raise", body=b"{}", headers={
            "Host": f"127.0.0.1:{info['port']}", "X-Tessera-Token": info["secret"]})
        status = conn.getresponse().status
    except OSError:
        status = None
    finally:
        conn.close()
    if status != 200:
        raise TesseraError(f"Tessera is already running (process {info.get('pid')}) but did not "
                           "answer; close it, or end that process, and try again.")
