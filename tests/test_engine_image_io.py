"""The engine's GPU input and output paths in real headless Chromium (SwiftShader): images
resized, cropped and normalised on the GPU (against a numpy reference of the same resampling;
MobileNetV2's top-1 on the sample photos through that path is in test_engine_models.py, which
has the model loaded), output drawn into a canvas with no readback, calls pipelined without awaiting each other, and the lost-device and
uncaptured-error paths.

Tiny packages compiled here keep loads short; multistyle26 at 64×64 is loaded once.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from playwright.sync_api import Error as PageError

from tessera.paths import build_dir
from tests.engine_harness import engine_page, onnxruntime_output, page_image, rel_l2

rng = np.random.default_rng()
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
TINY = {"resize": 18, "crop": 16, "mean": MEAN, "std": STD}


def model(nodes, x_shape, y_shape, initializers):
    return helper.make_model(
        helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
                          [numpy_helper.from_array(v.astype(np.float32), k) for k, v in initializers.items()]),
        opset_imports=[helper.make_opsetid("", 17)], ir_version=8)  # onnxruntime-web reads IR ≤ 13


def identity_model(crop):
    """x + 0: the output is the input tensor the image path wrote (NHWC inside the engine)."""
    return model([helper.make_node("Add", ["x", "zero"], ["y"])], ["N", 3, crop, crop], ["N", 3, crop, crop],
                 {"zero": np.zeros((1, 3, 1, 1))})


def tiny_classifier(seed=7, classes=10):
    """conv → relu → global pool → gemm: a classifier that loads in about a second."""
    r = np.random.default_rng(seed)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("Gemm", ["f", "g", "h"], ["y"], transB=1)]
    inits = {"w": r.standard_normal((8, 3, 3, 3)), "b": r.standard_normal(8) * 0.1,
             "g": r.standard_normal((classes, 8)) * 4, "h": r.standard_normal(classes)}
    return model(nodes, ["N", 3, 16, 16], ["N", classes], inits)


@pytest.fixture(scope="module")
def page(webapp_dist, bundled_models, tmp_path_factory):
    with engine_page(webapp_dist, tmp_path_factory.mktemp("engine-packages")) as p:
        p.page.set_default_timeout(300_000)
        yield p
        assert p.errors == []


@pytest.fixture(scope="module")
def classifier_package(page):
    """The tiny classifier as an app model folder: package, source ONNX and model.json."""
    url, path = page.compile(tiny_classifier(), "tiny-classifier", {"N": 1}, task="classify", preprocess=TINY)
    folder = page.packages_dir / "tiny-classifier"
    (folder / "model.json").write_text(json.dumps({
        "format": 1, "name": "tiny-classifier", "title": "Tiny classifier", "task": "classify",
        "source": "source.onnx", "input": {"name": "x", "shape": [1, 3, 16, 16], "layout": "NCHW"},
        "output": {"name": "y", "kind": "logits"}, "preprocess": TINY}))
    return url, path


# --- the image-input kernel ---------------------------------------------------------------

def tent_weights(n_out: int, origin: float, footprint: float, n_src: int) -> np.ndarray:
    """[n_out, n_src]: output pixel o's centre at origin + (o + 0.5)·footprint source pixels,
    a tent of radius max(footprint, 1) over source pixel centres, normalised inside the image."""
    r = max(footprint, 1.0)
    centres = origin + (np.arange(n_out)[:, None] + 0.5) * footprint
    w = np.clip(1 - np.abs(np.arange(n_src)[None, :] + 0.5 - centres) / r, 0, None)
    return w / w.sum(axis=1, keepdims=True)


def preprocess_reference(rgb: np.ndarray, p: dict) -> np.ndarray:
    """Shorter side to p['resize'], centre p['crop'] square, normalised: [3, crop, crop]."""
    h, w, _ = rgb.shape
    side = p["crop"] * min(h, w) / p["resize"]
    wy = tent_weights(p["crop"], (h - side) / 2, side / p["crop"], h)
    wx = tent_weights(p["crop"], (w - side) / 2, side / p["crop"], w)
    x = np.einsum("yh,hwc,xw->cyx", wy, rgb.astype(np.float64), wx)
    return (x - np.array(p["mean"])[:, None, None]) / np.array(p["std"])[:, None, None]


def random_image(h, w):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_image_input_matches_reference_resampling(page):
    """One call of three images (three kinds of source) as a batch, then three new sizes (the
    textures are remade): upscaling, mild and big downscales, odd sizes, landscape and portrait."""
    url, _ = page.compile(identity_model(TINY["crop"]), "image-identity", {"N": 3}, preprocess=TINY)
    model_id = page.load(url)
    rounds = [[(11, 13), (int(rng.integers(19, 40)), int(rng.integers(41, 60))), (700, 1003)],
              [(int(rng.integers(61, 90)), int(rng.integers(17, 30))), (16, 16), (301, 257)]]
    for sizes in rounds:
        images = [random_image(h, w) for h, w in sizes]
        out = page.run_images(model_id, [page_image(im, kind) for im, kind in zip(images, ("bitmap", "canvas", "videoframe"))])
        ref = np.stack([preprocess_reference(im, TINY) for im in images])
        assert out.shape == (ref.size,)
        assert rel_l2(out, ref.ravel()) <= 1e-4, sizes
    page.dispose(model_id)


# --- calls in flight together ---------------------------------------------------------------

def test_pipelined_calls_each_get_their_own_result(page, classifier_package):
    """Five top-k calls issued before any is awaited (more than the ring's three readback
    buffers), each with its own input, each checked against its own reference."""
    url, path = classifier_package
    model_id = page.load(url)
    inputs = [rng.standard_normal((1, 3, 16, 16)).astype(np.float32) for _ in range(5)]
    results = page.top_k_pipelined(model_id, inputs, 3)
    for x, [top] in zip(inputs, results):
        logits = onnxruntime_output(path, x).ravel()
        assert [e["index"] for e in top] == list(np.argsort(-logits, kind="stable")[:3])
        probs = np.exp(logits - logits.max())
        np.testing.assert_allclose([e["score"] for e in top], np.sort(probs / probs.sum())[::-1][:3], rtol=1e-4)
    page.dispose(model_id)


# --- a real network on real photos ----------------------------------------------------------

# --- output into a canvas -------------------------------------------------------------------

def test_render_to_canvas_matches_readback(page):
    """multistyle26 (white = 1.0, from the manifest's pixel_range) drawn into a 64×64 canvas
    context: each pixel within 1/255 of the read-back output, clamped. The context's texture is a
    plain one read back by the page (on SwiftShader any draw into a real WebGPU canvas loses the
    device)."""
    path = build_dir() / "bench-models" / "multistyle26" / "model.onnx"
    url, _ = page.compile(onnx.load(path), "multistyle26-canvas", {"h": 64, "w": 64}, extra={"pixel_range": 1})
    model_id = page.load(url)
    image = rng.uniform(0, 1, (1, 3, 64, 64)).astype(np.float32)
    style = np.zeros(26, np.float32)
    style[rng.choice(26, 2, replace=False)] = [0.6, 0.4]
    pixels, output = page.render_and_run(model_id, image, {"style_weights": style})
    pixels = pixels.astype(np.float64)
    expected = np.clip(output.astype(np.float64).reshape(3, 64, 64), 0, 1).transpose(1, 2, 0) * 255
    assert np.all(pixels[..., 3] == 255)
    assert np.abs(pixels[..., :3] - expected).max() <= 1.0
    assert expected.std() > 10      # an image, not a flat colour that any bug could match
    page.dispose(model_id)


# --- device loss and uncaptured errors ----------------------------------------------------

def test_lost_device_reloads_once_then_falls_back_to_wasm(page, classifier_package):
    """Through the app's classifier (openClassifier under auto): the model folder's package on
    the engine, its source ONNX on wasm."""
    url, _ = classifier_package
    # A smooth image, so the wasm path's canvas resampling and the GPU's agree closely.
    yy, xx = np.mgrid[0:46, 0:62] / 20.0
    image = page_image((127.5 + 127.5 * np.stack([np.sin(xx), np.cos(yy), np.sin(xx + yy)], -1)).astype(np.uint8))
    opened = page.page.evaluate("(u) => tesseraEngine.openClassifier(u)", url)
    assert opened["backend"] == "webgpu"
    classify = lambda: page.page.evaluate("([id, im]) => tesseraEngine.classify(id, im, 3)", [opened["id"], image])
    first = classify()
    assert first["backend"] == "webgpu" and first["note"] is None
    assert page.page.evaluate("() => tesseraEngine.loseDevices()") == 1
    after_reload = classify()
    assert (after_reload["backend"], after_reload["note"]) == ("webgpu", None)
    assert after_reload["top"][0]["index"] == first["top"][0]["index"]
    assert page.page.evaluate("() => tesseraEngine.loseDevices()") == 1
    on_wasm = classify()
    assert on_wasm["backend"] == "wasm"
    assert "lost again" in on_wasm["note"] and "wasm" in on_wasm["note"]
    assert on_wasm["top"][0]["index"] == first["top"][0]["index"]
    page.page.evaluate("(id) => tesseraEngine.disposeClassifier(id)", opened["id"])


def test_uncaptured_error_fails_the_call(page, classifier_package):
    url, _ = classifier_package
    model_id = page.load(url)
    x = rng.standard_normal((1, 3, 16, 16)).astype(np.float32)
    page.top_k(model_id, x, 1)
    assert page.page.evaluate("() => tesseraEngine.uncapturedError()") == 1   # delivered during the next call
    with pytest.raises(PageError, match="(?s)WebGPU error: .*invalid on purpose"):
        page.top_k(model_id, x, 1)
    page.dispose(model_id)
