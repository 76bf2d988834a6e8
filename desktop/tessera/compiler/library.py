"""Installing a compiled package into a models folder, atomically.

The package is compiled into a hidden temporary folder beside its final place (same
filesystem) and renamed into place only when complete, so a listing never sees a half-written
import; a failed compile leaves nothing behind.

Beside the package, ``model.json`` describes the model to today's page, which runs the source
ONNX (``manifest.source``) on onnxruntime-web, with the manifest's preprocessing (for an
imported classifier, the default that package.default_preprocess assumes).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from tessera.compiler.errors import CompileError, Problem
from tessera.compiler.package import MANIFEST, PackageMeta
from tessera.compiler.pipeline import compile_to_folder

PAGE_META = "model.json"


def output_kind(manifest: dict) -> str:
    """"probabilities" when the first output comes from a softmax (through views), so that the
    page doesn't apply one again; else "logits" (a log-softmax's too: softmax undoes its log)."""
    producers = {o: op for op in manifest["ops"] for o in op["outputs"]}
    op = producers.get(manifest["outputs"][0]["name"])
    while op is not None and op["op"] == "reshape":
        op = producers.get(op["inputs"][0])
    return "probabilities" if op is not None and op["op"] == "softmax" and not op["attrs"].get("log") else "logits"


def page_meta(manifest: dict) -> dict:
    """The page's model.json for a package (see webapp/src/engine/model.ts)."""
    first, out = manifest["inputs"][0], manifest["outputs"][0]
    preprocess = manifest["preprocess"] if manifest["task"] == "classify" else None
    return {"format": 1, "name": manifest["name"], "title": manifest["title"],
            "task": manifest["task"], "source": manifest["source"], "labels": manifest["labels"],
            "input": {"name": first["name"], "shape": first["shape"], "layout": "NCHW"},
            "output": {"name": out["name"], "kind": output_kind(manifest)}, "preprocess": preprocess,
            "notes": manifest.get("notes", [])}


def install(onnx_path: Path, root: Path, meta: PackageMeta, labels: list[str] | None) -> Path:
    """Compile ``onnx_path`` into ``root/<meta.name>``; CompileError if it can't be compiled
    or the name is taken."""
    target = Path(root) / meta.name
    if target.exists():
        raise CompileError(Path(onnx_path).name, [Problem(
            f"a model named {meta.name!r} is already installed; remove it or pick another --name")])
    root.mkdir(parents=True, exist_ok=True)
    compile_in_place(onnx_path, target, meta, labels)
    return target


def compile_in_place(onnx_path: Path, target: Path, meta: PackageMeta, labels: list[str] | None) -> None:
    """Compile ``onnx_path`` into a hidden folder beside ``target``, then rename it into place,
    replacing a package already there (which may hold ``onnx_path`` itself: it is read first).
    If the compile fails, ``target`` is as it was."""
    target = Path(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{meta.name}.new-", dir=target.parent))
    old = target.parent / f".{meta.name}.old"
    try:
        tmp.chmod(0o755)
        compile_to_folder(onnx_path, tmp, meta, labels)
        manifest = json.loads((tmp / MANIFEST).read_text(encoding="utf-8"))
        (tmp / PAGE_META).write_text(json.dumps(page_meta(manifest), indent=1) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
