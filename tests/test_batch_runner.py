"""BatchRunner over real files and the real store, with a deterministic stand-in for the page."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from PIL import Image

from tessera.batch.runner import BatchRunner, Classified, Status
from tessera.batch.stopping import stop_on_interrupt
from tessera.batch.store import ResultStore
from tessera.paths import REPO_ROOT, SAMPLES_DIR

COLOURS = ("red", "green", "blue")


def fake_classify(pixels_list):
    """The strongest channel is the label: a function of the pixels, like the real model."""
    out = []
    for pixels in pixels_list:
        means = pixels.reshape(-1, 3).mean(axis=0)
        order = np.argsort(-means)
        out.append(Classified([{"index": int(i), "label": COLOURS[i], "score": float(means[i] / 255)}
                               for i in order[:2]], "fake", 1.0))
    return out


class Recorder:
    def __init__(self):
        self.batches, self.outcomes = [], []

    def classify(self, pixels_list):
        self.batches.append([p.shape for p in pixels_list])
        return fake_classify(pixels_list)

    def runner(self, store, **kw):
        return BatchRunner(store, "fake-model", self.classify, on_outcome=self.outcomes.append, **kw)

    def by_path(self):
        return {os.path.basename(o.path): o for o in self.outcomes}


def solid(path, colour, size=(300, 200)):
    Image.new("RGB", size, colour).save(path)


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "results.sqlite3") as s:
        yield s


def test_every_bad_input_is_one_error_row_and_the_batch_goes_on(tmp_path, store):
    photos = tmp_path / "photos"
    photos.mkdir()
    solid(photos / "red.png", (250, 10, 10))
    solid(os.path.join(os.fsencode(photos), b"gr\xfcn.png"), (10, 250, 10))
    (photos / "empty.jpg").write_bytes(b"")
    whole = (SAMPLES_DIR / "rocket.jpg").read_bytes()
    (photos / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    (photos / "text.png").write_text("not a picture")
    (photos / "x.jpg").mkdir()
    os.symlink("loop.jpg", photos / "loop.jpg")
    solid(photos / "locked.png", (10, 10, 250))
    os.chmod(photos / "locked.png", 0)
    (photos / "notes.txt").write_text("skip me")

    rec = Recorder()
    runner = rec.runner(store, min_side=64, batch_size=3)
    summary = runner.run([photos])
    got = rec.by_path()
    reasons = {name: o.reason for name, o in got.items() if o.status is Status.FAILED}
    assert reasons == {
        "empty.jpg": "the file is empty (0 bytes)",
        "truncated.jpg": reasons["truncated.jpg"],
        "text.png": "not an image file, or an image format Tessera can't read",
        "x.jpg": "a folder, not an image file",
        "loop.jpg": "a symbolic link loop",
        **({} if os.geteuid() == 0 else {"locked.png": "permission denied"}),
    }
    assert reasons["truncated.jpg"].startswith("the image data is corrupt or truncated")
    assert got["red.png"].top[0]["label"] == "red"
    assert got[os.fsdecode(b"gr\xfcn.png")].top[0]["label"] == "green"
    # As root, chmod 000 does not stop reads, so the locked file is classified like any other.
    assert got["locked.png"].status is (Status.CLASSIFIED if os.geteuid() == 0 else Status.FAILED)
    assert got["notes.txt"].status is Status.SKIPPED
    assert summary.counts[Status.FAILED] == len(reasons)
    exported = list(store.run_results(runner.run_id))
    assert sorted(os.path.basename(r.path) for r in exported) == sorted(n for n in got if n != "notes.txt")
    assert all(shape[0] == 64 or shape[1] == 64 for batch in rec.batches for shape in batch)


def test_rerun_skips_everything_and_a_renamed_file_is_not_reprocessed(tmp_path, store):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, colour in enumerate([(200, 0, 0), (0, 200, 0), (0, 0, 200), (90, 90, 0)]):
        solid(photos / f"{i}.png", colour)
    first = Recorder()
    assert first.runner(store).run([photos]).counts[Status.CLASSIFIED] == 4

    os.rename(photos / "0.png", photos / "renamed.png")
    solid(photos / "1.png", (0, 0, 90))                        # new content under an old name
    again = Recorder()
    runner = again.runner(store)
    summary = runner.run([photos])
    assert summary.counts[Status.CLASSIFIED] == 1 and summary.counts[Status.ALREADY_DONE] == 3
    assert again.by_path()["1.png"].top[0]["label"] == "blue"
    assert again.by_path()["renamed.png"].top[0]["label"] == "red"     # from the store
    assert sum(len(b) for b in again.batches) == 1
    assert [os.path.basename(r.path) for r in store.run_results(runner.run_id)] == \
        ["1.png", "2.png", "3.png", "renamed.png"]


def test_stop_finishes_the_batch_in_flight_and_the_next_run_resumes(tmp_path, store):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(7):
        solid(photos / f"{i}.png", (30 * i, 0, 0))
    stop = threading.Event()
    interrupted = BatchRunner(store, "fake-model", lambda pixels: stop.set() or fake_classify(pixels),
                              batch_size=3, stop=stop)      # Ctrl-C while the first batch runs
    summary = interrupted.run([photos])
    assert summary.stopped and summary.counts[Status.CLASSIFIED] == 3
    rest = Recorder()
    assert rest.runner(store, batch_size=3).run([photos]).counts == {
        Status.CLASSIFIED: 4, Status.ALREADY_DONE: 3, Status.FAILED: 0, Status.SKIPPED: 0}


def test_interrupt_sets_stop_first_and_interrupts_the_second_time():
    stop = threading.Event()
    before = signal.getsignal(signal.SIGINT)    # SIG_IGN when the suite runs in the background
    with stop_on_interrupt(stop):
        # raise_signal delivers to this thread at once; os.kill may land on another thread and
        # reach the handler only some bytecodes later.
        signal.raise_signal(signal.SIGINT)
        assert stop.is_set()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


CRASHING_RUN = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[5])
    from pathlib import Path
    from test_batch_runner import fake_classify
    from tessera.batch.exports import write_csv, write_jsonl
    from tessera.batch.runner import BatchRunner, Status
    from tessera.batch.store import ResultStore

    folder, db, export, log = sys.argv[1:5]
    def slow_classify(pixels):
        time.sleep(0.05)
        return fake_classify(pixels)
    with ResultStore(Path(db)) as store, open(log, "a") as classified:
        def export_all():
            write_csv(store.run_results(runner.run_id), Path(export + ".csv"))
            write_jsonl(store.run_results(runner.run_id), Path(export + ".jsonl"))
        def note(outcome):
            if outcome.status is Status.CLASSIFIED:
                classified.write(outcome.path + "\\n")
                classified.flush()
        runner = BatchRunner(store, "fake-model", slow_classify, batch_size=4, min_side=32,
                             on_outcome=note, after_batch=export_all)
        runner.run([folder])
""")


def test_kill_9_midway_then_rerun_records_every_file_exactly_once(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(40):
        solid(photos / f"{i:02d}.png", (i * 6, 255 - i * 6, 7 * (i % 5)), size=(48, 40))
    db, export, log = tmp_path / "r.sqlite3", tmp_path / "out", tmp_path / "classified.log"
    args = [sys.executable, "-c", CRASHING_RUN, str(photos), str(db), str(export), str(log),
            os.path.dirname(__file__)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "desktop")}

    def results_in_store() -> set[str]:
        if not db.exists():
            return set()
        conn = sqlite3.connect(db)
        try:
            return {os.fsdecode(p) for (p,) in conn.execute("SELECT path FROM results")}
        except sqlite3.OperationalError:      # not created yet
            return set()
        finally:
            conn.close()

    victim = subprocess.Popen(args, env=env)
    deadline = time.monotonic() + 60
    while len(results_in_store()) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    before = results_in_store()
    assert 8 <= len(before) < 40, "the run was meant to be killed midway"
    if export.with_suffix(".csv").exists():       # an export from before the kill is whole
        with open(export.with_suffix(".csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        assert len({r["path"] for r in rows}) == len(rows) and all(r["ok"] == "yes" for r in rows)
    first_run = log.read_text().splitlines()

    subprocess.run(args, env=env, check=True, timeout=120)
    second_run = log.read_text().splitlines()[len(first_run):]
    assert not set(second_run) & before, "a file recorded before the kill was classified again"
    assert len(results_in_store()) == 40
    with open(export.with_suffix(".csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in photos.iterdir())
    lines = export.with_suffix(".jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["path"] for line in lines) == sorted(r["path"] for r in rows)
