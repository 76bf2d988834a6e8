"""`tessera classify` on folders end to end: the real CLI, the real browser page, the real store.

kill -9 midway and a rerun, a folder of bad files beside good ones in every format, and watch
mode until Ctrl-C.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO
from tests.test_batch_decode import png_header_only

SAMPLES = REPO / "assets" / "samples"


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """This test's own user data, so its results store starts empty."""
    data = tmp_path / "user-data"
    data.mkdir()
    monkeypatch.setenv("TESSERA_DATA_DIR", str(data))
    return data


def write_noise_images(folder: Path, count: int, start: int = 0) -> list[Path]:
    """Small JPEGs, each with its own content (the store is keyed by content)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        rng = np.random.default_rng(i)
        pixels = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
        path = folder / f"img{i:03d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def start_cli(*args: str) -> subprocess.Popen:
    # A session of its own: the test can signal the CLI's whole process group.
    return subprocess.Popen([sys.executable, "-m", "tessera", "classify", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def stored_results(data: Path) -> dict[str, float]:
    """path -> finished_at of every result in the store."""
    db = data / "results.sqlite3"
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return {os.fsdecode(p): t for p, t in conn.execute("SELECT path, finished_at FROM results")}
    except sqlite3.OperationalError:     # the schema is not there yet
        return {}
    finally:
        conn.close()


def csv_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def wait_for(condition, timeout: float, what: str, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        if process is not None and process.poll() is not None:
            pytest.fail(f"tessera exited early while waiting for {what}: {process.communicate()}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_kill_9_midway_then_rerun_records_every_file_once(webapp_dist, bundled_models, data_dir, tmp_path):
    photos = write_noise_images(tmp_path / "photos", 30)
    out = tmp_path / "results.csv"
    args = [str(tmp_path / "photos"), "--out", str(out), "--batch-size", "2", "--backend", "wasm"]

    first = start_cli(*args)
    wait_for(lambda: len(stored_results(data_dir)) >= 4, 120, "the first results", first)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate()
    before = stored_results(data_dir)
    assert 4 <= len(before) < len(photos), "the kill came too late to test a resume"
    if out.exists():          # the export as of some batch: whole, each file at most once
        exported = [r["path"] for r in csv_rows(out)]
        assert len(exported) == len(set(exported)) and set(exported) <= set(map(str, photos))

    again = subprocess.run([sys.executable, "-m", "tessera", "classify", *args], cwd=REPO, text=True,
                           capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr
    after = stored_results(data_dir)
    assert sorted(after) == sorted(map(str, photos))
    assert all(after[p] == t for p, t in before.items()), "a result from before the kill was redone"
    lines = again.stdout.splitlines()
    assert len(lines) == len(photos)
    assert sum(line.endswith(", stored]") for line in lines) == len(before)
    rows = csv_rows(out)
    assert sorted(r["path"] for r in rows) == sorted(map(str, photos))
    assert all(r["ok"] == "yes" and r["label"] and r["backend"] == "wasm" for r in rows)
    assert f"{len(photos)} classified, 0 failed ({len(before)} already in the results store)" in again.stderr

    # Everything is in the store now: a third run answers from it without starting a browser.
    third = subprocess.run([sys.executable, "-m", "tessera", "classify", *args], cwd=REPO, text=True,
                           capture_output=True, timeout=120)
    assert third.returncode == 0, third.stderr
    assert all(line.endswith(", stored]") for line in third.stdout.splitlines())
    assert " on wasm" not in third.stderr and "Traceback" not in third.stderr + again.stderr
    assert csv_rows(out) == rows


def _rotated_by_exif(source: Path, dest: Path) -> None:
    """The photo stored a quarter turn off, with the EXIF orientation that puts it right."""
    img = Image.open(source)
    exif = Image.Exif()
    exif[0x0112] = 6                      # rotate 90° clockwise to display
    img.transpose(Image.Transpose.ROTATE_90).save(dest, exif=exif.tobytes(), quality=92)


def test_bad_files_are_error_rows_and_every_format_is_classified(run_cli, data_dir, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    coffee = Image.open(SAMPLES / "coffee.jpg")
    for fmt, suffix in [("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif"), ("BMP", "bmp"), ("TIFF", "tif")]:
        coffee.save(folder / f"coffee.{suffix}", fmt)
    _rotated_by_exif(SAMPLES / "coffee.jpg", folder / "coffee-exif.jpg")
    data = (SAMPLES / "chelsea.jpg").read_bytes()
    (folder / "corrupt.jpg").write_bytes(data[: len(data) // 3])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("this is a text file, not a photo\n")
    (folder / "x.jpg").mkdir()
    (folder / "bomb.png").write_bytes(png_header_only(60_000, 60_000))
    (folder / "readme.txt").write_text("not an image")
    out = tmp_path / "results.json"
    sorted_dir = tmp_path / "sorted"

    r = run_cli("classify", str(folder), "--out", str(out), "--xmp", "--sort-into", str(sorted_dir), "--copy",
                "--backend", "wasm")
    assert r.returncode == 1
    assert "Traceback" not in r.stdout + r.stderr
    bad = {"corrupt.jpg", "empty.jpg", "notes.jpg", "x.jpg", "bomb.png"}
    good = {"coffee.png", "coffee.webp", "coffee.gif", "coffee.bmp", "coffee.tif", "coffee-exif.jpg"}
    error_lines = {Path(line.split(": error: ")[0]).name: line for line in r.stdout.splitlines() if ": error: " in line}
    assert set(error_lines) == bad
    assert "empty (0 bytes)" in error_lines["empty.jpg"]
    assert "a folder, not an image file" in error_lines["x.jpg"]
    assert "the image is too large" in error_lines["bomb.png"]
    assert f"{folder / 'readme.txt'}: skipped: not a supported image type (.txt)" in r.stderr
    assert "6 classified, 5 failed, 1 skipped" in r.stderr

    records = {Path(rec["path"]).name: rec for rec in json.loads(out.read_text())}
    assert set(records) == bad | good
    assert all(not records[n]["ok"] and records[n]["error"] for n in bad)
    for name in good:
        assert records[name]["ok"] and records[name]["top"][0]["label"] == "espresso", records[name]
        assert "espresso" in (folder / f"{name}.xmp").read_text()
    assert sorted(p.name for p in (sorted_dir / "espresso").iterdir()) == sorted(good)
    assert {p.name for p in folder.iterdir()} >= good | bad      # copies: the originals stay


def test_watch_classifies_what_lands_until_ctrl_c(webapp_dist, bundled_models, data_dir, tmp_path):
    folder = tmp_path / "inbox"
    write_noise_images(folder, 1)
    out = tmp_path / "results.csv"
    watch = start_cli(str(folder), "--watch", "--out", str(out), "--backend", "wasm")
    wait_for(lambda: out.exists() and len(csv_rows(out)) == 1, 120, "the first pass", watch)

    write_noise_images(folder, 1, start=1)
    slow = folder / "slow.jpg"
    data = (SAMPLES / "coffee.jpg").read_bytes()
    with open(slow, "wb") as f:                       # lands in pieces over a second and a half
        for part in range(3):
            f.write(data[part * len(data) // 3:(part + 1) * len(data) // 3])
            f.flush()
            time.sleep(0.5)
    rows = wait_for(lambda: len(rows := csv_rows(out)) == 3 and rows, 60, "the new files", watch)
    assert {Path(r["path"]).name for r in rows} == {"img000.jpg", "img001.jpg", "slow.jpg"}
    assert next(r for r in rows if r["path"].endswith("slow.jpg"))["label"] == "espresso"

    watch.send_signal(signal.SIGINT)
    stdout, stderr = watch.communicate(timeout=60)
    assert watch.returncode == 0, stderr
    assert "Traceback" not in stderr and "3 classified, 0 failed" in stderr
    assert len(stdout.splitlines()) == 3
    assert len(csv_rows(out)) == 3
