"""sort_into(): one folder per top-1 label, never overwriting, never moving errors or guesses."""

from __future__ import annotations

import os

from tessera.batch.sort import folder_name, sort_into
from tessera.batch.store import NewResult, ResultStore, StoredResult


def labelled(path, label, score=0.9):
    return StoredResult(str(path), 1, 1, "h", [{"index": 0, "label": label, "score": score}],
                        "webgpu", 1.0, None, 1.0)


def test_copies_go_to_label_folders_without_overwriting(tmp_path):
    src, dest = tmp_path / "in", tmp_path / "sorted"
    (src / "a").mkdir(parents=True)
    (src / "cat.jpg").write_bytes(b"one")
    (src / "a" / "cat.jpg").write_bytes(b"two")
    (dest / "tabby").mkdir(parents=True)
    (dest / "tabby" / "cat.jpg").write_bytes(b"already there")
    report = sort_into([labelled(src / "cat.jpg", "tabby, tabby cat"),
                        labelled(src / "a" / "cat.jpg", "tabby, tabby cat")], dest)
    assert [os.path.relpath(to, dest) for _, to in report.placed] == ["tabby/cat (2).jpg", "tabby/cat (3).jpg"]
    assert (dest / "tabby" / "cat.jpg").read_bytes() == b"already there"
    assert (dest / "tabby" / "cat (2).jpg").read_bytes() == b"one"
    assert (dest / "tabby" / "cat (3).jpg").read_bytes() == b"two"
    assert (src / "cat.jpg").exists()          # copied, not moved


def test_errors_and_guesses_stay_where_they_are(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"x")
    (tmp_path / "unsure.jpg").write_bytes(b"x")
    failed = StoredResult(str(tmp_path / "bad.jpg"), 1, 1, "h", [], None, None, "corrupt", 1.0)
    report = sort_into([failed, labelled(tmp_path / "unsure.jpg", "cat", 0.1)], tmp_path / "out",
                       move=True, min_score=0.3)
    assert report.placed == []
    assert [why for _, why in report.left] == ["its result is an error (corrupt)",
                                               "its best label scores 0.10, below 0.30"]
    assert (tmp_path / "bad.jpg").exists() and (tmp_path / "unsure.jpg").exists()
    assert not (tmp_path / "out").exists()


def test_moves_update_the_store(tmp_path):
    photo = tmp_path / "dog.jpg"
    photo.write_bytes(b"woof")
    with ResultStore(tmp_path / "r.sqlite3") as store:
        run = store.begin_run("m")
        store.record_results([NewResult(str(photo), 4, 1, "h", [{"index": 0, "label": "beagle", "score": 0.9}])], run)
        report = sort_into(store.run_results(run), tmp_path / "sorted", move=True, store=store)
        moved = tmp_path / "sorted" / "beagle" / "dog.jpg"
        assert report.placed == [(str(photo), str(moved))]
        assert not photo.exists() and moved.read_bytes() == b"woof"
        assert [r.path for r in store.run_results(run)] == [str(moved)]
        again = sort_into(store.run_results(run), tmp_path / "sorted", move=True, store=store)
        assert again.left == [(str(moved), "it is already in its folder")]


def test_label_folder_names_are_safe_everywhere():
    assert folder_name("tabby, tabby cat") == "tabby"
    assert folder_name('a/b\\c:d*e?"f<g>h|i') == "a_b_c_d_e__f_g_h_i"
    assert folder_name("..") == "unnamed label"
