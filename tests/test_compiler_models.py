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
from tessera.zoo import bundled, reference


def pixels(mean, std):
    """Random pixels (0..255) normalised as the trained model's own preprocessing does."""
    mean, std = (np.array(v, np.float32).reshape(1, -1, 1, 1) for v in (mean, std))
    return lambda shape, rng: (rng.random(shape, dtype=np.float32) * np.float32(255) - mean) / std


def uniform(lo: float, hi: float):
    return lambda shape, rng: rng.uniform(lo, hi, shape).astype(np.float32)


def style_mix(shape, rng):
    """A random convex combination of the styles, as the style editor's sliders make."""
    return rng.dirichlet(np.ones(shape[-1])).astype(np.float32).reshape(shape)


BUNDLED_PREPROCESS = {m.name: m.preprocess for m in bundled.MODELS}
LITE0, MOBILENET_V2 = (pixels(BUNDLED_PREPROCESS[n]["mean"], BUNDLED_PREPROCESS[n]["std"])
                       for n in ("efficientnet-lite0", "mobilenet-v2"))
# The random-weight classifier stand-ins get uniform 0..1: it keeps their logits at the scale
# the sample photos give them (their BatchNorm statistics come from those photos), whereas
# ImageNet-normalised noise drives their activations 20-600x past it. In that regime (photos
# included) the ResNet50 stand-in amplifies any rounding ~20x: a float32 run of the package
# is as far from the float64 oracle as onnxruntime is (~7e-6), and fp16 weights give ~1e-2.
STAND_IN = uniform(0, 1)
PHOTO_0_255, PHOTO_0_1 = uniform(0, 255), uniform(0, 1)

# name -> (where the ONNX file is, {input: (shape, how to draw it)})
MODELS = {
    "efficientnet-lite0": ("models/efficientnet-lite0", {"image": ((1, 3, 224, 224), LITE0)}),
    "mobilenet-v2": ("models/mobilenet-v2", {"image": ((1, 3, 224, 224), MOBILENET_V2)}),
    "resnet50": ("bench-models/resnet50", {"input": ((1, 3, 224, 224), STAND_IN)}),
    "mobilenet-v3-large": ("bench-models/mobilenet-v3-large", {"input": ((2, 3, 224, 224), STAND_IN)}),
    "mobilenet-v3-small": ("bench-models/mobilenet-v3-small", {"input": ((2, 3, 224, 224), STAND_IN)}),
    "fast-style-64x48": ("bench-models/fast-style", {"input": ((1, 3, 64, 48), PHOTO_0_255)}),
    "fast-style-40x72": ("bench-models/fast-style", {"input": ((1, 3, 40, 72), PHOTO_0_255)}),
    "multistyle26-64x48": ("bench-models/multistyle26", {"image": ((1, 3, 64, 48), PHOTO_0_1),
                                                         "style_weights": ((26,), style_mix)}),
    "multistyle26-32x80": ("bench-models/multistyle26", {"image": ((1, 3, 32, 80), PHOTO_0_1),
                                                         "style_weights": ((26,), style_mix)}),
}

FP32_TOLERANCE = 1e-5
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


def _feeds(inputs: dict, rng) -> dict:
    return {name: draw(shape, rng) for name, (shape, draw) in inputs.items()}


def _ort(path: Path, feeds: dict) -> list[np.ndarray]:
    """onnxruntime with graph optimisations off: the ONNX semantics literally (its int8 QDQ
    fusions would otherwise compute a different, integer, function)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("key", list(MODELS))
def test_package_matches_onnxruntime(key, onnx_files, packages):
    where, inputs = MODELS[key]
    rng = np.random.default_rng()
    errors = {"fp32": [], "fp16": []}
    for _ in range(3):
        feeds = _feeds(inputs, rng)
        expected = _ort(onnx_files[where], feeds)
        for precision in errors:
            got = list(run_package(packages[where], feeds, precision).values())
            errors[precision] += [rel_l2(e, g) for e, g in zip(expected, got)]
    print(f"{key}: fp32 max rel L2 {max(errors['fp32']):.2e}, fp16 {max(errors['fp16']):.2e}")
    assert max(errors["fp32"]) <= FP32_TOLERANCE
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
