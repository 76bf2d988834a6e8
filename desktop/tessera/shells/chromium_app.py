"""Window provider: an installed Chromium-family browser in --app mode (a PWA-style window).

It gets its own persistent profile under the user data directory, so it behaves like an
installed app (own window; size and position remembered by the browser in that profile) and
never touches the user's browsing profile. Chromium's WebGPU works here wherever the browser
has it, which is why this is the first choice on Linux.
"""

from __future__ import annotations

import subprocess

from tessera.errors import TesseraError
from tessera.paths import user_data_dir
from tessera.server import TesseraServer
from tessera.shells.browser_process import BrowserProcess
from tessera.shells.browsers import find_browser, launch_flags

WINDOW_SIZE = "--window-size=1100,800"   # first launch only; the profile remembers it after


class ChromiumAppWindow:
    name = "chromium-app"

    @staticmethod
    def unavailable() -> str | None:
        try:
            find_browser()
        except TesseraError as e:
            return str(e)
        return None

    def run(self, server: TesseraServer) -> int:
        """Open the app window and block until the user closes it."""
        profile = user_data_dir() / "browser-profile"
        profile.mkdir(parents=True, exist_ok=True)
        server.api.shell = self.name
        # A second launch against the same profile is handed to the running browser, which
        # opens another window of the app: that is how a second `tessera` brings one forward.
        server.api.raise_window = lambda: subprocess.Popen(
            [str(find_browser()), *launch_flags(profile, headless=False), f"--app={server.app_url()}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with BrowserProcess([f"--app={server.app_url()}", WINDOW_SIZE],
                            headless=False, profile=profile) as window:
            return window.wait()
