"""Dialogs through the API: what the user picks becomes a grant; no dialog means a clear fallback."""

from __future__ import annotations

import pytest

from tessera.shells import dialogs
from tests.api_client import api_server, call  # noqa: F401 (fixture)
from tests.conftest import REPO

SAMPLES = REPO / "assets" / "samples"


def test_picked_files_are_granted_one_by_one(api_server, tmp_path):
    api_server.api.dialogs.next = [SAMPLES / "coffee.jpg", tmp_path / "missing.jpg"]
    status, body, _ = call(api_server, "POST", "/api/dialog", {"kind": "files"})
    assert status == 200 and [f["name"] for f in body["files"]] == ["coffee.jpg"]
    status, data, _ = call(api_server, "GET", "/" + body["files"][0]["url"])
    assert status == 200 and data == (SAMPLES / "coffee.jpg").read_bytes()
    assert api_server.api.dialogs.asked == [("files", "Choose photos for Tessera")]


def test_cancelling_grants_nothing(api_server):
    status, body, _ = call(api_server, "POST", "/api/dialog", {"kind": "folder"})
    assert status == 200 and body == {"folders": [], "files": []}
    assert call(api_server, "GET", "/api/folders")[1] == []


@pytest.mark.parametrize("request_body", [{"kind": "everything"}, {"kind": "files", "role": "output"},
                                          {"kind": "folder", "role": "root"}])
def test_bad_dialog_requests_are_refused(api_server, request_body):
    status, _, _ = call(api_server, "POST", "/api/dialog", request_body)
    assert status == 400


def test_without_a_native_dialog_the_page_is_told_to_use_its_own_picker(api_server, monkeypatch):
    api_server.api.dialogs = None
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(dialogs.sys, "platform", "linux")
    status, body, _ = call(api_server, "GET", "/api/dialog")
    assert body == {"native": False, "reason": "there is no display to show a file dialog on"}
    status, body, _ = call(api_server, "POST", "/api/dialog", {"kind": "folder"})
    assert status == 501 and body == b"No file dialog here: there is no display to show a file dialog on."


def test_system_dialog_choice_follows_what_is_installed(monkeypatch):
    monkeypatch.setattr(dialogs.sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":9")
    monkeypatch.setattr(dialogs.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(dialogs.shutil, "which", lambda exe: "/usr/bin/kdialog" if exe == "kdialog" else None)
    assert dialogs.system_dialogs().name == "kdialog"
    monkeypatch.setattr(dialogs.shutil, "which", lambda exe: None)
    with pytest.raises(dialogs.DialogUnavailable, match="install python3-tk, zenity or kdialog"):
        dialogs.system_dialogs()
    monkeypatch.setattr(dialogs.importlib.util, "find_spec", lambda name: object())
    assert dialogs.system_dialogs().name == "tkinter"
