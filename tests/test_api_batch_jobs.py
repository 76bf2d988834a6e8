"""The Batch view's API without a browser: a small Python "page" answers the batches the way
the Batch view does. Only folders the user granted are read, only chosen output folders are
written, one job runs at a time, Cancel finishes the batch in flight, a page that goes away
ends the job with its exports written, watch mode picks up new files until Cancel."""

from __future__ import annotations

import csv
import json
import threading
import time

import pytest

from tessera.jobs import app_batch
from tests.api_client import api_server, call, grant_folder  # noqa: F401 (fixture)
from tests.test_batch_decode import png_header_only
from tests.test_cli_batch import write_noise_images

MODEL = "efficientnet-lite0"
TABBY = [{"index": 281, "label": "tabby, tabby cat", "score": 0.9}]


@pytest.fixture(autouse=True)
def models(bundled_models):
    return bundled_models


class FakePage(threading.Thread):
    """Pulls each batch and answers "tabby" for every image, polling the job's state as the
    view does. With hold_after=N it waits for `release` before posting batch N+1."""

    def __init__(self, srv, job: dict, hold_after: int | None = None):
        super().__init__(daemon=True)
        self.srv, self.job, self.hold_after = srv, job, hold_after
        self.release = threading.Event()
        self.batches = 0

    def run(self):
        try:
            self.answer()
        except ConnectionError:   # the test ended and stopped the server under a poll: done too
            pass

    def answer(self):
        url = f"/api/jobs/{self.job['page_job']}/batch"
        while True:
            call(self.srv, "GET", f"/api/batch-jobs/{self.job['id']}")
            status, _, resp = call(self.srv, "GET", url)
            if status == 410:
                return
            if status != 200:
                continue
            batch = json.loads(resp.getheader("X-Tessera-Batch"))
            if self.hold_after is not None and self.batches >= self.hold_after:
                self.release.wait(30)
            results = [{"ok": True, "top": TABBY, "backend": "fake", "ms": 1.0} for _ in batch["sizes"]]
            call(self.srv, "POST", url, {"seq": batch["seq"], "results": results})
            self.batches += 1


def start(srv, body: dict) -> tuple[int, dict]:
    status, reply, _ = call(srv, "POST", "/api/batch-jobs", {"model": MODEL, **body})
    return status, reply


def wait_for(srv, job_id: str, done, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        _, state, _ = call(srv, "GET", f"/api/batch-jobs/{job_id}")
        if done(state) or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def finished(state: dict) -> bool:
    return state["state"] in ("finished", "failed")


def photo_folder(tmp_path):
    photos = tmp_path / "photos"
    write_noise_images(photos, 3)
    (photos / "corrupt.png").write_bytes(png_header_only(64, 48))
    (photos / "notes.jpg").write_text("this is text, not a photo")
    (photos / "readme.md").write_text("not an image")
    return photos


def test_a_job_reads_granted_folders_and_writes_only_into_chosen_output_folders(api_server, tmp_path):
    photos = photo_folder(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    source, output = grant_folder(api_server, photos), grant_folder(api_server, out, role="output")
    body = {"folders": [source["id"]], "xmp": True,
            "sort": {"folder": output["id"], "move": False, "min_score": 0.5},
            "export": {"folder": output["id"], "formats": ["csv", "jsonl"]}}
    status, job = start(api_server, body)
    assert status == 201, job
    FakePage(api_server, job).start()
    state = wait_for(api_server, job["id"], finished)

    assert state["state"] == "finished" and state["error"] is None, state
    assert state["counts"] == {"classified": 3, "already done": 0, "failed": 2, "skipped": 1}
    assert state["progress"]["count"] == state["progress"]["total"] == 5
    rows = {r["file"]: r for r in state["outcomes"]}
    assert rows["photos/img000.jpg"]["label"] == "tabby, tabby cat"
    assert rows["photos/corrupt.png"]["status"] == "failed" and rows["photos/corrupt.png"]["reason"]
    assert rows["photos/notes.jpg"]["status"] == "failed"
    assert rows["photos/readme.md"]["status"] == "skipped"

    csv_name, jsonl_name = state["exports"]
    assert csv_name.endswith(".csv") and jsonl_name == csv_name.replace(".csv", ".jsonl")
    with open(out / csv_name, newline="") as f:
        exported = [r["path"] for r in csv.DictReader(f)]
    assert sorted(exported) == sorted(str(photos / n) for n in
                                      ["img000.jpg", "img001.jpg", "img002.jpg", "corrupt.png", "notes.jpg"])
    assert len((out / jsonl_name).read_text().splitlines()) == 5
    assert sorted(p.name for p in (out / "tabby").iterdir()) == ["img000.jpg", "img001.jpg", "img002.jpg"]
    assert state["sorted"] == 3 and state["sidecars"] == 3
    assert "tabby" in (photos / "img000.jpg.xmp").read_text()
    assert (photos / "img000.jpg").exists()       # copied, not moved

    # The same folder again: every image is already done, and the first exports are kept.
    status, again = start(api_server, {"folders": [source["id"]], "export": body["export"]})
    FakePage(api_server, again).start()
    state = wait_for(api_server, again["id"], finished)
    assert state["counts"]["already done"] == 5 and state["counts"]["classified"] == 0
    assert state["exports"][0] == csv_name.replace(".csv", " (2).csv")
    assert (out / csv_name).read_text().count("\n") == 6


def test_refusals_name_the_problem(api_server, tmp_path):
    photos = photo_folder(tmp_path)
    source = grant_folder(api_server, photos)
    inside = photos / "sorted"
    inside.mkdir()
    inside_output = grant_folder(api_server, inside, role="output")

    status, reply = start(api_server, {"folders": ["not-a-grant"]})
    assert status == 403 and "not one you granted" in reply.decode()
    status, reply = start(api_server, {"folders": [source["id"]], "export": {"folder": source["id"], "formats": ["csv"]}})
    assert status == 403 and "not an output folder you chose" in reply.decode()
    status, reply = start(api_server, {"folders": [source["id"]], "sort": {"folder": inside_output["id"]}})
    assert status == 400 and "outside the photo folders" in reply.decode()
    status, reply = start(api_server, {"folders": [source["id"]], "model": "no-such-model"})
    assert status == 400 and "no model named" in reply.decode()
    status, reply = start(api_server, {"folders": []})
    assert status == 400 and "Add at least one folder" in reply.decode()
    assert not list(inside.iterdir())


def test_one_job_at_a_time_and_a_page_that_gives_up_still_gets_its_exports(api_server, tmp_path):
    photos = photo_folder(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    source, output = grant_folder(api_server, photos), grant_folder(api_server, out, role="output")
    status, first = start(api_server, {"folders": [source["id"]],
                                       "export": {"folder": output["id"], "formats": ["csv"]}})
    assert status == 201
    # No page answers: the first batch waits, and the job is still running.
    status, reply = start(api_server, {"folders": [source["id"]]})
    assert status == 409 and "already running" in reply.decode()

    call(api_server, "POST", f"/api/batch-jobs/{first['id']}/give-up", {"reason": "The window was closed."})
    state = wait_for(api_server, first["id"], finished)
    assert state["state"] == "failed" and state["error"] == "The window was closed."
    # The errors found before the first batch are in the export; the batch never answered is not.
    with open(out / state["exports"][0], newline="") as f:
        assert {r["ok"] for r in csv.DictReader(f)} <= {"no"}
    status, _ = start(api_server, {"folders": [source["id"]]})
    assert status == 201


def test_a_page_that_stops_polling_ends_the_job(api_server, tmp_path, monkeypatch):
    monkeypatch.setattr(app_batch, "PAGE_GONE_S", 0.5)
    source = grant_folder(api_server, photo_folder(tmp_path))
    _, job = start(api_server, {"folders": [source["id"]]})
    time.sleep(1.0)
    state = wait_for(api_server, job["id"], finished)
    assert state["state"] == "failed" and "window stopped answering" in state["error"]


def test_cancel_finishes_the_batch_in_flight(api_server, tmp_path):
    photos = tmp_path / "many"
    write_noise_images(photos, 3 * app_batch.BATCH_SIZE)
    source = grant_folder(api_server, photos)
    _, job = start(api_server, {"folders": [source["id"]]})
    page = FakePage(api_server, job, hold_after=1)
    page.start()
    wait_for(api_server, job["id"], lambda s: s["counts"]["classified"] == app_batch.BATCH_SIZE)
    status, state, _ = call(api_server, "POST", f"/api/batch-jobs/{job['id']}/cancel")
    assert state["state"] == "stopping"
    page.release.set()
    state = wait_for(api_server, job["id"], finished)
    assert state["state"] == "finished" and state["cancelled"]
    assert state["counts"]["classified"] == 2 * app_batch.BATCH_SIZE
    page.join(15)
    assert not page.is_alive()      # the page heard that the job has no more batches


def test_watch_classifies_new_files_until_cancel(api_server, tmp_path, monkeypatch):
    monkeypatch.setattr(app_batch, "WATCH_STABLE_S", 0.2)
    photos = tmp_path / "inbox"
    write_noise_images(photos, 1)
    source = grant_folder(api_server, photos)
    _, job = start(api_server, {"folders": [source["id"]], "watch": True})
    FakePage(api_server, job).start()
    wait_for(api_server, job["id"], lambda s: s["watching"])
    write_noise_images(photos, 1, start=7)
    state = wait_for(api_server, job["id"], lambda s: s["counts"]["classified"] == 2)
    assert [r["file"] for r in state["outcomes"]] == ["inbox/img000.jpg", "inbox/img007.jpg"]
    call(api_server, "POST", f"/api/batch-jobs/{job['id']}/cancel")
    state = wait_for(api_server, job["id"], finished)
    assert state["state"] == "finished" and state["error"] is None


def test_stopping_the_server_ends_a_running_job_with_its_batch_in_flight(api_server, tmp_path):
    photos = tmp_path / "many"
    write_noise_images(photos, 3 * app_batch.BATCH_SIZE)
    source = grant_folder(api_server, photos)
    _, job = start(api_server, {"folders": [source["id"]]})
    page = FakePage(api_server, job, hold_after=1)
    page.start()
    wait_for(api_server, job["id"], lambda s: s["counts"]["classified"] == app_batch.BATCH_SIZE)
    threading.Timer(0.5, page.release.set).start()   # the page answers while the server stops
    api_server.stop()
    ended = api_server.api.batch_jobs.latest
    assert not ended.running and ended.progress.count == 2 * app_batch.BATCH_SIZE
