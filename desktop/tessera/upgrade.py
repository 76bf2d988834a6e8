"""Bringing a user's data written by an older Tessera up to this one.

Everything a user owns lives in the user data folder (tessera.paths.user_data_dir), never in
the install: settings.json, folders.json (granted folders), the results store, imported models
and the window's browser profile. Installing a new version replaces only the program, so on
start this module checks that folder once:

- ``data-version.json`` records the data layout version. Each step in ``DATA_MIGRATIONS`` takes
  the folder from version N-1 to N; a folder from a newer Tessera is refused with one sentence
  rather than half-understood.
- Imported models are packages compiled by the Tessera that imported them. A package in an
  older format than this compiler writes is compiled again from the source ONNX it keeps,
  atomically (the old package stays in use if the new compile fails).
- The results store migrates its own SQLite schema when opened (tessera.batch.store).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tessera import __version__
from tessera.errors import TesseraError
from tessera.library.json_store import JsonStore
from tessera.paths import user_data_dir

DATA_VERSION_FILE = "data-version.json"


def _adopt_unversioned_folder(folder: Path) -> None:
    """Version 1 is the layout Tessera has always written (settings.json, folders.json,
    results.sqlite3, models/); a folder from before the version file existed needs no change."""


# Step N (1-based) takes the user data folder from version N-1 to N. Append, never edit.
DATA_MIGRATIONS: tuple[Callable[[Path], None], ...] = (_adopt_unversioned_folder,)
DATA_VERSION = len(DATA_MIGRATIONS)


@dataclass
class UpgradeReport:
    """What ``upgrade_user_data`` did: the data version it found and the models it rebuilt."""

    from_version: int
    to_version: int
    recompiled: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)   # model name -> why it was kept as is


def data_version(folder: Path) -> int:
    """The folder's data layout version: 0 when it predates the version file."""
    version = JsonStore(folder / DATA_VERSION_FILE).read().get("data_version", 0)
    return version if isinstance(version, int) and version >= 0 else 0


def upgrade_user_data(folder: Path | None = None) -> UpgradeReport:
    """Bring ``folder`` (default: the user data folder) to this version; cheap when current."""
    folder = Path(folder or user_data_dir())
    found = data_version(folder)
    if found > DATA_VERSION:
        raise TesseraError(f"Your Tessera data in {folder} was written by a newer version of "
                           f"Tessera (data version {found}; this is {__version__}, which knows up "
                           f"to {DATA_VERSION}): install that version or newer.")
    report = UpgradeReport(found, DATA_VERSION)
    if not folder.exists():
        return report       # a first start: there is nothing to bring forward
    for step in DATA_MIGRATIONS[found:]:
        step(folder)
    if found < DATA_VERSION:
        JsonStore(folder / DATA_VERSION_FILE).write(
            {"data_version": DATA_VERSION, "written_by": __version__})
    _recompile_stale_models(folder / "models", report)
    return report


def _package_version(package: Path) -> int | None:
    try:
        manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = manifest.get("version")
    return version if isinstance(version, int) else None


def _recompile_stale_models(models_dir: Path, report: UpgradeReport) -> None:
    from tessera.compiler.package import VERSION

    if not models_dir.is_dir():
        return
    for package in sorted(p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        version = _package_version(package)
        if version is None or version >= VERSION:
            continue
        try:
            _recompile(package)
        except Exception as e:   # the old package stays usable: never block the start on this
            report.failed[package.name] = str(e).split("\n")[0] or type(e).__name__
        else:
            report.recompiled.append(package.name)


def _recompile(package: Path) -> None:
    """Compile ``package`` again from its source ONNX, keeping its name, title, task, labels and
    preprocessing."""
    from tessera.compiler.library import compile_in_place
    from tessera.compiler.package import PackageMeta

    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    source = package / manifest.get("source", "source.onnx")
    if not source.is_file():
        raise TesseraError(f"its source ONNX ({source.name}) is missing, so it can't be rebuilt")
    labels = None
    if manifest.get("labels"):
        labels = json.loads((package / manifest["labels"]).read_text(encoding="utf-8"))
    meta = PackageMeta(name=manifest["name"], title=manifest.get("title", ""),
                       task=manifest.get("task", "classify"), labels=manifest.get("labels"),
                       preprocess=manifest.get("preprocess"))
    compile_in_place(source, package, meta, labels)
