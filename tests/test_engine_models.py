"""Whole classifiers on the WebGPU engine (headless Chromium, SwiftShader) against onnxruntime
(CPU). The bundled models give the same top-1 on both sample photos: EfficientNet-Lite0 with
fp32 weights within 1e-4 relative L2, the second photo through the GPU's softmax + top-k;
MobileNetV2 with fp16-stored weights within 1e-2 on one photo, and both photos through the
app's path (decoded by the browser, preprocessed on the GPU). The MobileNetV3-Small stand-in
(squeeze-excite, hard-swish) is within 1e-4 with fp32 weights on a random input.

A 224×224 inference of the bundled models takes seconds on SwiftShader, so each model is loaded
once and each photo run as few times as the checks need.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from PIL import Image

from tests.conftest import REPO
from tests.engine_harness import PACKAGES_MOUNT, engine_page, onnxruntime_output, rel_l2

CHELSEA, COFFEE = "chelsea.jpg", "coffee.jpg"


def preprocessed(photo: str, p: dict) -> np.ndarray:
    """Resize the shorter side to p['resize'], centre-crop p['crop'], normalise: NCHW."""
    img = Image.open(REPO / "assets" / "samples" / photo).convert("RGB")
    scale = p["resize"] / min(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BILINEAR)
    left, top = (img.width - p["crop"]) // 2, (img.height - p["crop"]) // 2
    x = np.asarray(img.crop((left, top, left + p["crop"], top + p["crop"])), np.float32)
    x = (x - np.array(p["mean"], np.float32)) / np.array(p["std"], np.float32)
    return x.transpose(2, 0, 1)[None]


@pytest.fixture(scope="module")
def page(webapp_dist, bundled_models, tmp_path_factory):
    with engine_page(webapp_dist, tmp_path_factory.mktemp("engine-packages")) as p:
        p.page.set_default_timeout(300_000)
        yield p
        assert p.errors == []


def reference(name: str, photo: str) -> tuple[np.ndarray, np.ndarray]:
    """A preprocessed sample photo and onnxruntime's logits for it."""
    folder = REPO / "build" / "models" / name
    x = preprocessed(photo, json.loads((folder / "manifest.json").read_text())["preprocess"])
    return x, onnxruntime_output(folder / "model.onnx", x).ravel()


def assert_same_as_onnxruntime(page, model_id, x, ref, tolerance, what):
    out = page.run(model_id, x)
    assert rel_l2(out, ref) <= tolerance, what
    assert int(out.argmax()) == int(ref.argmax()), what


def test_efficientnet_lite0_fp32_on_photos_and_gpu_top_k(page):
    model_id = page.load("models/efficientnet-lite0/", "fp32")
    x, ref = reference("efficientnet-lite0", CHELSEA)
    assert_same_as_onnxruntime(page, model_id, x, ref, 1e-4, CHELSEA)
    # The other photo through the classifier's path: softmax + top-k on the GPU, k pairs back.
    x, logits = reference("efficientnet-lite0", COFFEE)
    [top] = page.top_k(model_id, x, 5)
    assert [e["index"] for e in top] == list(np.argsort(-logits, kind="stable")[:5])
    probs = np.exp(logits - logits.max())
    np.testing.assert_allclose([e["score"] for e in top], np.sort(probs / probs.sum())[::-1][:5], rtol=1e-3)
    page.dispose(model_id)


def test_mobilenet_v2_fp16_weights_on_photos(page):
    model_id = page.load("models/mobilenet-v2/", "fp16")
    x, ref = reference("mobilenet-v2", CHELSEA)
    assert_same_as_onnxruntime(page, model_id, x, ref, 1e-2, CHELSEA)
    # The app's path, for both photos: decoded by the browser, resized, cropped and normalised
    # on the GPU in the model's own pass; onnxruntime's top-1 on the photos preprocessed by PIL.
    for photo in (CHELSEA, COFFEE):
        shutil.copy(REPO / "assets" / "samples" / photo, page.packages_dir / photo)
    tops = page.page.evaluate("([id, urls]) => tesseraEngine.topKPhotos(id, urls, 1)",
                              [model_id, [f"{PACKAGES_MOUNT}/{photo}" for photo in (CHELSEA, COFFEE)]])
    for photo, [best] in zip((CHELSEA, COFFEE), tops):
        assert best["index"] == int(reference("mobilenet-v2", photo)[1].argmax()), photo
    page.dispose(model_id)


def test_mobilenet_v3_small_fp32(page):
    """Squeeze-excite and hard-swish in a whole network, on the benchmark's stand-in."""
    from tessera import paths
    from tessera.bench.cases import ensure_bench_models

    ensure_bench_models(["mobilenet-v3-small"], log=lambda _: None)
    source = paths.build_dir() / "bench-models" / "mobilenet-v3-small" / "model.onnx"
    url, path = page.compile(onnx.load(source), "mobilenet-v3-small")
    model_id = page.load(url, "fp32")
    # Uniform 0..1 keeps the random-weight stand-in's logits at the scale its BatchNorm was
    # calibrated for (see tests/test_compiler_models.py).
    x = np.random.default_rng().random((1, 3, 224, 224), dtype=np.float32)
    out = page.run(model_id, x)
    assert rel_l2(out, onnxruntime_output(path, x).ravel()) <= 1e-4
    page.dispose(model_id)
