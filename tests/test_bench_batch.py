"""`tessera bench --batch` on four tiny generated JPEGs: every rate and stage is there and adds up."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def own_user_data(tmp_path, monkeypatch):
    data = tmp_path / "user-data"
    data.mkdir()
    monkeypatch.setenv("TESSERA_DATA_DIR", str(data))


def test_batch_bench_reports_rates_and_where_the_time_went(run_cli, own_user_data, tmp_path):
    artifacts = tmp_path / "artifacts"
    r = run_cli("bench", "--batch", "--batch-images", "4", "--batch-megapixels", "0.05", "--batch-size", "3",
                "--backend", "wasm", "--artifacts", str(artifacts),
                "--json", str(tmp_path / "batch.json"), "--markdown", str(tmp_path / "batch.md"))
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "batch.json").read_text())
    assert report["schema"] == "tessera-bench-batch/1"
    assert len(list(artifacts.glob("batch-photos/*/*.jpg"))) == 4

    settings, rates, tessera = report["settings"], report["rates"], report["tessera"]
    assert settings["images"] == 4 and settings["batch_size"] == 3 and settings["model"] == "efficientnet-lite0"
    assert all(rates[k] > 0 for k in ("decode_only", "tessera", "ort_cpu_script"))
    assert tessera["backend"] == "wasm" and tessera["classified"] == 4 and tessera["failed"] == 0
    assert rates["tessera"] == pytest.approx(4 / tessera["wall_s"])
    assert report["tessera_vs_decode_only"] == pytest.approx(rates["tessera"] / rates["decode_only"])
    stages = tessera["stages_s"]
    assert set(stages) == {"inference", "unpack", "transfer", "store", "waiting for decode"}
    assert all(seconds >= 0 for seconds in stages.values()) and stages["inference"] > 0
    assert sum(stages.values()) == pytest.approx(tessera["wall_s"], rel=0.01)

    assert "Tessera end to end" in r.stdout and "waiting for decode" in r.stdout
    markdown = (tmp_path / "batch.md").read_text()
    assert "| onnxruntime CPU script |" in markdown and "| inference |" in markdown
