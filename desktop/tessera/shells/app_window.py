"""The desktop window for this slice: an installed Chromium-family browser in --app mode.

It gets its own persistent profile under the user data directory, so it behaves like an
installed app (own window, remembered size) and never touches the user's browsing profile.
"""

from __future__ import annotations

import os
import sys

from tessera.paths import user_data_dir
from tessera.server import TesseraServer
from tessera.shells.browser_process import BrowserProcess


def display_available() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_app_window(server: TesseraServer) -> int:
    """Open the app window and block until the user closes it."""
    profile = user_data_dir() / "browser-profile"
    profile.mkdir(parents=True, exist_ok=True)
    with BrowserProcess([f"--app={server.app_url()}", "--window-size=1100,800"],
                        headless=False, profile=profile) as window:
        return window.wait()
