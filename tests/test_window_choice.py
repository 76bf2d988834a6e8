"""Which window provider opens: the platform's preference, then whatever is installed."""

from __future__ import annotations

import pytest

from tessera.errors import TesseraError
from tessera.shells import window
from tessera.shells.chromium_app import ChromiumAppWindow
from tessera.shells.pywebview_window import PywebviewWindow


def installed(monkeypatch, *, browser: bool, pywebview: bool):
    monkeypatch.setattr(ChromiumAppWindow, "unavailable", staticmethod(lambda: None if browser else "no browser"))
    monkeypatch.setattr(PywebviewWindow, "unavailable", staticmethod(lambda: None if pywebview else "no pywebview"))


@pytest.mark.parametrize("platform, browser, pywebview, expected", [
    ("win32", True, True, "pywebview"), ("darwin", True, True, "pywebview"),
    ("win32", True, False, "chromium-app"), ("linux", True, True, "chromium-app"),
    ("linux", False, True, "pywebview"),
])
def test_automatic_choice(monkeypatch, platform, browser, pywebview, expected):
    installed(monkeypatch, browser=browser, pywebview=pywebview)
    assert window.choose_window(None, platform).name == expected


def test_nothing_installed_is_one_clear_sentence(monkeypatch):
    installed(monkeypatch, browser=False, pywebview=False)
    with pytest.raises(TesseraError, match=r"^Tessera has no window to open here: install Chromium.*\)\.$"):
        window.choose_window(None, "linux")


def test_an_explicit_choice_that_is_missing_says_why(monkeypatch):
    installed(monkeypatch, browser=True, pywebview=False)
    with pytest.raises(TesseraError, match="^The pywebview window can't open: no pywebview.$"):
        window.choose_window("pywebview", "linux")
