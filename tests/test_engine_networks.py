"""Whole networks beyond the CNN classifiers, as exported from PyTorch with a dynamic batch (a
ViT and a ConvNeXt in miniature: tests/small_networks.py), compiled and run by the engine in
headless Chromium against onnxruntime (CPU) on fresh random inputs, buffers poisoned first; and
the compiler's fusions on them, which decide how many dispatches they take."""

from __future__ import annotations

import numpy as np
import pytest

from tests import small_networks
from tests.engine_harness import onnxruntime_output, rel_l2

FP32_TOLERANCE = 1e-4
rng = np.random.default_rng()

NETWORKS = {"vit": small_networks.vit, "convnext": small_networks.convnext,
            "densenet": small_networks.densenet,      # concats of channels in fours: vec4 copies
            "densenet, channels not in fours": lambda: small_networks.densenet(stem=6, growth=3, layers=3)}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_network_matches_onnxruntime(page, name):
    """At batch 2: N is free in the file and bound at load (the reference plan, so SwiftShader
    compiles one set of pipelines)."""
    url, path = page.compile(NETWORKS[name](), name.replace(" ", "_").replace(",", ""), {"N": 2})
    model_id = page.load(url, "fp32", split_k_in_workgroup=True)
    x = rng.standard_normal((2, 3, small_networks.IMG, small_networks.IMG)).astype(np.float32)
    assert rel_l2(page.run(model_id, x), onnxruntime_output(path, x).ravel()) <= FP32_TOLERANCE, name
    page.dispose(model_id)


def test_each_transformer_block_is_its_fused_ops():
    """Per ViT block: two layer_norms, four gemms (GELU in the first MLP one, the residual adds
    in the projection and the second MLP one) and one attention op (the scores never written)."""
    from tessera.compiler.pipeline import compile_graph

    ops = [n for n in compile_graph(small_networks.vit(depth=1), "vit").nodes]
    count = lambda op: sum(n.op == op for n in ops)  # noqa: E731
    assert (count("layer_norm"), count("attention"), count("matmul"), count("softmax")) == (3, 1, 0, 0)
    gemms = [n for n in ops if n.op == "gemm"]
    assert [a["fn"] for g in gemms for a in g.attrs["activations"]] == ["gelu"]
    assert sum(g.attrs["residual"] for g in gemms) == 2 and len(gemms) == 5   # 4 in the block, the head


def test_sequence_first_attention_matches_onnxruntime(page):
    """torch's MultiheadAttention layout, the batch behind the token axis: the matmuls' views
    have strides of 12·N, which the engine binds at load (N = 2 here)."""
    url, path = page.compile(small_networks.sequence_first_attention(), "mha_seq_first", {"N": 2})
    model_id = page.load(url, "fp32")
    x = rng.standard_normal((2, 7, 12)).astype(np.float32)
    assert rel_l2(page.run(model_id, x), onnxruntime_output(path, x).ravel()) <= FP32_TOLERANCE
    page.dispose(model_id)


def test_shifted_window_attention_matches_onnxruntime(page):
    """Swin's shifted block: one attention op over [N, windows, heads] with the relative
    position bias and the windows' mask as one broadcast bias (N = 2 here)."""
    url, path = page.compile(small_networks.shifted_window_attention(windows=4, tokens=49, dim=96, heads=3),
                             "shifted_windows", {"N": 2})
    model_id = page.load(url, "fp32")
    assert any("var<storage, read> bt:" in k["source"] for k in page.kernels(model_id)["kernels"])
    x = rng.standard_normal((2, 4, 49, 96)).astype(np.float32)
    assert rel_l2(page.run(model_id, x), onnxruntime_output(path, x).ravel()) <= FP32_TOLERANCE
    page.dispose(model_id)


def test_dense_block_concats_chain_and_take_one_dispatch_each(page):
    """DenseNet's k-th layer concatenates all k earlier feature maps: compiled, each concat reads
    the one before it and one new map, and runs as one dispatch (9 concats of up to 9 inputs
    here: 9 dispatches, not 44). Each layer's BatchNorm → ReLU before its 1×1 conv is done by
    that conv as it loads the concat: no dispatch of its own."""
    from tessera.compiler.pipeline import compile_graph

    model = small_networks.densenet(layers=8)
    concats = [n for n in compile_graph(model, "densenet").nodes if n.op == "concat"]
    assert [n.inputs for n in concats[1:]] == [[before.outputs[0], f"layer{k}.conv2"]
                                               for k, before in enumerate(concats[:-1], start=1)]
    assert concats[0].inputs == ["stem", "layer0.conv2"]
    url, path = page.compile(model, "densenet_chain", {"N": 2})
    labels = page.page.evaluate("([u, s]) => tesseraEngine.plan(u, s)", [url, [2, 3, 64, 64]])["labels"]
    assert sorted(label for label in labels if ".cat" in label) == sorted(n.name for n in concats)
    assert not [label for label in labels if ".norm1" in label]
    assert sum(label.endswith(".conv1") for label in labels) == 8
    model_id = page.load(url, "fp32")
    x = rng.standard_normal((2, 3, small_networks.IMG, small_networks.IMG)).astype(np.float32)
    assert rel_l2(page.run(model_id, x), onnxruntime_output(path, x).ravel()) <= FP32_TOLERANCE
    page.dispose(model_id)
