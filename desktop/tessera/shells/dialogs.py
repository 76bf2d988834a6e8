"""Native open-file / open-folder dialogs, shown by the shell on the page's behalf.

The page asks through the JSON API and gets real paths back (which become grants), because a
browser's own <input type=file> never reveals where a file lives. Which dialog is used:

- the pywebview window's own dialog when the app runs in the pywebview shell
  (Windows: WinForms/WebView2, macOS: Cocoa, Linux: Qt);
- otherwise tkinter's file dialog, run in a child Python so it owns its own main thread
  (Windows and macOS Pythons ship tkinter; on Debian/Ubuntu it is `apt install python3-tk`);
- otherwise zenity (GNOME) or kdialog (KDE) when installed;
- otherwise none: the API says so and the page falls back to drag-and-drop and its own
  picker, which hand over the files' bytes but no folder to remember.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from typing import Callable, Protocol

KINDS = ("files", "folder")
DIALOG_TIMEOUT_S = 3600        # a dialog left open for an hour is abandoned


class DialogUnavailable(Exception):
    """No native dialog can be shown here; str(e) says why."""


class Dialogs(Protocol):
    name: str

    def choose(self, kind: str, title: str) -> list[str]:
        """Paths the user chose; [] when they cancelled."""


class CallbackDialogs:
    """Dialogs provided by a window toolkit (the pywebview shell passes its own)."""

    def __init__(self, name: str, choose: Callable[[str, str], list[str]]):
        self.name = name
        self._choose = choose

    def choose(self, kind: str, title: str) -> list[str]:
        return self._choose(kind, title)


def _run_dialog(argv: list[str], *, cancel_codes: tuple[int, ...]) -> str:
    """The dialog program's output; "" when the user cancelled."""
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=DIALOG_TIMEOUT_S)
    if proc.returncode in cancel_codes:
        return ""
    if proc.returncode != 0:
        raise DialogUnavailable(f"the file dialog failed ({proc.stderr.strip() or proc.returncode})")
    return proc.stdout


class TkDialogs:
    name = "tkinter"

    def choose(self, kind: str, title: str) -> list[str]:
        out = _run_dialog([sys.executable, "-m", "tessera.shells.tk_dialog", kind, title], cancel_codes=())
        return json.loads(out)


class ZenityDialogs:
    name = "zenity"

    def __init__(self, exe: str):
        self.exe = exe

    def choose(self, kind: str, title: str) -> list[str]:
        extra = ["--directory"] if kind == "folder" else ["--multiple", "--separator=\n"]
        out = _run_dialog([self.exe, "--file-selection", f"--title={title}", *extra], cancel_codes=(1,))
        return [line for line in out.splitlines() if line]


class KDialogs:
    name = "kdialog"

    def __init__(self, exe: str):
        self.exe = exe

    def choose(self, kind: str, title: str) -> list[str]:
        mode = (["--getexistingdirectory", "."] if kind == "folder"
                else ["--getopenfilename", ".", "--multiple", "--separate-output"])
        out = _run_dialog([self.exe, "--title", title, *mode], cancel_codes=(1,))
        return [line for line in out.splitlines() if line]


def _has_display() -> bool:
    return sys.platform in ("win32", "darwin") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def system_dialogs() -> Dialogs:
    """The best dialog this machine offers outside pywebview, or DialogUnavailable."""
    if not _has_display():
        raise DialogUnavailable("there is no display to show a file dialog on")
    if importlib.util.find_spec("_tkinter") is not None:
        return TkDialogs()
    if exe := shutil.which("zenity"):
        return ZenityDialogs(exe)
    if exe := shutil.which("kdialog"):
        return KDialogs(exe)
    raise DialogUnavailable("no file dialog is available (install python3-tk, zenity or kdialog)")
