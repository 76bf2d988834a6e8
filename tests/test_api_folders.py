"""Granted folders through the JSON API: chosen by dialog, remembered, listed, refused."""

from __future__ import annotations

import os
import shutil

import pytest

from tessera.server import TesseraServer
from tests.api_client import api_server, call, grant_folder  # noqa: F401 (fixture)
from tests.conftest import REPO

SAMPLES = REPO / "assets" / "samples"


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i, name in enumerate(["b.jpg", "A.png", "c.JPEG"]):
        shutil.copy(SAMPLES / "coffee.jpg", folder / name)
        os.utime(folder / name, (1_000_000 + i, 1_000_000 + i))
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.jpg").write_bytes(b"x")
    shutil.copy(SAMPLES / "chelsea.jpg", folder / "sub" / "cat.jpg")
    (tmp_path / "secret.jpg").write_bytes(b"private")
    os.symlink(tmp_path / "secret.jpg", folder / "escape.jpg")
    return folder


def test_every_endpoint_needs_the_secret(api_server):
    for method, path in [("GET", "/api/folders"), ("GET", "/api/folders/x/images"),
                         ("POST", "/api/dialog"), ("GET", "/api/thumbs/x/a.jpg"),
                         ("POST", "/api/outputs/x?name=a.png"), ("GET", "/api/models"),
                         ("POST", "/api/models/import"), ("POST", "/api/adapter"),
                         ("GET", "/api/shell"), ("POST", "/api/models/x/default")]:
        status, _, _ = call(api_server, method, path, b"{}" if method == "POST" else None, token=False)
        assert status == 403, (method, path)


def test_a_folder_chosen_in_the_dialog_is_granted_and_listed_sorted_and_paged(api_server, photos):
    folder = grant_folder(api_server, photos)
    assert folder["path"] == str(photos) and folder["role"] == "images"
    status, listing, _ = call(api_server, "GET", f"/api/folders/{folder['id']}/images")
    assert status == 200 and listing["total"] == 3
    assert [i["name"] for i in listing["items"]] == ["A.png", "b.jpg", "c.JPEG"]
    item = listing["items"][1]
    assert item["size"] == (SAMPLES / "coffee.jpg").stat().st_size and item["mtime"] == 1_000_000
    status, data, _ = call(api_server, "GET", "/" + item["url"])
    assert status == 200 and data == (SAMPLES / "coffee.jpg").read_bytes()

    _, by_mtime, _ = call(api_server, "GET", f"/api/folders/{folder['id']}/images?sort=mtime&order=desc&limit=2")
    assert [i["name"] for i in by_mtime["items"]] == ["c.JPEG", "A.png"] and by_mtime["total"] == 3
    _, page2, _ = call(api_server, "GET", f"/api/folders/{folder['id']}/images?sort=mtime&order=desc&offset=2&limit=2")
    assert [i["name"] for i in page2["items"]] == ["b.jpg"]
    _, deep, _ = call(api_server, "GET", f"/api/folders/{folder['id']}/images?recursive=1")
    assert "sub/cat.jpg" in [i["rel"] for i in deep["items"]]


def test_listing_refuses_bad_arguments_and_ungranted_folders(api_server, photos):
    folder = grant_folder(api_server, photos)
    for query in ["sort=colour", "limit=0", "limit=99999", "offset=-1", "limit=x"]:
        status, body, _ = call(api_server, "GET", f"/api/folders/{folder['id']}/images?{query}")
        assert status == 400, query
        assert body.decode().endswith(".")
    status, body, _ = call(api_server, "GET", "/api/folders/not-granted/images")
    assert status == 403 and b"not one you granted" in body


def test_symlinks_out_of_the_folder_are_neither_listed_nor_served(api_server, photos):
    folder = grant_folder(api_server, photos)
    _, listing, _ = call(api_server, "GET", f"/api/folders/{folder['id']}/images")
    assert "escape.jpg" not in [i["name"] for i in listing["items"]]
    for rel in ["escape.jpg", "../secret.jpg", "sub/../../secret.jpg", "%2e%2e/secret.jpg"]:
        status, body, _ = call(api_server, "GET", f"/files/{folder['id']}/{rel}")
        assert status == 403 and b"private" not in body, rel


def test_granted_folders_are_remembered_across_launches_and_can_be_forgotten(api_server, photos, tmp_path):
    folder = grant_folder(api_server, photos)
    assert grant_folder(api_server, photos)["id"] == folder["id"]     # choosing again: same entry
    web = tmp_path / "web"
    with TesseraServer(web) as second:
        status, folders, _ = call(second, "GET", "/api/folders")
        assert [f["id"] for f in folders] == [folder["id"]]
        status, listing, _ = call(second, "GET", f"/api/folders/{folder['id']}/images")
        assert status == 200 and listing["total"] == 3
        call(second, "POST", f"/api/folders/{folder['id']}/forget", {})
        assert call(second, "GET", "/api/folders")[1] == []
        status, _, _ = call(second, "GET", f"/api/folders/{folder['id']}/images")
        assert status == 403


def test_a_remembered_folder_that_vanished_is_listed_as_missing(api_server, photos):
    folder = grant_folder(api_server, photos)
    shutil.rmtree(photos)
    _, folders, _ = call(api_server, "GET", "/api/folders")
    assert folders[0]["id"] == folder["id"] and folders[0]["missing"] is True
