"""Where Tessera's files live: the app's own files (web app, assets, bundled models), set-up
output, user data.

From the source tree they are the repository's assets/, webapp/dist/ and build/models/. In a
PyInstaller build (``sys.frozen``) they sit in the bundle's data folder (``sys._MEIPASS``) as
assets/, webapp/ and models/ (see build_scripts/tessera.spec). The bundle is read-only to the
app: user data and anything the app writes live in the platform's user folders, so installing
a new version keeps them. The TESSERA_* variables override each location in both layouts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# desktop/tessera/paths.py -> repository root (an editable install runs from the source tree).
REPO_ROOT = Path(__file__).resolve().parents[2]
FROZEN = bool(getattr(sys, "frozen", False))
APP_FILES = Path(sys._MEIPASS) if FROZEN else REPO_ROOT
ASSETS_DIR = APP_FILES / "assets"
SAMPLES_DIR = ASSETS_DIR / "samples"
IMAGENET_LABELS = ASSETS_DIR / "labels" / "imagenet1k.json"


def build_dir() -> Path:
    """Set-up output (built models, downloaded wheels, bench files); never committed, and in an
    installed app a cache folder of the user's, never the bundle."""
    override = os.environ.get("TESSERA_BUILD_DIR")
    if override:
        return Path(override)
    if FROZEN:
        import platformdirs

        return Path(platformdirs.user_cache_dir("tessera", appauthor=False)) / "build"
    return REPO_ROOT / "build"


def bundled_models_dir() -> Path:
    if FROZEN and not os.environ.get("TESSERA_BUILD_DIR"):
        return APP_FILES / "models"
    return build_dir() / "models"


def webapp_dist_dir() -> Path:
    override = os.environ.get("TESSERA_WEBAPP_DIR")
    if override:
        return Path(override)
    return APP_FILES / "webapp" if FROZEN else REPO_ROOT / "webapp" / "dist"


def user_data_dir() -> Path:
    override = os.environ.get("TESSERA_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs  # imported here so headless tools run where only numpy/onnx exist

    return Path(platformdirs.user_data_dir("tessera", appauthor=False))
