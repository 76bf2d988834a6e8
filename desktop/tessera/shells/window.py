"""Choosing the window provider: `--shell` if given, else what works best on this platform.

Windows and macOS: pywebview (WebView2 / WKWebView expose WebGPU), else a Chromium-family
browser in app mode. Linux: the browser in app mode (Qt WebEngine and WebKitGTK have no WebGPU),
else pywebview's Qt window on wasm. Whether the GPU is actually used is then decided by the
page's own adapter probe, not by this choice.
"""

from __future__ import annotations

import os
import sys
from typing import Protocol

from tessera.errors import TesseraError
from tessera.server import TesseraServer
from tessera.shells.chromium_app import ChromiumAppWindow
from tessera.shells.pywebview_window import PywebviewWindow

PROVIDERS = {p.name: p for p in (ChromiumAppWindow, PywebviewWindow)}


class WindowProvider(Protocol):
    name: str

    @staticmethod
    def unavailable() -> str | None:
        """Why this provider can't run here (one sentence), or None when it can."""

    def run(self, server: TesseraServer) -> int:
        """Show the app from server in a window; block until the user closes it."""


def display_available() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def preference(platform: str = sys.platform) -> list[str]:
    if platform in ("win32", "darwin"):
        return ["pywebview", "chromium-app"]
    return ["chromium-app", "pywebview"]


def choose_window(requested: str | None = None, platform: str = sys.platform) -> WindowProvider:
    if requested:
        provider = PROVIDERS[requested]
        if reason := provider.unavailable():
            raise TesseraError(f"The {requested} window can't open: {reason.rstrip('.')}.")
        return provider()
    for name in preference(platform):
        if PROVIDERS[name].unavailable() is None:
            return PROVIDERS[name]()
    raise TesseraError("Tessera has no window to open here: install Chromium, Chrome, Edge or "
                       "Brave, or pywebview (pip install 'tessera[window]').")
