"""Where Tessera's files live: the source tree's assets, the set-up build folder, user data."""

from __future__ import annotations

import os
from pathlib import Path

# desktop/tessera/paths.py -> repository root (an editable install runs from the source tree).
REPO_ROOT = Path(__file__).resolve().parents[2]
ASSETS_DIR = REPO_ROOT / "assets"
SAMPLES_DIR = ASSETS_DIR / "samples"
IMAGENET_LABELS = ASSETS_DIR / "labels" / "imagenet1k.json"


def build_dir() -> Path:
    """Set-up output (built models, downloaded wheels); never committed."""
    return Path(os.environ.get("TESSERA_BUILD_DIR") or REPO_ROOT / "build")


def bundled_models_dir() -> Path:
    return build_dir() / "models"


def webapp_dist_dir() -> Path:
    return Path(os.environ.get("TESSERA_WEBAPP_DIR") or REPO_ROOT / "webapp" / "dist")


def user_data_dir() -> Path:
    override = os.environ.get("TESSERA_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs  # imported here so headless tools run where only numpy/onnx exist

    return Path(platformdirs.user_data_dir("tessera", appauthor=False))
