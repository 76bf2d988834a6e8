"""The loopback server's security promises, checked over real HTTP."""

from __future__ import annotations

import http.client
import json
import os
from urllib.parse import urlsplit

import pytest

from tessera.server import TesseraServer

SAMPLE = "assets/samples/coffee.jpg"


@pytest.fixture
def server(tmp_path):
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>t</title>")
    (tmp_path / "outside.txt").write_text("private")
    with TesseraServer(web) as srv:
        yield srv


def request(srv, method, path, *, token=True, host=None, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    h = {"Host": host or f"127.0.0.1:{srv.port}", **(headers or {})}
    if token is True:
        h["X-Tessera-Token"] = srv.secret
    elif token:
        h["X-Tessera-Token"] = token
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def test_binds_loopback_only(server):
    assert server._httpd.server_address[0] == "127.0.0.1"


@pytest.mark.parametrize("path", ["/", "/index.html", "/api/models", f"/files/x"])
def test_requests_without_the_secret_are_refused(server, path):
    resp, _ = request(server, "GET", path, token=None)
    assert resp.status == 403


def test_wrong_secret_is_refused(server):
    resp, _ = request(server, "GET", "/", token="not-the-secret")
    assert resp.status == 403
    resp, _ = request(server, "GET", "/?token=not-the-secret", token=None)
    assert resp.status == 403


@pytest.mark.parametrize("host", ["evil.example:80", "127.0.0.1", "127.0.0.1:1", "localhost.evil.com"])
def test_foreign_host_header_is_refused_even_with_the_secret(server, host):
    resp, _ = request(server, "GET", "/", host=host)
    assert resp.status == 403


def test_secret_in_url_becomes_a_cookie_and_leaves_the_address_bar(server):
    resp, _ = request(server, "GET", f"/?token={server.secret}&job=abc", token=None)
    assert resp.status == 303
    assert resp.getheader("Location") == "/?job=abc"
    cookie = resp.getheader("Set-Cookie")
    assert f"{server.cookie_name}={server.secret}" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    resp, body = request(server, "GET", "/", token=None,
                         headers={"Cookie": f"{server.cookie_name}={server.secret}"})
    assert resp.status == 200 and b"<title>t</title>" in body
    resp, _ = request(server, "GET", "/", token=None, headers={"Cookie": f"{server.cookie_name}=x"})
    assert resp.status == 403


def test_security_headers_on_every_response(server):
    resp, _ = request(server, "GET", "/")
    assert resp.getheader("Cross-Origin-Opener-Policy") == "same-origin"
    assert resp.getheader("Cross-Origin-Embedder-Policy") == "require-corp"
    csp = resp.getheader("Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src 'self' 'wasm-unsafe-eval'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert resp.getheader("X-Content-Type-Options") == "nosniff"


def test_static_files_cannot_escape_the_web_folder(server):
    for path in ["/../outside.txt", "/%2e%2e/outside.txt", "/..%2foutside.txt"]:
        resp, body = request(server, "GET", path)
        assert resp.status == 404, path
        assert b"private" not in body


def test_only_granted_images_are_served(server, tmp_path):
    grant = server.grants.add(SAMPLE)
    resp, body = request(server, "GET", f"/files/{grant.id}")
    assert resp.status == 200 and body == open(SAMPLE, "rb").read()
    assert resp.getheader("Content-Type") == "image/jpeg"
    resp, _ = request(server, "GET", "/files/not-a-grant")
    assert resp.status == 403
    folder = server.grants.add(tmp_path / "web")
    resp, body = request(server, "GET", f"/files/{folder.id}/../outside.txt")
    assert resp.status == 403 and b"private" not in body


def test_symlink_escape_from_a_granted_folder_is_refused(server, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    os.symlink(tmp_path / "outside.txt", photos / "cat.jpg")
    grant = server.grants.add(photos)
    resp, body = request(server, "GET", f"/files/{grant.id}/cat.jpg")
    assert resp.status == 403 and b"private" not in body


def test_a_granted_file_that_is_not_an_image_gets_a_clear_message(server, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("just text")
    grant = server.grants.add(bad)
    resp, body = request(server, "GET", f"/files/{grant.id}")
    assert resp.status == 422
    assert body.decode() == "not an image file, or an image format Tessera can't read"


def test_cross_origin_posts_are_refused(server):
    resp, _ = request(server, "POST", "/api/doctor", body=b"{}",
                      headers={"Origin": "http://evil.example", "Content-Type": "application/json"})
    assert resp.status == 403
    resp, _ = request(server, "POST", "/api/doctor", body=b"{}",
                      headers={"Origin": f"http://127.0.0.1:{server.port}"})
    assert resp.status == 200
    assert server.doctor_reports.get_nowait() == {}


def test_app_url_points_at_this_server_with_the_secret(server):
    parts = urlsplit(server.app_url(job="j1"))
    assert (parts.hostname, parts.port) == ("127.0.0.1", server.port)
    assert f"token={server.secret}" in parts.query and "job=j1" in parts.query


def test_models_api_lists_bundled_models(server, bundled_models):
    resp, body = request(server, "GET", "/api/models")
    names = {m["name"] for m in json.loads(body)}
    assert {"efficientnet-lite0", "mobilenet-v2"} <= names
    resp, body = request(server, "GET", "/models/efficientnet-lite0/model.json")
    assert resp.status == 200 and json.loads(body)["task"] == "classify"
    resp, _ = request(server, "GET", "/models/efficientnet-lite0/..%2Fmobilenet-v2%2Fmodel.json")
    assert resp.status == 404
