"""Bare `tessera`: the app window when a display exists, the help otherwise."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO


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


def test_with_a_display_it_opens_the_app_window_and_closes_it_on_exit(webapp_dist, bundled_models,
                                                                       xvfb, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb, "TESSERA_DATA_DIR": str(tmp_path)}
    p = subprocess.Popen([sys.executable, "-m", "tessera"], cwd=REPO, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while '"Tessera"' not in window_names(xvfb) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert '"Tessera"' in window_names(xvfb), "no window titled Tessera appeared"
    assert (tmp_path / "browser-profile").is_dir()     # its own profile, not the user's browser
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)
    assert p.returncode == 143
    time.sleep(1)
    assert '"Tessera"' not in window_names(xvfb)
