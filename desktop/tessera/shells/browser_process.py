"""A Chromium-family browser as a plain subprocess: the CLI's headless engine host, and the
app window.

The page talks back through the server's JSON API, so no automation protocol is needed. The
browser runs in its own process group (headless: with a throw-away profile), and the whole
group is stopped on exit, Ctrl-C, SIGTERM or error.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tessera.shells.browsers import find_browser, launch_flags

WAIT_SLICE_S = 0.25


class BrowserProcess:
    def __init__(self, page_args: list[str], *, headless: bool, profile: Path | None = None):
        """page_args: what to show (a URL, or --app=URL); profile: None for a throw-away one."""
        self.page_args = page_args
        self.headless = headless
        self.browser = find_browser()
        self._temp_profile = (tempfile.TemporaryDirectory(prefix="tessera-profile-", ignore_cleanup_errors=True)
                              if profile is None else None)
        self.profile = Path(self._temp_profile.name) if self._temp_profile else profile
        self._log = tempfile.TemporaryFile()
        self.proc: subprocess.Popen | None = None

    def start(self) -> "BrowserProcess":
        args = [str(self.browser), *launch_flags(self.profile, headless=self.headless), *self.page_args]
        if sys.platform == "win32":
            group = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        else:
            group = {"start_new_session": True, "preexec_fn": _die_with_parent}
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=_browser_env(), **group)
        return self

    def wait(self) -> int:
        """Block until the browser exits; its exit code. Waits in short slices: the OS may hand
        SIGTERM to any of our threads, and then a blocking wait in the main thread would never
        return to run Python's handler (which always runs there)."""
        while self.proc is not None:
            try:
                return self.proc.wait(timeout=WAIT_SLICE_S)
            except subprocess.TimeoutExpired:
                pass
        return 0

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log_tail(self, lines: int = 5) -> str:
        self._log.seek(0)
        return "\n".join(self._log.read().decode(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)
            self.proc = None
        self._log.close()
        if self._temp_profile:
            self._temp_profile.cleanup()

    def __enter__(self) -> "BrowserProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# Chromium on Linux makes its single-instance socket in a new folder under $TMPDIR; a Unix
# socket's path can't exceed 107 bytes, and past it Chromium aborts at start. A long TMPDIR
# (deep home folders, per-job temp folders) is therefore swapped for /tmp, for the browser only.
MAX_BROWSER_TMPDIR = 60


def _browser_env() -> dict[str, str] | None:
    tmp = os.environ.get("TMPDIR", "")
    if sys.platform.startswith("linux") and len(tmp) > MAX_BROWSER_TMPDIR:
        return {**os.environ, "TMPDIR": "/tmp"}
    return None     # inherit


def _die_with_parent() -> None:
    """Linux: the browser gets SIGKILL if we are killed before we can stop it (kill -9)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop the browser and every helper process it spawned."""
    try:
        if sys.platform == "win32":
            proc.terminate()
        else:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, PermissionError):
        return
    except subprocess.TimeoutExpired:
        if sys.platform == "win32":
            proc.kill()
        else:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
