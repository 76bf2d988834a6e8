"""A loopback server with its user data in a temporary folder, and a plain-HTTP client for it."""

from __future__ import annotations

import http.client
import json

import pytest

from tessera.server import TesseraServer


class FakeDialogs:
    """Stands in for the user choosing in a native dialog: returns the paths queued for it."""

    name = "fake"

    def __init__(self):
        self.next: list[str] = []
        self.asked: list[tuple[str, str]] = []

    def choose(self, kind, title):
        self.asked.append((kind, title))
        chosen, self.next = self.next, []
        return [str(p) for p in chosen]


@pytest.fixture
def api_server(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "userdata"))
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>t</title>")
    with TesseraServer(web) as srv:
        srv.api.dialogs = FakeDialogs()
        yield srv


def call(srv, method, path, body=None, *, token=True, headers=None):
    """(status, parsed JSON or raw bytes, response) for one request."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    h = {"Host": f"127.0.0.1:{srv.port}", **(headers or {})}
    if token:
        h["X-Tessera-Token"] = srv.secret
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.getheader("Content-Type") == "application/json":
        data = json.loads(data)
    return resp.status, data, resp


def grant_folder(srv, path, role="images") -> dict:
    """Grant a folder the way the page does: ask for a dialog, the user picks path."""
    srv.api.dialogs.next = [path]
    status, body, _ = call(srv, "POST", "/api/dialog", {"kind": "folder", "role": role})
    assert status == 200, body
    return body["folders"][0]
