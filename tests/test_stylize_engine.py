"""The bundled arbitrary-style pair on Tessera's WebGPU engine (headless Chromium, SwiftShader)
against onnxruntime (CPU) on the same ONNX files: predictor → style vector → transform, on
photos; the transform's NHWC output drawn into a canvas (channels-last canvas output) equals
its read-back output. Each package is compiled with the test's size as its reference shape and the
two are loaded once, side by side, so SwiftShader builds one set of pipelines per network. (multistyle26 against onnxruntime: at 64×64 in
test_engine_style_kernels.py, at 64×48 through the editor's preview in test_ui_style.py; it
isn't loaded a third time here.)"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from tessera import paths
from tessera.zoo.bundled_styles import BY_NAME
from tests.engine_harness import engine_page

PSNR_DB = 40.0


@pytest.fixture(scope="module")
def page(webapp_dist, bundled_models, tmp_path_factory):
    with engine_page(webapp_dist, tmp_path_factory.mktemp("style-packages")) as p:
        yield p
        assert p.errors == []


def photo(name: str, width: int, height: int) -> np.ndarray:
    img = Image.open(paths.SAMPLES_DIR / f"{name}.jpg").convert("RGB").resize((width, height), Image.LANCZOS)
    return np.asarray(img, np.float32) / np.float32(255)


def onnxruntime_literal(path, feeds: dict) -> np.ndarray:
    """onnxruntime with graph optimisations off: the int8 networks' ONNX semantics. Its default
    fuses Q/DQ pairs into integer kernels, a different function (the style vector moves by
    25-45 % relative L2 on these photos)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def psnr(out: np.ndarray, ref: np.ndarray) -> float:
    out, ref = np.clip(out, 0, 1).astype(np.float64), np.clip(ref, 0, 1).astype(np.float64)
    mse = np.mean((out - ref) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def bundled(page, name: str, bindings: dict | None = None):
    """The bundled network's ONNX, compiled with its stylize manifest section and `bindings`."""
    network = BY_NAME[name]
    model = onnx.load(paths.bundled_models_dir() / name / "model.onnx")
    return page.compile(model, name, bindings, task="stylize",
                        extra={"pixel_range": 1, "stylize": network.stylize})


VECTOR = "mobilenet_conv/Conv/BiasAdd"


@pytest.fixture(scope="module")
def pair(page):
    """Both networks compiled for 64×64 and loaded at once (their pipelines compile together)."""
    predict_url, predict_path = bundled(page, "arbitrary-predict", {"h": 64, "w": 64})
    transform_url, transform_path = bundled(page, "arbitrary-transform", {"h": 64, "w": 64})
    predictor, transform = page.page.evaluate(
        "(urls) => Promise.all(urls.map((u) => tesseraEngine.load(u, 'fp32')))", [predict_url, transform_url])
    return predictor, predict_path, transform, transform_path


def test_arbitrary_pair_matches_onnxruntime(pair, page):
    predictor, predict_path, transform, transform_path = pair
    style = photo("chelsea", 64, 64)[None]     # the app feeds 256×256; any size is the same graph
    vector = page.run(predictor, style)
    ref_vector = onnxruntime_literal(predict_path, {"style_image": style}).ravel()
    assert vector.shape == (100,)
    content = photo("rocket", 64, 64)[None]
    # The transform is fed onnxruntime's style vector, so each network is compared on its own.
    out = page.run(transform, content, {"mobilenet_conv/Conv/BiasAdd": ref_vector})
    ref = onnxruntime_literal(transform_path, {"content_image": content,
                                               "mobilenet_conv/Conv/BiasAdd": ref_vector.reshape(1, 100, 1, 1)})
    assert out.size == ref.size == 64 * 64 * 3
    vector_error = np.linalg.norm(vector - ref_vector) / np.linalg.norm(ref_vector)
    got = psnr(out, ref.ravel())   # inf when identical
    print(f"style vector rel L2 {vector_error:.4f}; transform 64x64: {got:.1f} dB")
    assert vector_error <= 0.05
    assert got >= PSNR_DB


def test_transform_drawn_channels_last_into_a_canvas_equals_its_readback(pair, page):
    """The NHWC output drawn by the canvas output's render pass: each pixel within 1/255 of the
    read-back output (clamped). (The transform's tiled render is checked against the preview
    through the editor's export, tests/test_ui_style.py; tiling itself in test_engine_tiled.py.)"""
    _, _, transform, _ = pair
    content = photo("coffee", 64, 64)
    vector = np.random.default_rng(3).normal(0, 1, 100).astype(np.float32)
    pixels, output = page.render_and_run(transform, content[None], {VECTOR: vector})
    pixels = pixels.astype(np.float64)
    expected = np.clip(output.astype(np.float64).reshape(64, 64, 3), 0, 1) * 255
    assert np.all(pixels[..., 3] == 255)
    assert np.abs(pixels[..., :3] - expected).max() <= 1.0
    assert expected.std() > 10      # an image, not a flat colour that any bug could match
