"""The user's settings (default model, window geometry, output folder), kept in <user data>/settings.json."""

from __future__ import annotations

from tessera.library.json_store import JsonStore
from tessera.models import DEFAULT_CLASSIFIER
from tessera.paths import user_data_dir


def settings_store() -> JsonStore:
    return JsonStore(user_data_dir() / "settings.json")


def default_model() -> str:
    """The model `classify` uses without --model: the user's choice if still installed."""
    from tessera.models import list_models

    chosen = settings_store().read().get("default_model")
    if chosen and chosen in {m.name for m in list_models()}:
        return chosen
    return DEFAULT_CLASSIFIER


def set_default_model(name: str) -> None:
    from tessera.models import get_model

    get_model(name)    # a clear TesseraError if there is no such model
    settings_store().update(lambda d: d.__setitem__("default_model", name))


def window_geometry() -> dict | None:
    geometry = settings_store().read().get("window")
    return geometry if isinstance(geometry, dict) else None


def save_window_geometry(x: int, y: int, width: int, height: int) -> None:
    settings_store().update(lambda d: d.__setitem__(
        "window", {"x": int(x), "y": int(y), "width": int(width), "height": int(height)}))


def output_folder_id() -> str | None:
    """The id of the remembered folder exports go to (a folder granted with role "output")."""
    chosen = settings_store().read().get("output_folder")
    return chosen if isinstance(chosen, str) else None


def set_output_folder_id(folder_id: str) -> None:
    settings_store().update(lambda d: d.__setitem__("output_folder", folder_id))
