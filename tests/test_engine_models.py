"""Whole bundled classifiers on the WebGPU engine (headless Chromium, SwiftShader) against
onnxruntime (CPU): the same top-1 on the sample photos, fp32 weights within 1e-4 relative L2
and fp16-stored weights within 1e-2, the GPU's softmax + top-k agreeing with onnxruntime's logits.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO
from tests.engine_harness import engine_page, onnxruntime_output, rel_l2

SAMPLES = ("chelsea.jpg", "coffee.jpg")
MODELS = ("efficientnet-lite0", "mobilenet-v2")


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
    with engine_page(webapp_dist, tmp_path_factory.mktemp("unused")) as p:
        p.page.set_default_timeout(300_000)
        yield p
        assert p.errors == []


def reference(name: str) -> tuple[dict, dict]:
    """Preprocessed sample photos and onnxruntime's logits for them."""
    folder = REPO / "build" / "models" / name
    manifest = json.loads((folder / "manifest.json").read_text())
    inputs = {photo: preprocessed(photo, manifest["preprocess"]) for photo in SAMPLES}
    return inputs, {photo: onnxruntime_output(folder / "model.onnx", x).ravel() for photo, x in inputs.items()}


# Each load compiles ~50 pipelines and each inference takes ~15 s on SwiftShader: fp32 on
# both models and every photo, fp16 storage on one model and photo.
@pytest.mark.parametrize("name, precision, tolerance, photos", [
    ("efficientnet-lite0", "fp32", 1e-4, SAMPLES),
    ("mobilenet-v2", "fp32", 1e-4, SAMPLES),
    ("efficientnet-lite0", "fp16", 1e-2, SAMPLES[-1:]),
])
def test_same_top1_as_onnxruntime_on_photos(page, name, precision, tolerance, photos):
    inputs, refs = reference(name)
    model_id = page.load(f"models/{name}/", precision)
    for photo in photos:
        out = page.run(model_id, inputs[photo])
        assert rel_l2(out, refs[photo]) <= tolerance, (name, precision, photo)
        assert int(out.argmax()) == int(refs[photo].argmax()), (name, precision, photo)
    if precision == "fp32" and name == MODELS[0]:   # the GPU's softmax + top-k, same load
        logits = refs["coffee.jpg"]
        [top] = page.top_k(model_id, inputs["coffee.jpg"], 5)
        assert [e["index"] for e in top] == list(np.argsort(-logits, kind="stable")[:5])
        probs = np.exp(logits - logits.max())
        np.testing.assert_allclose([e["score"] for e in top], np.sort(probs / probs.sum())[::-1][:5], rtol=1e-3)
    page.dispose(model_id)
