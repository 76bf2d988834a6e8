"""Run the web app for one task in headless Chromium and wait for what the page reports.

Shared by every CLI command that needs the page (classify, doctor): it owns the server and
browser lifetimes, and turns "the browser died" or "the page never answered" into one clear
error instead of a hang.
"""

from __future__ import annotations

import queue
import time
from contextlib import contextmanager
from typing import Iterator, TypeVar

from tessera.errors import TesseraError
from tessera.paths import webapp_dist_dir
from tessera.server import TesseraServer
from tessera.shells.browser_process import BrowserProcess

T = TypeVar("T")
POLL_S = 0.25


def require_webapp() -> None:
    if not (webapp_dist_dir() / "index.html").is_file():
        raise TesseraError("The web app is not built: run the set-up command from the README "
                           "(it runs `npm ci && npm run build` in webapp/).")


@contextmanager
def running_server() -> Iterator[TesseraServer]:
    require_webapp()
    with TesseraServer(webapp_dist_dir()) as server:
        yield server


class PageSession:
    """A headless browser showing one URL of a running server."""

    def __init__(self, browser: BrowserProcess):
        self.browser = browser

    def wait(self, source: "queue.Queue[T]", timeout_s: float, what: str) -> T:
        """Next item from source, failing clearly if the browser exits or time runs out."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return source.get(timeout=POLL_S)
            except queue.Empty:
                pass
            code = self.browser.exited()
            if code is not None:
                raise TesseraError(f"The browser exited unexpectedly (code {code}) while {what}. "
                                   f"Its last words: {self.browser.log_tail(3) or '(nothing)'}")
            if time.monotonic() > deadline:
                raise TesseraError(f"The browser page did not answer within {timeout_s:.0f} s while "
                                   f"{what}; run `tessera doctor` to check the browser.")


@contextmanager
def page_session(server: TesseraServer, **params: str) -> Iterator[PageSession]:
    with BrowserProcess([server.app_url(**params)], headless=True) as browser:
        yield PageSession(browser)
