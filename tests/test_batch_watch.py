"""FolderWatcher with the real watchdog observer on real folders (short stability intervals)."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest
from PIL import Image

from tessera.batch.runner import BatchRunner, Classified
from tessera.batch.store import NewResult, ResultStore
from tessera.batch.watch import FolderWatcher

STABLE_S = 0.3


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "results.sqlite3") as s:
        yield s


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def collect(watcher, until, timeout=8.0):
    """Ready files, by name, until the predicate holds on them (or timeout), plus a settle time."""
    names, deadline = [], time.monotonic() + timeout
    while not until(names) and time.monotonic() < deadline:
        names += [os.path.relpath(f.path, watcher.root) for f in watcher.wait_ready(0.2)]
    for _ in range(3):       # anything handed over twice would show up now
        names += [os.path.relpath(f.path, watcher.root) for f in watcher.wait_ready(STABLE_S)]
    return names


def png_bytes(tmp_path, colour=(200, 30, 30)):
    Image.new("RGB", (64, 48), colour).save(tmp_path / "source.png")
    return (tmp_path / "source.png").read_bytes()


def test_a_file_written_slowly_is_handed_over_once_when_complete(tmp_path, root, store):
    data = png_bytes(tmp_path)
    with FolderWatcher(root, store, stable_s=STABLE_S) as watcher:
        with open(root / "slow.png", "wb") as f:
            for start in range(0, len(data), len(data) // 6 + 1):
                f.write(data[start:start + len(data) // 6 + 1])
                f.flush()
                assert watcher.wait_ready(0.1) == []      # never while it is still growing
        names = collect(watcher, lambda n: "slow.png" in n)
    assert names == ["slow.png"]


def test_a_folder_moved_in_with_files_inside_is_picked_up(tmp_path, root, store):
    outside = tmp_path / "camera"
    (outside / "day1").mkdir(parents=True)
    data = png_bytes(tmp_path)
    for rel in ("a.png", "day1/b.png"):
        (outside / rel).write_bytes(data)
    (outside / "notes.txt").write_text("not a photo")
    with FolderWatcher(root, store, stable_s=STABLE_S) as watcher:
        os.rename(outside, root / "camera")
        names = collect(watcher, lambda n: len(n) >= 2)
    assert sorted(names) == ["camera/a.png", "camera/day1/b.png"]


def test_files_in_a_new_subfolder_are_all_found(tmp_path, root, store):
    data = png_bytes(tmp_path)
    with FolderWatcher(root, store, stable_s=STABLE_S) as watcher:
        (root / "new").mkdir()
        for i in range(5):
            (root / "new" / f"{i}.png").write_bytes(data)
        names = collect(watcher, lambda n: len(n) >= 5)
    assert sorted(names) == [f"new/{i}.png" for i in range(5)]


def test_the_watched_folder_can_vanish_and_come_back(tmp_path, root, store):
    data = png_bytes(tmp_path)
    with FolderWatcher(root, store, stable_s=STABLE_S) as watcher:
        (root / "first.png").write_bytes(data)
        assert collect(watcher, lambda n: "first.png" in n) == ["first.png"]
        shutil.rmtree(root)
        assert watcher.wait_ready(STABLE_S) == []
        root.mkdir()
        watcher.wait_ready(STABLE_S)               # it notices the folder is back
        (root / "second.png").write_bytes(data)
        assert collect(watcher, lambda n: "second.png" in n) == ["second.png"]


def test_renames_and_deletions_update_the_store(tmp_path, root, store):
    data = png_bytes(tmp_path)
    (root / "a.png").write_bytes(data)
    (root / "gone.png").write_bytes(data)
    st = os.stat(root / "a.png")
    run = store.begin_run("m")
    top = [{"index": 0, "label": "red", "score": 0.9}]
    store.record_results([NewResult(str(root / name), st.st_size, st.st_mtime_ns, "h", top)
                          for name in ("a.png", "gone.png")], run)
    with FolderWatcher(root, store, stable_s=STABLE_S) as watcher:
        os.rename(root / "a.png", root / "b.png")
        os.unlink(root / "gone.png")
        names = collect(watcher, lambda n: "b.png" in n)
    assert names == ["b.png"]            # handed over, and the runner will find it done
    assert store.result_for(str(root / "a.png"), "m") is None
    assert store.result_for(str(root / "b.png"), "m").top == top
    assert store.result_for(str(root / "gone.png"), "m") is None
    assert store.known_hash(str(root / "b.png"), st.st_size, st.st_mtime_ns) == "h"


def wait_for_result(store, path, timeout=8.0):
    deadline = time.monotonic() + timeout
    while store.result_for(str(path), "m") is None and time.monotonic() < deadline:
        time.sleep(0.05)


def test_watch_mode_classifies_arrivals_and_stops_cleanly(tmp_path, root, store):
    data = png_bytes(tmp_path)
    (root / "before.png").write_bytes(data)
    batches = []
    runner = BatchRunner(store, "m", lambda px: batches.append(len(px)) or
                         [Classified([{"index": 0, "label": "red", "score": 1.0}])] * len(px),
                         min_side=32)
    with FolderWatcher(root, store, stable_s=STABLE_S) as watcher:
        worker = threading.Thread(target=runner.watch, args=(watcher,), kwargs={"poll_s": 0.1})
        worker.start()
        wait_for_result(store, root / "before.png")          # the first pass
        (root / "after.png").write_bytes(png_bytes(tmp_path, (10, 200, 10)))
        wait_for_result(store, root / "after.png")
        runner.stop.set()
        worker.join(5)
    assert not worker.is_alive()
    assert batches == [1, 1]
    assert [os.path.basename(r.path) for r in store.run_results(runner.run_id)] == ["after.png", "before.png"]
    assert all(r.ok for r in store.run_results(runner.run_id))
