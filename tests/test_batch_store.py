"""ResultStore: schema versions, lookups by path and by content, renames and deletions."""

from __future__ import annotations

import os
import sqlite3

import pytest

from tessera.batch.content_hash import hash_file
from tessera.batch.store import MIGRATIONS, NewResult, ResultStore, StoreError, migrate

TOP = [{"index": 1, "label": "cat", "score": 0.9}]


def result(path, hash="h1", **kw):
    return NewResult(path, 10, 20, hash, **{"top": TOP, "backend": "webgpu", "ms": 3.0, **kw})


def test_new_store_is_wal_at_the_latest_schema(tmp_path):
    with ResultStore(tmp_path / "r.sqlite3") as store:
        pass
    conn = sqlite3.connect(tmp_path / "r.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]


def test_migrations_run_once_in_order_and_newer_stores_are_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / "r.sqlite3", isolation_level=None)
    later = MIGRATIONS + (("ALTER TABLE results ADD COLUMN note TEXT",),)
    assert migrate(conn) == len(MIGRATIONS)
    assert migrate(conn, later) == len(MIGRATIONS) + 1
    assert migrate(conn, later) == len(MIGRATIONS) + 1          # nothing left to do
    assert "note" in [c[1] for c in conn.execute("PRAGMA table_info(results)")]
    conn.close()
    with pytest.raises(StoreError, match="written by a newer Tessera"):
        ResultStore(tmp_path / "r.sqlite3")


def test_results_are_keyed_by_content_and_model(tmp_path):
    with ResultStore(tmp_path / "r.sqlite3") as store:
        run = store.begin_run("lite0")
        store.record_results([result("/p/a.jpg")], run)
        assert store.known_hash("/p/a.jpg", 10, 20) == "h1"
        assert store.known_hash("/p/a.jpg", 10, 21) is None          # touched since: hash again
        assert store.is_done("h1", "lite0") and not store.is_done("h1", "mobilenet")
        stored = store.result_for("/p/a.jpg", "lite0")
        assert (stored.top, stored.backend, stored.ok) == (TOP, "webgpu", True)
        store.record_results([result("/p/bad.jpg", "h2", top=None, error="corrupt")], run)
        assert store.is_done("h2", "lite0") and not store.is_done("h2", "lite0", errors_count=False)


def test_a_run_lists_the_files_it_met_once_each(tmp_path):
    with ResultStore(tmp_path / "r.sqlite3") as store:
        first = store.begin_run("m")
        store.record_results([result("/p/a.jpg"), result("/p/old.jpg", "h9")], first)
        second = store.begin_run("m")
        store.record_results([result("/p/b.jpg", "h2")], second)
        store.mark_seen(["/p/a.jpg"], second)
        store.record_files([("/p/copy.jpg", 10, 20, "h1")], second)      # same content as a.jpg
        store.record_file_errors([("/p/x.jpg", "a folder, not an image file")], second)
        rows = list(store.run_results(second))
    assert [(r.path, r.ok, r.error) for r in rows] == [
        ("/p/a.jpg", True, None), ("/p/b.jpg", True, None), ("/p/copy.jpg", True, None),
        ("/p/x.jpg", False, "a folder, not an image file")]
    assert rows[2].top == TOP


def test_rename_and_forget_cover_folders_but_not_their_neighbours(tmp_path):
    with ResultStore(tmp_path / "r.sqlite3") as store:
        run = store.begin_run("m")
        store.record_results([result("/p/a/1.jpg"), result("/p/a/2.jpg", "h2"),
                              result("/p/ab.jpg", "h3")], run)
        store.rename("/p/a", "/p/b")
        store.rename("/p/ab.jpg", "/p/c.jpg")
        assert [r.path for r in store.run_results(run)] == ["/p/b/1.jpg", "/p/b/2.jpg", "/p/c.jpg"]
        store.forget("/p/b")
        assert [r.path for r in store.run_results(run)] == ["/p/c.jpg"]
        assert store.is_done("h1", "m")          # the result stays: the photo may come back


def test_non_utf8_paths_round_trip(tmp_path):
    odd = os.fsdecode(b"/p/caf\xe9.jpg")
    with ResultStore(tmp_path / "r.sqlite3") as store:
        run = store.begin_run("m")
        store.record_results([result(odd)], run)
        assert [r.path for r in store.run_results(run)] == [odd]
        assert store.known_hash(odd, 10, 20) == "h1"


def test_content_hash_streams_the_file(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 3_000_000)
    (tmp_path / "b").write_bytes(b"x" * 3_000_000)
    (tmp_path / "c").write_bytes(b"x" * 2_999_999 + b"y")
    a, b, c = (hash_file(tmp_path / n) for n in "abc")
    assert a.hash == b.hash != c.hash and a.size == 3_000_000


def test_the_store_lives_in_the_user_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    with ResultStore() as store:
        assert store.path == tmp_path / "data" / "results.sqlite3" and store.path.is_file()
