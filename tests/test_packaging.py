"""The installable app as a person gets it: build_scripts/build_app.py's bundle, .deb and .tar.gz.

The build runs once per session (build_app.py skips it when its stamp of the inputs is
unchanged). The built binary runs with a bare environment (no virtual environment, no source
tree on any path) under Xvfb: its window opens, a photo is classified through the page's own
file picker, and closing the window ends the app. The .deb is unpacked into an empty root and
its `tessera classify` is compared with onnxruntime on the same photo.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from tessera import __version__
from tessera.zoo import reference
from tests.conftest import REPO
from tests.test_window import wait_for, window_names, xvfb  # noqa: F401 (xvfb is a fixture)

SAMPLES = REPO / "assets" / "samples"
NOT_IN_THE_BUNDLE = {"PySide2", "PySide6", "PyQt5", "shiboken2", "shiboken6", "onnxruntime",
                     "playwright", "pytest", "_pytest", "tkinter", "_tkinter", "_tcl_data", "_tk_data"}


@dataclass(frozen=True)
class Built:
    bundle: Path
    tarball: Path
    deb: Path


@pytest.fixture(scope="module")
def built(webapp_dist, bundled_models) -> Built:
    r = subprocess.run([sys.executable, str(REPO / "build_scripts" / "build_app.py")], cwd=REPO,
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    dist = REPO / "dist"
    return Built(REPO / "build" / "app" / "dist" / "tessera",
                 dist / f"tessera-{__version__}-linux-x86_64.tar.gz", dist / f"tessera_{__version__}_amd64.deb")


@pytest.fixture(scope="module")
def deb_root(built, tmp_path_factory) -> Path:
    """The .deb's files unpacked into an empty folder, as dpkg would put them under /."""
    root = tmp_path_factory.mktemp("deb-root")
    subprocess.run(["dpkg-deb", "-x", str(built.deb), str(root)], check=True)
    return root


def bare_env(home: Path, **extra: str) -> dict:
    """What a desktop session gives a program: no virtual environment, no PYTHONPATH."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "TESSERA_DATA_DIR": str(home / "data"),
            "LANG": os.environ.get("LANG", "C.UTF-8"), **extra}


def expected_top1(model_dir: Path, photo: Path) -> str:
    """onnxruntime's best class for the photo, through the bundle's own copy of the model."""
    return reference.classify(model_dir, photo, k=1)[0].label


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue        # ended while we looked
        if text in args:
            found.append(args)
    return found


def test_built_app_opens_its_window_classifies_a_photo_through_the_ui_and_exits_when_closed(
        built, xvfb, tmp_path):  # noqa: F811
    photo = SAMPLES / "coffee.jpg"
    want = expected_top1(built.bundle / "_internal" / "models" / "efficientnet-lite0", photo)
    port = free_port()
    # The browser's debugging port lets the test act in the real app window as a user would.
    env = bare_env(tmp_path, DISPLAY=xvfb, TESSERA_BROWSER_FLAGS=f"--remote-debugging-port={port}")
    app = subprocess.Popen([str(built.bundle / "tessera")], cwd=tmp_path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: '"Tessera"' in window_names(xvfb), "no window titled Tessera appeared")
        with sync_playwright() as pw:
            browser = wait_for(lambda: _connect(pw, port), "the app window's browser took no connection")
            page = wait_for(lambda: next((p for c in browser.contexts for p in c.pages
                                          if p.url.startswith("http://127.0.0.1")), None), "no app page")
            expect(page.locator(".view-classify .status")).to_contain_text("on wasm", timeout=90_000)
            page.locator(".view-classify input[type=file]").set_input_files(photo)
            card = page.locator("article.card").filter(has_text=photo.name)
            expect(card.locator("li").first).to_contain_text(want, timeout=60_000)
            page.close()            # closing the app's only window, as its close button does
        _, err = app.communicate(timeout=60)
    finally:
        if app.poll() is None:
            app.kill()
            app.communicate()
    assert app.returncode == 0, err
    assert '"Tessera"' not in window_names(xvfb)
    assert processes_mentioning(str(tmp_path)) == [], "the app left processes running"
    assert (tmp_path / "data" / "browser-profile").is_dir()     # user data outside the bundle


def _connect(pw, port: int):
    try:
        return pw.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
    except Exception:       # not listening yet
        return None


def test_deb_unpacked_into_an_empty_root_classifies_from_its_tessera_command(deb_root, tmp_path):
    root = deb_root
    photo = SAMPLES / "chelsea.jpg"
    r = subprocess.run([str(root / "usr" / "bin" / "tessera"), "classify", str(photo), "--json", "--top", "3"],
                       cwd=tmp_path, env=bare_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    top = json.loads(r.stdout)["top"]
    assert top[0]["label"] == expected_top1(root / "opt" / "tessera" / "_internal" / "models" / "efficientnet-lite0", photo)
    assert not (root / "opt" / "tessera" / "data").exists() and (tmp_path / "data").is_dir()


def _control(deb: Path) -> dict:
    fields = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"^([\w-]+): (.*)$", fields, re.M))


def test_deb_control_names_version_browser_and_the_system_libraries_qt_links_to(built):
    control = _control(built.deb)
    assert (control["Package"], control["Version"], control["Architecture"]) == ("tessera", __version__, "amd64")
    assert "chromium" in control["Recommends"] and "google-chrome-stable" in control["Recommends"]
    depends = {d.strip() for d in control["Depends"].split(",")}
    assert depends >= _packages_of(_system_libraries(built.bundle)), control["Depends"]
    assert int(control["Installed-Size"]) > 100_000


def _system_libraries(bundle: Path) -> set[str]:
    """Libraries outside the bundle that Qt's xcb plugin, WebEngine and the executable load."""
    internal = bundle / "_internal"
    qt = internal / "PyQt6" / "Qt6"
    env = {**os.environ, "LD_LIBRARY_PATH": f"{internal}:{qt / 'lib'}"}
    files = [qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt6WebEngineCore.so.6",
             qt / "libexec" / "QtWebEngineProcess", bundle / "tessera"]
    out = subprocess.run(["ldd", *map(str, files)], env=env, capture_output=True, text=True).stdout
    assert "not found" not in out, out
    return {path for path in re.findall(r"=> (/\S+)", out) if not path.startswith(str(bundle))}


def _packages_of(libraries: set[str]) -> set[str]:
    """The Debian packages holding the libraries (the /lib and /usr/lib spellings both tried)."""
    packages = set()
    for lib in libraries:
        alt = lib[4:] if lib.startswith("/usr/") else "/usr" + lib
        r = subprocess.run(["dpkg", "-S", lib, alt], capture_output=True, text=True)
        assert r.stdout, f"no package holds {lib}"
        packages.add(r.stdout.split(":")[0])
    return packages


def test_deb_installs_a_valid_desktop_entry_and_its_icons(deb_root):
    root = deb_root
    desktop = root / "usr" / "share" / "applications" / "tessera.desktop"
    if shutil.which("desktop-file-validate"):
        r = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
        assert r.returncode == 0 and not r.stdout.strip(), r.stdout
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(desktop)
    app = entry["Desktop Entry"]
    assert (app["Type"], app["Name"], app["Terminal"]) == ("Application", "Tessera", "false")
    assert app["Exec"] == "tessera" and (root / "usr" / "bin" / "tessera").resolve() == \
        (root / "opt" / "tessera" / "tessera").resolve()
    hicolor = root / "usr" / "share" / "icons" / "hicolor"
    for size in (16, 32, 48, 128, 256, 512):
        with Image.open(hicolor / f"{size}x{size}" / "apps" / f"{app['Icon']}.png") as icon:
            assert icon.size == (size, size)
    assert (hicolor / "scalable" / "apps" / f"{app['Icon']}.svg").read_text().startswith("<svg")


def test_tarball_unpacks_into_one_folder_that_runs(built, tmp_path):
    subprocess.run(["tar", "-xzf", str(built.tarball), "-C", str(tmp_path)], check=True)
    assert [p.name for p in tmp_path.iterdir()] == [f"tessera-{__version__}"]
    r = subprocess.run([str(tmp_path / f"tessera-{__version__}" / "tessera"), "--version"],
                       env=bare_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"tessera {__version__}", r.stderr


def test_bundle_holds_one_qt_binding_and_no_test_tools(built):
    files = {p.relative_to(built.bundle).parts[1] for p in (built.bundle / "_internal").rglob("*")}
    assert "PyQt6" in files and not files & NOT_IN_THE_BUNDLE, sorted(files & NOT_IN_THE_BUNDLE)
    listing = subprocess.run([str(Path(sys.executable).parent / "pyi-archive_viewer"), "--list", "--recursive",
                              str(built.bundle / "tessera")], capture_output=True, text=True, check=True).stdout
    modules = {name.split(".")[0] for name in re.findall(r"'([\w.]+)'$", listing, re.M)}
    assert "tessera" in modules and "webview" in modules
    assert not modules & NOT_IN_THE_BUNDLE, sorted(modules & NOT_IN_THE_BUNDLE)
