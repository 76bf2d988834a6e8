"""The Linux packages of a built bundle: a .tar.gz to unpack anywhere, and a .deb that installs
it into /opt/tessera with `tessera` on PATH, a desktop entry and icons.

Both keep the bundle's hard links (see bundle_files.link_identical_files) and use fast gzip:
they are rebuilt often (the packaging tests build them), and -1 is within a few per cent of -9
on a bundle made mostly of shared libraries and weights.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "linux"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
INSTALL_DIR = "opt/tessera"


def package_paths(out: Path, version: str) -> tuple[Path, Path]:
    return out / f"tessera-{version}-linux-x86_64.tar.gz", out / f"tessera_{version}_amd64.deb"


def _gzip_fast() -> str:
    return "pigz -1" if shutil.which("pigz") else "gzip -1"


def make_tarball(bundle: Path, tarball: Path, version: str) -> Path:
    """tessera-<version>/ holding the bundle: unpack it and run tessera-<version>/tessera."""
    subprocess.run(["tar", "-C", str(bundle.parent), "--owner=0", "--group=0", "--numeric-owner",
                    "--transform", f"s,^{bundle.name},tessera-{version},S", "-I", _gzip_fast(),
                    "-cf", str(tarball), bundle.name], check=True)
    return tarball


def _installed_kib(root: Path) -> int:
    seen, total = set(), 0
    for folder, _, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(folder, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return (total + 1023) // 1024


def stage_deb(bundle: Path, root: Path, version: str, icons: Path) -> Path:
    """The .deb's file tree, with the bundle hard-linked in (no copy of its hundreds of MB)."""
    shutil.rmtree(root, ignore_errors=True)
    (root / INSTALL_DIR).parent.mkdir(parents=True)
    subprocess.run(["cp", "-al", str(bundle), str(root / INSTALL_DIR)], check=True)
    bin_dir = root / "usr" / "bin"
    bin_dir.mkdir(parents=True)
    # Relative, so the tree also runs where it is unpacked without installing (dpkg -x).
    (bin_dir / "tessera").symlink_to(Path("../..", INSTALL_DIR, "tessera"))
    apps = root / "usr" / "share" / "applications"
    apps.mkdir(parents=True)
    shutil.copyfile(TEMPLATES / "tessera.desktop", apps / "tessera.desktop")
    hicolor = root / "usr" / "share" / "icons" / "hicolor"
    for size in ICON_SIZES:
        (hicolor / f"{size}x{size}" / "apps").mkdir(parents=True)
        shutil.copyfile(icons / f"tessera-{size}.png", hicolor / f"{size}x{size}" / "apps" / "tessera.png")
    (hicolor / "scalable" / "apps").mkdir(parents=True)
    shutil.copyfile(icons / "tessera.svg", hicolor / "scalable" / "apps" / "tessera.svg")
    control_dir = root / "DEBIAN"
    control_dir.mkdir()
    control = (TEMPLATES / "control").read_text().format(version=version, installed_kib=_installed_kib(root))
    (control_dir / "control").write_text(control)
    for folder, dirs, _ in os.walk(root):
        for d in dirs:
            os.chmod(os.path.join(folder, d), 0o755)
    return root


def make_deb(root: Path, deb: Path) -> Path:
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", str(root), str(deb)],
                   check=True, stdout=subprocess.DEVNULL)
    return deb


def make_packages(bundle: Path, out: Path, version: str, icons: Path) -> list[Path]:
    """Both packages, compressed side by side (each compressor uses one core)."""
    tarball, deb = package_paths(out, version)
    root = stage_deb(bundle, bundle.parent.parent / "deb-root", version, icons)
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(make_tarball, bundle, tarball, version), pool.submit(make_deb, root, deb)]
        return [job.result() for job in jobs]
