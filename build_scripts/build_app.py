"""Build Tessera for the OS this runs on: the PyInstaller one-folder app, then its installers.

    python build_scripts/build_app.py [--force]

- all: checks the web app and the bundled models are built (building what is missing), runs
  PyInstaller on build_scripts/tessera.spec into build/app/dist/, hard-links identical files in
  the bundle, and prints a size report (also written to dist/size-report.json);
- Linux: dist/tessera-<version>-linux-x86_64.tar.gz and dist/tessera_<version>_amd64.deb;
- Windows: dist/tessera-<version>-windows-x64-setup.exe with Inno Setup (iscc), if installed;
- macOS: dist/Tessera.app and dist/tessera-<version>-macos.dmg (hdiutil).

A stamp of every input (sources, web app, models, installed Python packages) is kept in
build/app/; when nothing changed and the outputs exist, nothing is rebuilt (--force rebuilds).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The helpers live in build_scripts/packaging/; that folder goes on the path (not build_scripts/,
# whose `packaging` folder would hide the PyPI package of that name from PyInstaller).
sys.path.insert(0, str(ROOT / "build_scripts" / "packaging"))
sys.path.insert(0, str(ROOT / "desktop"))

import bundle_files                      # noqa: E402
import linux_packages                    # noqa: E402
from tessera import __version__          # noqa: E402

WORK = ROOT / "build" / "app"
BUNDLE_DIST = WORK / "dist"
OUT = ROOT / "dist"
SPEC = ROOT / "build_scripts" / "tessera.spec"
LINUX_PACKAGES = sys.platform.startswith("linux") and platform.machine() == "x86_64"
MODELS = ROOT / "build" / "models"
WEBAPP = ROOT / "webapp" / "dist"


def log(line: str) -> None:
    print(f"build_app: {line}", flush=True)


def ensure_inputs() -> None:
    """The web app and the bundled models, built by their own set-up steps if missing."""
    if not (WEBAPP / "index.html").is_file():
        log("the web app is not built; building it (cd webapp && npm run build)")
        subprocess.run(["npm", "run", "--silent", "build"], cwd=ROOT / "webapp", check=True,
                       shell=sys.platform == "win32")
    if not any(MODELS.glob("*/model.json")):
        log("the bundled models are not built; building them (python build_scripts/build_models.py)")
        subprocess.run([sys.executable, str(ROOT / "build_scripts" / "build_models.py")], check=True)


def outputs() -> list[Path]:
    """What a finished build leaves, per platform; all must exist for the stamp to count."""
    if sys.platform.startswith("linux"):
        packages = linux_packages.package_paths(OUT, __version__) if LINUX_PACKAGES else ()
        return [BUNDLE_DIST / "tessera" / "tessera", *packages]
    if sys.platform == "darwin":
        return [BUNDLE_DIST / "Tessera.app"]
    return [BUNDLE_DIST / "tessera" / "tessera.exe"]


def stamp_inputs() -> list[Path]:
    return [SPEC, Path(__file__), ROOT / "pyproject.toml", ROOT / "build_scripts" / "packaging",
            ROOT / "desktop" / "tessera", ROOT / "assets", WEBAPP, MODELS]


def run_pyinstaller() -> Path:
    log("running PyInstaller (a few minutes)")
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
                    "--distpath", str(BUNDLE_DIST), "--workpath", str(WORK / "work"), str(SPEC)],
                   check=True)
    app = BUNDLE_DIST / "Tessera.app"
    return app if sys.platform == "darwin" else BUNDLE_DIST / "tessera"


def windows_installer() -> None:
    default = Path(os.environ.get("ProgramFiles(x86)", r"C:\Program Files (x86)"), "Inno Setup 6", "ISCC.exe")
    iscc = shutil.which("iscc") or (str(default) if default.is_file() else None)
    if iscc is None:
        log("Inno Setup (iscc) is not installed: the app is in build/app/dist/tessera, no installer made")
        return
    subprocess.run([iscc, f"/DAppVersion={__version__}", f"/DSourceDir={BUNDLE_DIST / 'tessera'}",
                    f"/DIconFile={ROOT / 'assets' / 'icons' / 'tessera.ico'}", f"/O{OUT}",
                    str(ROOT / "build_scripts" / "packaging" / "windows" / "tessera.iss")], check=True)


def macos_dmg(app: Path) -> None:
    dmg = OUT / f"tessera-{__version__}-macos.dmg"
    shutil.rmtree(OUT / "Tessera.app", ignore_errors=True)
    shutil.copytree(app, OUT / "Tessera.app", symlinks=True)
    subprocess.run(["bash", str(ROOT / "build_scripts" / "packaging" / "macos" / "make_dmg.sh"),
                    str(OUT / "Tessera.app"), str(dmg)], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the stamp says nothing changed")
    args = parser.parse_args(argv)
    started = time.monotonic()
    ensure_inputs()
    OUT.mkdir(exist_ok=True)
    stamp_file = WORK / "stamp"
    stamp = bundle_files.stamp_of(stamp_inputs())
    report_file = OUT / "size-report.json"
    if (not args.force and stamp_file.is_file() and stamp_file.read_text() == stamp
            and report_file.is_file() and all(p.exists() for p in outputs())):
        log("up to date (nothing changed since the last build; --force rebuilds)")
        print(bundle_files.format_size_report(report_file))
        return 0
    stamp_file.unlink(missing_ok=True)
    bundle = run_pyinstaller()
    saved = bundle_files.link_identical_files(bundle)
    log(f"hard-linked identical files: {saved / 1e6:.0f} MB saved")
    bundle_files.write_size_report(bundle, report_file)
    if LINUX_PACKAGES:
        for made in linux_packages.make_packages(bundle, OUT, __version__, ROOT / "assets" / "icons"):
            log(f"wrote {made.relative_to(ROOT)} ({made.stat().st_size / 1e6:.0f} MB)")
    elif sys.platform.startswith("linux"):
        log(f"packages are only made for x86_64, not {platform.machine()}; the app is in {bundle}")
    elif sys.platform == "win32":
        windows_installer()
    elif sys.platform == "darwin":
        macos_dmg(bundle)
    stamp_file.write_text(stamp)
    print(bundle_files.format_size_report(report_file))
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
