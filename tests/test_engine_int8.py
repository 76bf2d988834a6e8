"""Int8 convs: the compiler's marks on a QDQ network's convs (compiler/passes/int8_convs.py) and
the engine's integer kernel for them (kernels/conv2d_int8.ts), in headless Chromium. SwiftShader
has no matrix units, so the kernel runs its plain-WGSL stand-in for them (`int8="emulated"`):
the staging, quantisation and epilogue checked here are the ones the matrix form runs; the
matrix form itself is checked where an adapter has the units (`tessera bench` on the H100,
docs/benchmarks.md)."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.compiler.numpy_executor import run_package
from tessera.compiler.pipeline import compile_graph
from tessera.zoo.quantize import quantize_qdq
from tests import small_networks
from tests.engine_harness import onnxruntime_output, rel_l2

rng = np.random.default_rng()
BATCH = 2
SHAPE = (BATCH, 3, small_networks.IMG, small_networks.IMG)
# The integer sums are exact and the oracle's float ones nearly so; what differs is the f32
# rounding of the rescale, which can move a value across a later fake_quant's rounding edge.
TOLERANCE = 1e-4
CONVS = ("stem", "b.reduce", "b.mid", "b.expand", "down")


def quantized_convnet(activations: str):
    calibration = [np.random.default_rng(seed).standard_normal(SHAPE).astype(np.float32) for seed in range(4)]
    return quantize_qdq(small_networks.residual_convnet(width=64), calibration, activations)


@pytest.fixture(scope="module", params=["uint8", "int8"])
def qdq(request):
    return request.param, quantized_convnet(request.param)


def test_every_conv_of_a_qdq_network_is_marked_with_its_input_grid(qdq):
    activations, model = qdq
    graph = compile_graph(model, "qdq")
    convs = [n for n in graph.nodes if n.op == "conv2d"]
    assert len(convs) == len(CONVS) and all("int8" in n.attrs for n in convs)
    producers = graph.producers()
    for conv in convs:
        grid = conv.attrs["int8"]
        assert (grid["qmin"], grid["qmax"]) == ((0, 255) if activations == "uint8" else (-128, 127))
        source = producers[conv.inputs[0]]
        chain = [source.attrs] if source.op == "unary" else source.attrs["activations"]
        assert chain[-1]["params"]["scale"] == grid["scale"]
        scales = graph.constants[conv.weights["int8_scale"]]
        weight = graph.constants[conv.weights["weight"]]
        assert np.abs(weight / scales - np.rint(weight / scales)).max() < 1e-4
        assert np.abs(np.rint(weight / scales)).max() == 127


def test_a_float_network_has_no_int8_convs():
    graph = compile_graph(small_networks.residual_convnet(), "float")
    assert not any("int8" in n.attrs for n in graph.nodes)


@pytest.mark.parametrize("large", [False, True], ids=["32x32 tiles", "64x64 tiles"])
def test_int8_kernel_matches_the_float_network(page, qdq, large):
    """Against the numpy oracle of the same package (the float convs the marks stand for) and
    onnxruntime running the QDQ file, at batch 2; every conv with channels in fours takes the
    integer kernel (the stem's 3 input channels keep it on the float one)."""
    activations, model = qdq
    url, path = page.compile(model, f"qdq_{activations}_{large}", {"N": BATCH})
    model_id = page.load(url, "fp32", int8="emulated", large_conv_tiles=large)
    int8 = [k for k in page.kernels(model_id)["kernels"] if ":int8" in k["label"]]
    tile = "64x64x" if large else "32x32x"
    assert len(int8) == len(CONVS) - 1 and all(f"emulated tile {tile}" in k["source"] for k in int8)
    assert sum("K split" in k["source"] for k in int8) == 1     # the 576-tap conv over a small grid
    x = rng.standard_normal(SHAPE).astype(np.float32)
    out = page.run(model_id, x)
    oracle = run_package(page.packages_dir / f"qdq_{activations}_{large}", {"x": x})["logits"]
    assert rel_l2(out, oracle.ravel()) <= TOLERANCE
    assert rel_l2(out, onnxruntime_output(path, x).ravel()) <= 2e-2
    page.dispose(model_id)


def test_int8_off_runs_the_marked_convs_as_floats(page, qdq):
    activations, model = qdq
    url, _ = page.compile(model, f"qdq_{activations}_off", {"N": BATCH})
    model_id = page.load(url, "fp32", int8="off")
    assert not any(":int8" in k["label"] for k in page.kernels(model_id)["kernels"])
    page.dispose(model_id)
