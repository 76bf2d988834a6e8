"""`tessera classify` and `tessera doctor` end to end: real Chromium, real models, real photos."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

CATS = {"tiger cat", "Egyptian cat", "tabby, tabby cat"}
SAMPLES = REPO / "assets" / "samples"


@pytest.fixture(autouse=True)
def own_results_store(tmp_path, monkeypatch):
    """Each test starts with an empty results store, so every file here is really classified."""
    data = tmp_path / "user-data"
    data.mkdir()
    monkeypatch.setenv("TESSERA_DATA_DIR", str(data))


def json_lines(out: str) -> dict[str, dict]:
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {os.path.basename(r["path"]): r for r in rows}


def check_samples(rows: dict[str, dict], backend: str) -> None:
    assert CATS & {p["label"] for p in rows["chelsea.jpg"]["top"][:3]}, rows["chelsea.jpg"]
    assert rows["coffee.jpg"]["top"][0]["label"] == "espresso", rows["coffee.jpg"]
    for row in rows.values():
        assert row["ok"] and row["backend"] == backend and row["ms"] > 0
        scores = [p["score"] for p in row["top"]]
        assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0001


@pytest.mark.parametrize("model", ["efficientnet-lite0", "mobilenet-v2"])
def test_samples_on_wasm(run_cli, model):
    r = run_cli("classify", str(SAMPLES), "--backend", "wasm", "--json", "--model", model)
    assert r.returncode == 0, r.stderr
    rows = json_lines(r.stdout)
    assert set(rows) == {"astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg"}
    check_samples(rows, "wasm")
    assert all(len(row["top"]) == 5 for row in rows.values())


def test_webgpu_backend_on_the_software_adapter(run_cli):
    r = run_cli("classify", str(SAMPLES / "chelsea.jpg"), str(SAMPLES / "coffee.jpg"),
                "--backend", "webgpu", "--json", "--top", "3")
    assert r.returncode == 0, r.stderr
    rows = json_lines(r.stdout)
    check_samples(rows, "webgpu")
    assert all(len(row["top"]) == 3 for row in rows.values())


def test_auto_picks_wasm_when_the_only_adapter_is_software(run_cli):
    r = run_cli("classify", str(SAMPLES / "coffee.jpg"))
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    assert line.startswith(f"{SAMPLES / 'coffee.jpg'}: espresso ") and "[wasm, " in line
    assert "on wasm" in r.stderr


def test_bad_files_get_a_clear_error_and_the_rest_still_succeed(run_cli, tmp_path):
    good = SAMPLES / "coffee.jpg"
    data = good.read_bytes()
    (tmp_path / "corrupt.jpg").write_bytes(data[: len(data) // 4])
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("this is a text file, not a photo\n")
    args = [str(tmp_path / n) for n in ("corrupt.jpg", "empty.jpg", "notes.jpg")]
    r = run_cli("classify", *args, str(good), str(tmp_path / "missing.jpg"), "--backend", "wasm")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert len(lines) == 5
    assert lines[0] == f"{args[0]}: error: the image data is corrupt or truncated " \
                       "(image file is truncated)" or "corrupt or truncated" in lines[0]
    assert lines[1] == f"{args[1]}: error: the file is empty (0 bytes)"
    assert lines[2] == f"{args[2]}: error: not an image file, or an image format Tessera can't read"
    assert lines[3].startswith(f"{good}: espresso ")
    assert lines[4] == f"{tmp_path / 'missing.jpg'}: error: it does not exist (or is a broken symbolic link)"
    assert "1 classified, 4 failed" in r.stderr
    assert "Traceback" not in r.stdout + r.stderr


@pytest.mark.parametrize("args, env, message", [
    (["classify", "x.jpg", "--model", "nope"], {}, "There is no model named 'nope'"),
    (["classify", "assets/samples/coffee.jpg"], {"TESSERA_BROWSER": "/no/such/browser"},
     "TESSERA_BROWSER is set to '/no/such/browser'"),
    (["classify", "x.jpg", "--top", "0"], {}, "--top must be at least 1."),
])
def test_user_errors_are_one_sentence_and_exit_2(run_cli, args, env, message):
    r = run_cli(*args, env=env)
    assert r.returncode == 2
    assert r.stderr.startswith(f"tessera: {message}") and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_no_browser_installed(run_cli, tmp_path):
    env = {"PATH": str(tmp_path), "TESSERA_BROWSER": ""}
    r = subprocess.run([sys.executable, "-m", "tessera", "classify", "assets/samples/coffee.jpg"],
                       cwd=REPO, text=True, capture_output=True, env={**os.environ, **env})
    if any(os.path.exists(p) for p in ("/usr/lib/chromium/chromium", "/opt/google/chrome/chrome")):
        # Standard locations still find one: then the message must not appear.
        assert "No Chromium-family browser was found" not in r.stderr
    else:
        assert r.returncode == 2 and "No Chromium-family browser was found" in r.stderr


def test_doctor_reports_the_adapter_and_auto_choice(run_cli):
    r = run_cli("doctor", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["webgpu"] and report["adapter"]
    assert report["software"] is True and report["auto_backend"] == "wasm"
    assert report["crossOriginIsolated"] is True
    assert "maxStorageBufferBindingSize" in report["limits"]
    text = run_cli("doctor").stdout
    assert "adapter:" in text and "auto backend: wasm" in text
    # subgroup sizes come with the feature, and the text says both
    sizes = report.get("subgroupSizes")
    assert bool(sizes) == ("subgroups" in report["features"]) == ("subgroups: yes" in text), text
    assert not sizes or 1 <= sizes["min"] <= sizes["max"] <= 128
    # SwiftShader has no int8 subgroup matrices: the report and the text say so
    assert report["int8Matrices"] is False and "int8 matrix units: no" in text


def test_a_long_temp_folder_path_does_not_stop_the_browser(run_cli, tmp_path):
    """Chromium's socket lives under $TMPDIR, and a socket path has at most 107 bytes."""
    deep = tmp_path / ("a-temp-folder-with-a-long-name-" * 3)
    deep.mkdir()
    r = run_cli("doctor", env={"TMPDIR": str(deep)})
    assert r.returncode == 0 and "auto backend: wasm" in r.stdout, r.stderr


def _browsers_with(marker: str) -> list[str]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if marker in line and "ps -ww" not in line]


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"),
                                             (signal.SIGTERM, 143, "terminated"),
                                             (signal.SIGKILL, -9, None)])
def test_stopping_tessera_stops_its_browser(webapp_dist, bundled_models, tmp_path, sig, code, word):
    env = {**os.environ, "TMPDIR": str(tmp_path)}   # the throw-away profile lands in tmp_path
    # As from a terminal: a suite started in the background inherits SIGINT ignored.
    p = subprocess.Popen([sys.executable, "-m", "tessera", "classify", str(SAMPLES), "--backend", "webgpu"],
                         cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not _browsers_with(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not _browsers_with(str(tmp_path)):
        p.kill()
        pytest.fail(f"the browser never started: {p.communicate()}")
    time.sleep(1)
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == code and "Traceback" not in err, err
    if word:
        assert f"tessera: {word}." in err
    deadline = time.monotonic() + 10     # after kill -9, the kernel's parent-death signal acts
    while _browsers_with(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _browsers_with(str(tmp_path)) == []


@pytest.mark.parametrize("backend", ["webgpu", "wasm"])
def test_an_imported_classifier_classifies_photos(run_cli, tmp_path, backend):
    """An ONNX file says nothing of its preprocessing: the import assumes ImageNet's, and both
    backends turn photos into the model's input with it. The file is at the IR version today's
    onnx writes (14), past what onnxruntime-web reads: the wasm backend gets it restamped."""
    from tests.test_models_cli import tiny_classifier

    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps(["cat", "dog", "fox"]))
    r = run_cli("models", "import", str(tiny_classifier(tmp_path / "tiny.onnx")), "--name", "tiny",
                "--labels", str(labels))
    assert r.returncode == 0, r.stderr
    r = run_cli("classify", str(SAMPLES / "chelsea.jpg"), str(SAMPLES / "rocket.jpg"), "--model", "tiny",
                "--backend", backend, "--json", "--top", "3")
    assert r.returncode == 0, r.stderr
    for row in json_lines(r.stdout).values():
        assert row["ok"] and row["backend"] == backend, row
        assert sorted(p["label"] for p in row["top"]) == ["cat", "dog", "fox"]
        assert abs(sum(p["score"] for p in row["top"]) - 1) < 1e-4
