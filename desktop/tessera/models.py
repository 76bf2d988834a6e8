"""The model library: which models are installed and where their files are.

Bundled models are built at set-up (build/models/<name>/); imported ones are compiled into
the user data directory (<user data>/models/<name>/, see tessera.compiler.library). Both hold
a model package (manifest.json, weight shards, source ONNX) and the page's model.json.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tessera.errors import TesseraError
from tessera.paths import bundled_models_dir, user_data_dir

DEFAULT_CLASSIFIER = "efficientnet-lite0"


@dataclass(frozen=True)
class InstalledModel:
    name: str
    title: str
    task: str
    folder: Path
    meta: dict

    @property
    def bundled(self) -> bool:
        return self.folder.parent == bundled_models_dir()

    @property
    def input_size(self) -> list:
        """[height, width] of the image input (a symbol such as "h" where it is free)."""
        spec = self.meta.get("input", {})
        shape = spec.get("shape", [])
        return shape[1:3] if spec.get("layout") == "NHWC" else shape[-2:]

    @property
    def package_version(self) -> int | None:
        """The model-package format version its manifest declares (docs/model-package.md)."""
        try:
            version = json.loads((self.folder / "manifest.json").read_text(encoding="utf-8")).get("version")
        except (OSError, ValueError):
            return None
        return version if isinstance(version, int) else None


def imported_models_dir() -> Path:
    return user_data_dir() / "models"


def model_roots() -> list[Path]:
    return [bundled_models_dir(), imported_models_dir()]


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


def import_model(onnx_path: Path, name: str | None = None, labels_path: Path | None = None,
                 task: str = "classify", int8_photos: Path | None = None) -> InstalledModel:
    """Compile an ONNX file into the user's models; TesseraError (a CompileError) if it can't.
    With ``int8_photos`` (a folder), a float classifier is first quantised to int8 QDQ,
    calibrated on those photos: on a GPU with int8 matrix units its big convs run on them."""
    from tessera.compiler.library import install
    from tessera.compiler.package import PackageMeta

    onnx_path = Path(onnx_path)
    name = name or onnx_path.stem
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", name):
        raise TesseraError(f"{name!r} is not a usable model name: use letters, digits, '-', '_' and '.'.")
    if name in {m.name for m in list_models()}:
        raise TesseraError(f"A model named {name!r} is already installed; remove it or pick another --name.")
    labels = None
    if labels_path is not None:
        try:
            labels = json.loads(Path(labels_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TesseraError(f"Can't read the labels file {labels_path} ({exc}); it must be a "
                               "JSON list of class names.") from None
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise TesseraError(f"The labels file {labels_path} must be a JSON list of class names.")
    meta = PackageMeta(name=name, task=task, labels="labels.json" if labels is not None else None)
    if int8_photos is None:
        install(onnx_path, imported_models_dir(), meta, labels)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            install(_quantised(onnx_path, Path(int8_photos), task, Path(tmp)), imported_models_dir(), meta, labels)
    return get_model(name)


def _quantised(onnx_path: Path, photos: Path, task: str, tmp: Path) -> Path:
    """``onnx_path`` quantised to int8 QDQ on the photos, written into ``tmp``."""
    import onnx

    from tessera.bench.float_graph import is_quantized
    from tessera.calibration import photo_batches
    from tessera.compiler.package import default_preprocess
    from tessera.zoo.quantize import quantize_qdq

    if task != "classify":
        raise TesseraError("--int8 quantises classifiers (it calibrates on photos prepared as the app "
                           "prepares them for one); import a style network as it is.")
    try:
        model = onnx.load(onnx_path)
    except Exception as exc:  # noqa: BLE001  (OSError, protobuf's DecodeError, …)
        raise TesseraError(f"Can't read {onnx_path} as an ONNX model ({exc}).") from None
    if is_quantized(model):
        raise TesseraError(f"{onnx_path.name} is quantised already; import it without --int8.")
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    preprocess = default_preprocess(dims)
    if preprocess is None or (isinstance(dims[0], int) and dims[0] != 1):
        raise TesseraError(f"--int8 needs a model whose input is one square RGB image (batch 1 or free); "
                           f"{onnx_path.name}'s is {dims}.")
    batches = photo_batches(photos, preprocess, nchw=dims[1] == 3)
    try:
        quantised = quantize_qdq(model, batches)
    except Exception as exc:  # noqa: BLE001  (onnxruntime's quantiser raises anything)
        raise TesseraError(f"onnxruntime could not quantise {onnx_path.name}: {exc}") from None
    target = tmp / f"{onnx_path.stem}.onnx"
    onnx.save(quantised, target)
    return target


def remove_model(name: str) -> None:
    model = get_model(name)
    if model.bundled:
        raise TesseraError(f"{name!r} is a bundled model and can't be removed (only imported ones can).")
    shutil.rmtree(model.folder)


def describe(model: InstalledModel) -> str:
    """One line for `tessera models list`: name, origin, task, input size, labels, disk size."""
    size = sum(f.stat().st_size for f in model.folder.iterdir() if f.is_file())
    labels = model.folder / model.meta["labels"] if model.meta.get("labels") else None
    count = len(json.loads(labels.read_text(encoding="utf-8"))) if labels and labels.is_file() else 0
    return (f"{model.name:24} {'bundled' if model.bundled else 'imported':8} {model.task:8} "
            f"input {'x'.join(map(str, model.input_size)) or '?':9} "
            f"{f'{count} labels' if count else 'no labels':11} {size / 1e6:7.1f} MB")
