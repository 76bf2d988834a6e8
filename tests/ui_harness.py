"""The app in headless Chromium, for the UI tests: its own server and user data, dialogs faked
(tests queue what the "user" picks), page errors collected, screenshots under build/screenshots."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tessera.server import TesseraServer
from tessera.shells.browsers import COMMON_FLAGS, find_browser, user_flags
from tests.api_client import FakeDialogs
from tests.conftest import REPO

SHOTS = REPO / "build" / "screenshots"


@contextmanager
def running_app(webapp_dist, data_dir, *, flags: tuple[str, ...] = ()):
    """Yields (server, browser, page errors); open pages with open_page()."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TESSERA_DATA_DIR", str(data_dir))
    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    try:
        with TesseraServer(webapp_dist) as server, sync_playwright() as pw:
            server.api.dialogs = FakeDialogs()
            browser = pw.chromium.launch(executable_path=str(find_browser()), args=[*COMMON_FLAGS, *user_flags(), *flags])
            yield server, browser, errors
            browser.close()
    finally:
        mp.undo()
    assert errors == [], f"uncaught errors in the page: {errors}"


def open_page(server: TesseraServer, browser: Browser, errors: list[str], *, view: str = "",
              permissions: tuple[str, ...] = ()) -> Page:
    """A fresh browser context on the app, at #view, once the model has loaded."""
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    if permissions:
        context.grant_permissions(list(permissions), origin=server.origin)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.app_url() + (f"#{view}" if view else ""))
    expect(page.locator(".view:not([hidden]) .status")).to_contain_text("on wasm", timeout=60_000)
    return page


def screenshot_both_schemes(page: Page, name: str) -> None:
    """build/screenshots/<name>-light.png and -dark.png, for a person to look at."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.screenshot(path=SHOTS / f"{name}-{scheme}.png")
    page.emulate_media(color_scheme="light")
