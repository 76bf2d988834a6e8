"""File-level jobs on a built bundle: the stamp of a build's inputs, hard-linking identical
files, and the size report."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import sys
from collections import defaultdict
from pathlib import Path

SMALLEST_TO_LINK = 1 << 20     # identical files smaller than this are not worth the look
REPORT_LENGTH = 15


def _files(root: Path):
    """Regular files under root (root itself if it is one), sorted, symbolic links left out."""
    if root.is_file():
        yield root
        return
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            path = Path(folder, name)
            if not path.is_symlink():
                yield path


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def stamp_of(inputs: list[Path]) -> str:
    """One hash of the inputs' names and contents, the Python and its installed packages."""
    h = hashlib.sha256(f"{sys.version} {platform.platform()}\n".encode())
    for dist in sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions()):
        h.update(dist.encode() + b"\n")
    for root in inputs:
        for path in _files(root):
            h.update(f"{path.as_posix()} {_digest(path)}\n".encode())
    return h.hexdigest()


def link_identical_files(root: Path) -> int:
    """Replace each repeat of a large file by a hard link to its first copy; bytes saved.

    The model packages keep their ONNX twice (model.json's source for the page, the package's
    source ONNX), byte for byte; tar, dpkg and disk usage then count it once."""
    by_size: dict[int, list[Path]] = defaultdict(list)
    for path in _files(root):
        st = path.stat()
        if st.st_size >= SMALLEST_TO_LINK and st.st_nlink == 1:
            by_size[st.st_size].append(path)
    saved = 0
    for size, paths in by_size.items():
        first_of: dict[str, Path] = {}
        for path in paths if len(paths) > 1 else ():
            first = first_of.setdefault(_digest(path), path)
            if first is not path:
                temp = path.with_name(path.name + ".link")
                os.link(first, temp)
                os.replace(temp, path)
                saved += size
    return saved


def write_size_report(bundle: Path, report_file: Path) -> dict:
    """Total size (hard links counted once), the biggest parts (the entries of the bundle's data
    folder) and the biggest files, as JSON."""
    data_folder = next((p for p in (bundle / "_internal", bundle / "Contents" / "Frameworks") if p.is_dir()), bundle)
    seen: set[tuple[int, int]] = set()
    parts: dict[str, int] = defaultdict(int)
    files: list[tuple[int, str]] = []
    for path in _files(bundle):
        st = path.stat()
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        rel = path.relative_to(data_folder) if path.is_relative_to(data_folder) else path.relative_to(bundle)
        parts[rel.parts[0]] += st.st_size
        files.append((st.st_size, path.relative_to(bundle).as_posix()))
    report = {
        "bundle": bundle.name,
        "platform": f"{sys.platform}-{platform.machine()}",
        "total_bytes": sum(size for size, _ in files),
        "file_count": len(files),
        "biggest_parts": [{"path": name, "bytes": size} for name, size in
                          sorted(parts.items(), key=lambda kv: -kv[1])[:REPORT_LENGTH]],
        "biggest_files": [{"path": name, "bytes": size} for size, name in sorted(files, reverse=True)[:REPORT_LENGTH]],
    }
    report_file.write_text(json.dumps(report, indent=1) + "\n")
    return report


def format_size_report(report_file: Path) -> str:
    report = json.loads(report_file.read_text())
    mb = lambda n: f"{n / 1e6:8.1f} MB"  # noqa: E731
    lines = [f"{report['bundle']} ({report['platform']}): {mb(report['total_bytes']).strip()} "
             f"in {report['file_count']} files", "biggest parts:"]
    lines += [f"  {mb(p['bytes'])}  {p['path']}" for p in report["biggest_parts"]]
    lines.append("biggest files:")
    lines += [f"  {mb(f['bytes'])}  {f['path']}" for f in report["biggest_files"]]
    return "\n".join(lines)
