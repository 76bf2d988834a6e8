"""The model library from the page: list, import an ONNX upload, remove, choose the default."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from tessera import models, settings
from tessera.api.http import ApiError, json_reply, route
from tessera.errors import TesseraError

MAX_ONNX_BYTES = 2 << 30


def _describe(m: models.InstalledModel, default: str) -> dict | None:
    """What the Models view shows of m; None when its package was removed while it was being
    read (a removal racing the listing is not an error of the listing)."""
    try:
        size = sum(f.stat().st_size for f in m.folder.iterdir() if f.is_file())
    except FileNotFoundError:
        return None
    labels = m.folder / m.meta["labels"] if m.meta.get("labels") else None
    try:
        count = len(json.loads(labels.read_text(encoding="utf-8"))) if labels else 0
    except (OSError, ValueError):
        count = 0
    return {"name": m.name, "title": m.title, "task": m.task, "url": f"models/{m.name}/",
            "bundled": m.bundled, "default": m.name == default,
            "bytes": size,
            "input": m.input_size, "labels": count,
            "package_version": m.package_version, "origin": m.meta.get("origin", ""),
            "notes": m.meta.get("notes", [])}


@route("GET", r"/api/models")
def list_models(api, request):
    default = settings.default_model()
    described = (_describe(m, default) for m in models.list_models())
    return json_reply([d for d in described if d is not None])


@route("POST", r"/api/models/import")
def import_model(api, request):
    """Body: the .onnx file; ?name=…&task=classify|stylize. Compile errors come back whole."""
    q = request.query
    filename = Path(q.get("filename") or "model.onnx").name
    name = q.get("name") or re.sub(r"[^\w.-]+", "-", Path(filename).stem).strip("-.") or "model"
    task = q.get("task", "classify")
    if task not in ("classify", "stylize"):
        raise ApiError(400, "task must be classify or stylize.")
    with tempfile.TemporaryDirectory(prefix="tessera-upload-") as tmp:
        upload = Path(tmp) / filename
        request.save_body(upload, MAX_ONNX_BYTES)
        try:
            model = models.import_model(upload, name, None, task)
        except TesseraError as e:
            problems = [str(p) for p in getattr(e, "problems", [])]
            return json_reply({"error": str(e).split("\n")[0], "problems": problems}, 422)
    return json_reply(_describe(model, settings.default_model()), 201)


@route("POST", r"/api/models/([\w.-]+)/remove")
def remove_model(api, request, name):
    try:
        models.remove_model(name)
    except TesseraError as e:
        raise ApiError(409, str(e)) from None
    return json_reply({"ok": True})


@route("POST", r"/api/models/([\w.-]+)/default")
def make_default(api, request, name):
    try:
        settings.set_default_model(name)
    except TesseraError as e:
        raise ApiError(404, str(e)) from None
    return json_reply({"default": name})
