"""Bare `tessera`: the app window when a display exists, the help otherwise; each window
provider opens for real under Xvfb, and a second launch hands over to the running one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import json
import time

import pytest

from tests.conftest import REPO, other_thread


def test_without_a_display_it_prints_help(run_cli):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, "-m", "tessera"], cwd=REPO, env=env, text=True,
                       capture_output=True, timeout=60)
    assert r.returncode == 0
    assert r.stdout.startswith("usage: tessera") and "classify" in r.stdout


@pytest.fixture
def xvfb():
    display = f":{90 + os.getpid() % 500}"
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    assert proc.poll() is None, "Xvfb did not start"
    yield display
    proc.terminate()
    proc.wait(10)


def window_names(display: str) -> str:
    return subprocess.run(["xwininfo", "-root", "-tree"], env={**os.environ, "DISPLAY": display},
                          capture_output=True, text=True).stdout


def wait_for(condition, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert value, what
    return value


def running_api(data_dir, path: str) -> dict:
    """GET an API path of the running instance, found through its instance file."""
    import http.client

    info = json.loads((data_dir / "instance.json").read_text())
    conn = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=10)
    conn.request("GET", path, headers={"Host": f"127.0.0.1:{info['port']}", "X-Tessera-Token": info["secret"]})
    return json.loads(conn.getresponse().read())


def test_with_a_display_it_opens_the_app_window_and_closes_it_on_exit(webapp_dist, bundled_models,
                                                                       xvfb, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb, "TESSERA_DATA_DIR": str(tmp_path)}
    p = subprocess.Popen([sys.executable, "-m", "tessera"], cwd=REPO, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while '"Tessera"' not in window_names(xvfb) and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.5)
    if '"Tessera"' not in window_names(xvfb):
        p.kill()
        pytest.fail(f"no window titled Tessera appeared: {p.communicate()}")
    assert (tmp_path / "browser-profile").is_dir()     # its own profile, not the user's browser
    state = wait_for(lambda: running_api(tmp_path, "/api/adapter")["report"] and running_api(tmp_path, "/api/adapter"),
                     "the page reported no adapter")
    # Chromium has WebGPU, but under Xvfb without a GPU no hardware adapter: the banner says so.
    assert state["shell"] == "chromium-app" and state["report"]["webgpu"] and state["banner"]

    second = subprocess.run([sys.executable, "-m", "tessera"], cwd=REPO, env=env, text=True,
                            capture_output=True, timeout=60)
    assert second.returncode == 0 and "already open" in second.stderr
    wait_for(lambda: window_names(xvfb).count('"Tessera"') >= 2, "the second launch opened no window")

    # To a thread other than the main one (the OS may pick any): the main thread must still stop.
    os.kill(other_thread(p.pid), signal.SIGTERM)
    p.communicate(timeout=30)
    assert p.returncode == 143
    time.sleep(1)
    assert '"Tessera"' not in window_names(xvfb)


def test_pywebview_qt_window_runs_on_wasm_with_a_banner_and_remembers_its_geometry(
        webapp_dist, bundled_models, xvfb, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb, "TESSERA_DATA_DIR": str(tmp_path)}
    p = subprocess.Popen([sys.executable, "-m", "tessera", "--shell", "pywebview"], cwd=REPO, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: '"Tessera"' in window_names(xvfb), "no window titled Tessera appeared")
    state = wait_for(lambda: running_api(tmp_path, "/api/adapter")["report"] and running_api(tmp_path, "/api/adapter"),
                     "the page reported no adapter", timeout=90)
    assert state["shell"] == "pywebview" and not state["report"]["adapter"]   # Qt WebEngine: no Dawn
    assert "built without WebGPU" in state["banner"]

    second = subprocess.run([sys.executable, "-m", "tessera", "--shell", "pywebview"], cwd=REPO, env=env,
                            text=True, capture_output=True, timeout=60)
    assert second.returncode == 0 and "already open" in second.stderr

    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)
    assert p.returncode == 143
    geometry = json.loads((tmp_path / "settings.json").read_text())["window"]
    assert geometry["width"] == 1100 and geometry["height"] == 800


def test_asking_for_a_window_that_cannot_open_is_one_sentence(xvfb, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb, "TESSERA_DATA_DIR": str(tmp_path), "TESSERA_BROWSER": "/nonexistent"}
    r = subprocess.run([sys.executable, "-m", "tessera", "--shell", "chromium-app"], cwd=REPO, env=env,
                       text=True, capture_output=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("tessera: The chromium-app window can't open: TESSERA_BROWSER")
    assert len(r.stderr.strip().splitlines()) == 1
