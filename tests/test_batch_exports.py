"""CSV and JSON Lines exports: whole files, one row per file, exact names."""

from __future__ import annotations

import csv
import json
import os

import pytest

from tessera.batch.exports import atomic_writer, write_csv, write_jsonl
from tessera.batch.store import StoredResult

ODD = os.fsdecode(b"/photos/caf\xe9.jpg")
RESULTS = [
    StoredResult("/photos/a.jpg", 1234, 1_700_000_000_000_000_000, "h1",
                 [{"index": 281, "label": "tabby, tabby cat", "score": 0.81},
                  {"index": 282, "label": "tiger cat", "score": 0.12}], "webgpu", 12.34, None, 1.0),
    StoredResult(ODD, 5, 0, None, [], None, None, "the file is empty (0 bytes)", None),
]


def test_csv_has_one_row_per_file_and_stays_utf8(tmp_path):
    assert write_csv(RESULTS, tmp_path / "out.csv") == 2
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows[0] == {"path": "/photos/a.jpg", "ok": "yes", "label": "tabby, tabby cat", "score": "0.8100",
                       "top": "tabby, tabby cat (0.810); tiger cat (0.120)", "backend": "webgpu",
                       "ms": "12.3", "size": "1234", "modified": "2023-11-14T22:13:20+00:00",
                       "hash": "h1", "error": ""}
    assert (rows[1]["path"], rows[1]["ok"], rows[1]["error"]) == \
        ("/photos/caf\\xe9.jpg", "no", "the file is empty (0 bytes)")


def test_jsonl_keeps_exact_file_names(tmp_path):
    write_jsonl(RESULTS, tmp_path / "out.jsonl")
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert records[0]["top"][0]["label"] == "tabby, tabby cat" and records[0]["ok"] is True
    assert os.fsencode(records[1]["path"]) == b"/photos/caf\xe9.jpg"
    assert records[1] == {"path": ODD, "ok": False, "size": 5, "mtime_ns": 0, "hash": None,
                          "error": "the file is empty (0 bytes)"}


def test_a_failed_export_leaves_the_previous_one_and_no_temporary_file(tmp_path):
    write_csv(RESULTS, tmp_path / "out.csv")
    before = (tmp_path / "out.csv").read_bytes()

    def dying():
        yield RESULTS[0]
        raise RuntimeError("killed mid-export")

    with pytest.raises(RuntimeError):
        write_csv(dying(), tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_bytes() == before
    assert os.listdir(tmp_path) == ["out.csv"]


def test_atomic_writer_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    with atomic_writer(target) as f:
        f.write("new")
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o640
