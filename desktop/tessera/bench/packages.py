"""The Tessera model package of each benchmarked model, compiled by our compiler from the very
ONNX file every other runtime loads, for the `tessera` runtime (Tessera's WebGPU engine).

Cached under the artifacts folder as ``<model>/package/``; recompiled when the ONNX file or the
compiler's source changes (``stamp`` says from what it was built). A compile goes to a
temporary folder that is renamed into place only when complete.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from tessera import compiler
from tessera.bench.cases import BenchModel
from tessera.compiler.package import PackageMeta
from tessera.compiler.pipeline import compile_to_folder

STAMP = "stamp"


def _stamp(onnx_path: Path) -> str:
    digest = hashlib.sha256(onnx_path.read_bytes())
    for source in sorted(Path(compiler.__file__).parent.rglob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def ensure_package(model: BenchModel, root: Path) -> Path:
    """The package folder for ``model`` under ``root``, compiled if missing or stale."""
    folder = root / model.name / "package"
    onnx_path = model.compiler_input
    # What the package needs beyond the graph: an image output's white value, for canvas output.
    meta = json.loads((model.folder / "model.json").read_text())
    extra = {"pixel_range": meta["pixel_range"]} if "pixel_range" in meta else {}
    stamp = _stamp(onnx_path) + json.dumps(extra)
    if (folder / STAMP).is_file() and (folder / STAMP).read_text() == stamp:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".package-", dir=folder.parent))
    try:
        compile_to_folder(onnx_path, staging, PackageMeta(name=model.name, task=model.task, extra=extra))
        (staging / STAMP).write_text(stamp)
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
