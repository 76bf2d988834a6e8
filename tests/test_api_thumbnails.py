"""Thumbnails: made by Pillow off the request thread, cached on disk by path+mtime+size."""

from __future__ import annotations

import io
import os
import shutil
import threading

from PIL import Image

from tests.api_client import api_server, call, grant_folder  # noqa: F401 (fixture)
from tests.conftest import REPO

SAMPLES = REPO / "assets" / "samples"


def test_thumbnail_fits_the_side_and_is_cached_until_the_file_changes(api_server, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(SAMPLES / "chelsea.jpg", photos / "cat.jpg")
    grant = grant_folder(api_server, photos)
    status, data, resp = call(api_server, "GET", f"/api/thumbs/{grant['id']}/cat.jpg?side=128")
    assert status == 200 and resp.getheader("Content-Type") == "image/jpeg"
    thumb = Image.open(io.BytesIO(data))
    assert max(thumb.size) == 128 and thumb.format == "JPEG"
    cache = tmp_path / "userdata" / "thumbnails"
    assert len(list(cache.rglob("*.jpg"))) == 1
    call(api_server, "GET", f"/api/thumbs/{grant['id']}/cat.jpg?side=128")
    assert len(list(cache.rglob("*.jpg"))) == 1                       # served from the cache
    shutil.copy(SAMPLES / "coffee.jpg", photos / "cat.jpg")
    os.utime(photos / "cat.jpg", (2_000_000, 2_000_000))
    status, fresh, _ = call(api_server, "GET", f"/api/thumbs/{grant['id']}/cat.jpg?side=128")
    assert status == 200 and fresh != data and len(list(cache.rglob("*.jpg"))) == 2


def test_thumbnail_refusals(api_server, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "broken.jpg").write_text("not an image")
    (tmp_path / "secret.jpg").write_bytes((SAMPLES / "coffee.jpg").read_bytes())
    os.symlink(tmp_path / "secret.jpg", photos / "link.jpg")
    grant = grant_folder(api_server, photos)
    status, body, _ = call(api_server, "GET", f"/api/thumbs/{grant['id']}/broken.jpg")
    assert status == 422 and body == b"not an image file, or an image format Tessera can't read"
    for rel in ["link.jpg", "../secret.jpg"]:
        status, _, _ = call(api_server, "GET", f"/api/thumbs/{grant['id']}/{rel}")
        assert status == 403, rel
    status, body, _ = call(api_server, "GET", f"/api/thumbs/{grant['id']}/broken.jpg?side=100")
    assert status == 400


def test_a_thumbnail_finished_before_its_callback_is_attached_does_not_hang(tmp_path):
    """A pool thread can finish a thumbnail before get() attaches its clean-up callback, which
    then runs at once inside get()'s lock: that once hung the request for good."""
    from concurrent.futures import Future

    from tessera.library.thumbnails import Thumbnails

    class Immediate:       # runs each job before submit returns, as a fast pool thread can
        def submit(self, fn, *args):
            done = Future()
            done.set_result(fn(*args))
            return done

    thumbs = Thumbnails(tmp_path / "cache")
    thumbs._pool = Immediate()
    got: list[bytes] = []
    worker = threading.Thread(target=lambda: got.append(thumbs.get(SAMPLES / "chelsea.jpg", 128)), daemon=True)
    worker.start()
    worker.join(20)
    assert got and got[0][:2] == b"\xff\xd8"
