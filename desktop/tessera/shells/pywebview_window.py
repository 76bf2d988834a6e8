"""Window provider: pywebview (WebView2 on Windows, WKWebView on macOS, Qt WebEngine on Linux).

WebView2 and WKWebView expose WebGPU. PyPI's Qt WebEngine is built without Dawn, so on Linux
this window runs models on wasm and the page shows a banner saying so (driven by the adapter
report the page posts, see tessera.shells.banner). pywebview is optional
(`pip install tessera[window]`) and imported only here, only when this window is wanted.
The window's size and position are stored in the user settings when it closes.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys

from tessera import settings
from tessera.server import TesseraServer
from tessera.shells.dialogs import CallbackDialogs

DEFAULT_SIZE = (1100, 800)


class PywebviewWindow:
    name = "pywebview"

    @staticmethod
    def unavailable() -> str | None:
        if importlib.util.find_spec("webview") is None:
            return "pywebview is not installed (pip install 'tessera[window]')"
        return None

    def run(self, server: TesseraServer) -> int:
        import webview

        if sys.platform.startswith("linux") and hasattr(os, "geteuid") and os.geteuid() == 0:
            os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")   # Chromium refuses root otherwise
        geometry = settings.window_geometry() or {}
        window = webview.create_window(
            "Tessera", server.app_url(), width=geometry.get("width", DEFAULT_SIZE[0]),
            height=geometry.get("height", DEFAULT_SIZE[1]), x=geometry.get("x"), y=geometry.get("y"),
            min_size=(640, 480), text_select=True)

        def choose(kind: str, title: str) -> list[str]:
            dialog = webview.FileDialog.FOLDER if kind == "folder" else webview.FileDialog.OPEN
            return list(window.create_file_dialog(dialog, allow_multiple=kind == "files") or [])

        def remember_geometry() -> None:
            settings.save_window_geometry(window.x, window.y, window.width, window.height)

        def bring_forward() -> None:
            window.restore()
            window.show()

        server.api.shell = self.name
        server.api.dialogs = CallbackDialogs("pywebview", choose)
        server.api.raise_window = bring_forward
        window.events.closing += remember_geometry
        terminated = []

        def close_on_sigterm(signum, frame) -> None:
            # Runs inside the toolkit's event loop: close the window there, and re-raise the
            # signal once the loop has returned so the CLI unwinds as usual.
            terminated.append(signum)
            remember_geometry()
            window.destroy()

        previous = signal.signal(signal.SIGTERM, close_on_sigterm)
        try:
            webview.start(gui="qt" if sys.platform.startswith("linux") else None)
        finally:
            signal.signal(signal.SIGTERM, previous)
        if terminated:
            signal.raise_signal(signal.SIGTERM)
        return 0
