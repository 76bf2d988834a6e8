"""Every shipped and benchmark model, compiled to a package and run by the numpy executor,
matches onnxruntime on fresh random inputs (fp32 and fp16 weights) and on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tessera import paths
from tessera.compiler import compile_to_folder
from tessera.compiler.numpy_executor import run_package
from tessera.compiler.package import PackageMeta
from tessera.zoo import reference

# name -> (where the ONNX file is, input shapes)
MODELS = {
    "efficientnet-lite0": ("models/efficientnet-lite0", {"image": (1, 3, 224, 224)}),
    "mobilenet-v2": ("models/mobilenet-v2", {"image": (1, 3, 224, 224)}),
    "resnet50": ("bench-models/resnet50", {"input": (1, 3, 224, 224)}),
    "mobilenet-v3-large": ("bench-models/mobilenet-v3-large", {"input": (2, 3, 224, 224)}),
    "mobilenet-v3-small": ("bench-models/mobilenet-v3-small", {"input": (2, 3, 224, 224)}),
    "fast-style-64x48": ("bench-models/fast-style", {"input": (1, 3, 64, 48)}),
    "fast-style-40x72": ("bench-models/fast-style", {"input": (1, 3, 40, 72)}),
    "multistyle26-64x48": ("bench-models/multistyle26", {"image": (1, 3, 64, 48), "style_weights": (26,)}),
    "multistyle26-32x80": ("bench-models/multistyle26", {"image": (1, 3, 32, 80), "style_weights": (26,)}),
}
FP32_TOLERANCE = 1e-5
# multistyle26 computes its instance norms from primitive ops (ReduceMean, Sub, Pow, Sqrt,
# Div); float32 reduction order alone moves its output by ~1e-5 (DESIGN.md's 1e-4 bound).
FP32_TOLERANCE_BY_MODEL = {"multistyle26-64x48": 1e-4, "multistyle26-32x80": 1e-4}
FP16_TOLERANCE = 1e-2


@pytest.fixture(scope="session")
def onnx_files(bundled_models) -> dict[str, Path]:
    from tessera.bench.cases import ensure_bench_models  # builds the stand-ins once

    ensure_bench_models(["resnet50", "mobilenet-v3-large", "mobilenet-v3-small", "fast-style",
                         "multistyle26"], log=lambda _: None)
    return {where: paths.build_dir() / where / "model.onnx" for where, _ in MODELS.values()}


@pytest.fixture(scope="session")
def packages(onnx_files, tmp_path_factory) -> dict[str, Path]:
    out = {}
    for where, path in onnx_files.items():
        folder = tmp_path_factory.mktemp(where.replace("/", "-"))
        compile_to_folder(path, folder, PackageMeta(where))
        out[where] = folder
    return out


def rel_l2(ref: np.ndarray, got: np.ndarray) -> float:
    return float(np.linalg.norm(ref - got) / np.linalg.norm(ref))


def _feeds(shapes: dict, rng) -> dict:
    feeds = {}
    for name, shape in shapes.items():
        x = rng.random(shape, dtype=np.float32)
        feeds[name] = x * 255 if name.endswith("_image") else (x * 2 - 1 if len(shape) == 4 and "image" not in name
                                                                and name != "input" else x)
    return feeds


def _ort(path: Path, feeds: dict) -> list[np.ndarray]:
    """onnxruntime with graph optimisations off: the ONNX semantics literally (its int8 QDQ
    fusions would otherwise compute a different, integer, function)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("key", list(MODELS))
def test_package_matches_onnxruntime(key, onnx_files, packages):
    where, shapes = MODELS[key]
    rng = np.random.default_rng()
    errors = {"fp32": [], "fp16": []}
    for _ in range(3):
        feeds = _feeds(shapes, rng)
        expected = _ort(onnx_files[where], feeds)
        for precision in errors:
            got = list(run_package(packages[where], feeds, precision).values())
            errors[precision] += [rel_l2(e, g) for e, g in zip(expected, got)]
    print(f"{key}: fp32 max rel L2 {max(errors['fp32']):.2e}, fp16 {max(errors['fp16']):.2e}")
    assert max(errors["fp32"]) <= FP32_TOLERANCE_BY_MODEL.get(key, FP32_TOLERANCE)
    assert max(errors["fp16"]) <= FP16_TOLERANCE


@pytest.mark.parametrize("name", ["efficientnet-lite0", "mobilenet-v2"])
@pytest.mark.parametrize("photo", sorted(p.name for p in paths.SAMPLES_DIR.glob("*.jpg")))
def test_real_photos_give_onnxruntimes_top1(name, photo, bundled_models, packages):
    import json

    spec = json.loads((bundled_models[name] / "model.json").read_text())["preprocess"]
    x = reference.preprocess(paths.SAMPLES_DIR / photo, spec)
    expected = reference.run_onnx(bundled_models[name] / "model.onnx", x)
    for precision in ("fp32", "fp16"):
        got = run_package(packages[f"models/{name}"], {"image": x}, precision)["logits"]
        assert int(np.argmax(got)) == int(np.argmax(expected)), precision
