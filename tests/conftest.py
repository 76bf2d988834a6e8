"""Fixtures shared by the suite: the built web app and bundled models, a CLI runner, and the
engine's test page; and the order in which test files are handed to the workers."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tessera import paths

REPO = paths.REPO_ROOT
# Tests never read or write the real user's data (settings, folders, imported models); the
# subprocesses they start inherit this too. Tests that need their own set it per call.
os.environ["TESSERA_DATA_DIR"] = tempfile.mkdtemp(prefix="tessera-test-data-")
# SwiftShader compiles WebGPU's zero-initialisation of workgroup memory element by element: a
# conv kernel with 16 KiB of tiles took ~2.5 s to compile with it and ~0.1 s without, and such
# compiles were most of the suite's time. Every browser the tests start (here through
# user_flags(), in subprocesses — the CLI, the app, the bench — through launch_flags) runs
# without it; the engine's kernels write every workgroup element before they read it.
os.environ["TESSERA_BROWSER_FLAGS"] = " ".join(
    [os.environ.get("TESSERA_BROWSER_FLAGS", ""), "--enable-dawn-features=disable_workgroup_init"]).strip()

# The files that take longest on a 2-core machine (the packaged app, the bench, whole networks on
# SwiftShader, the CLI's browser runs), longest first as measured there. setup.sh runs the suite
# with whole files per worker in collection order (--dist=loadfile --no-loadscope-reorder):
# handing these out first keeps one long file from running alone at the end while the other
# workers idle.
LONGEST_FIRST = ("test_packaging.py", "test_bench.py", "test_engine_conformance.py", "test_cli_classify.py",
                 "test_compiler_models.py", "test_engine_kernels.py", "test_engine_models.py", "test_ui_style.py",
                 "test_cli_batch.py", "test_engine_tiled.py", "test_static_site.py", "test_stylize_cli.py",
                 "test_engine_style_kernels.py", "test_stylize_engine.py", "test_ui_batch.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)     # stable: the rest keep their order, and every file its tests' order


@pytest.fixture(scope="session")
def webapp_dist() -> Path:
    """The built web app; built here if the set-up step has not run."""
    dist = paths.webapp_dist_dir()
    if not (dist / "index.html").is_file():
        subprocess.run(["npm", "run", "--silent", "build"], cwd=REPO / "webapp", check=True)
    return dist


@pytest.fixture(scope="session")
def bundled_models() -> dict:
    from tessera.zoo import bundled

    return bundled.build_all()


@pytest.fixture(scope="module")
def page(webapp_dist, tmp_path_factory):
    """One headless Chromium page with the engine's test hooks per test module (a module that
    needs other set-up defines its own); no page error may be left at the end."""
    from tests.engine_harness import engine_page

    with engine_page(webapp_dist, tmp_path_factory.mktemp("engine-packages")) as p:
        yield p
        assert p.errors == []


@pytest.fixture(scope="session")
def run_cli(webapp_dist, bundled_models):
    """Run `tessera ARGS...` as a user would, in a fresh process."""

    def run(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tessera", *args], cwd=REPO, text=True,
                              capture_output=True, timeout=timeout, env={**os.environ, **(env or {})})

    return run


def other_thread(pid: int) -> int:
    """A thread of process pid other than its main thread (Linux: kill() to a thread's id
    makes that thread the one the process-wide signal is delivered to)."""
    threads = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)
    assert threads, "the app runs its server in threads of its own"
    return threads[0]
