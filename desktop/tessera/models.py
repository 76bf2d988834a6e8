"""The model library: which models are installed and where their files are.

For now that is the bundled models built at set-up (build/models/<name>/model.json); user
imports will live under the user data directory once the compiler lands.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tessera.errors import TesseraError
from tessera.paths import bundled_models_dir

DEFAULT_CLASSIFIER = "efficientnet-lite0"


@dataclass(frozen=True)
class InstalledModel:
    name: str
    title: str
    task: str
    folder: Path
    meta: dict


def model_roots() -> list[Path]:
    return [bundled_models_dir()]


def list_models() -> list[InstalledModel]:
    found: dict[str, InstalledModel] = {}
    for root in model_roots():
        for meta_path in sorted(root.glob("*/model.json")):
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                continue    # a half-written or damaged package is not a model
            found.setdefault(meta["name"], InstalledModel(
                meta["name"], meta.get("title", meta["name"]), meta.get("task", "classify"),
                meta_path.parent, meta))
    return list(found.values())


def get_model(name: str) -> InstalledModel:
    models = {m.name: m for m in list_models()}
    if name in models:
        return models[name]
    if not models:
        raise TesseraError("No models are installed yet: run the set-up command from the README "
                           "(it builds the bundled models).")
    raise TesseraError(f"There is no model named {name!r}; installed: {', '.join(sorted(models))}.")
