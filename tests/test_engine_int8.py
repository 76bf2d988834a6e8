"""Int8 convs: the compiler's marks on a QDQ network's convs (compiler/passes/int8_convs.py) and
the engine's integer kernel for them (kernels/conv2d_int8.ts), in headless Chromium. SwiftShader
has no matrix units, so the kernel runs its plain-WGSL stand-in for them (`int8="emulated"`):
the staging, quantisation and epilogue checked here are the ones the matrix form runs; the
matrix form itself is checked where an adapter has the units (`tessera bench` on the H100,
docs/benchmarks.md)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tessera.compiler.numpy_executor import run_package
from tessera.compiler.pipeline import compile_graph
from tessera.zoo.quantize import quantize_qdq
from tests import small_networks
from tests.engine_harness import onnxruntime_output, rel_l2

rng = np.random.default_rng()
BATCH = 2
SHAPE = (BATCH, 3, small_networks.IMG, small_networks.IMG)
# A whole QDQ network rounds every conv's output again: the integer sums are exact and the
# oracle's float ones nearly so, and that last bit can carry a value across a rounding edge, one
# quantum up or down, which the next layers pass on (one logit one quantum off: 3e-3 seen). The
# single convs below, whose outputs nothing rounds, are held to 1e-6.
NETWORK_TOLERANCE = 1e-2
CONVS = ("stem", "b.reduce", "b.mid", "b.expand", "down")


def int8_convs(page, model_id: int) -> list[dict]:
    """The model's int8 conv kernels (not the packing ones beside them)."""
    return [k for k in page.kernels(model_id)["kernels"] if re.search(r":int8( split-k)?$", k["label"])]


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
        np.testing.assert_allclose(graph.constants[conv.weights["int8_dequant"]], grid["scale"] * scales, rtol=1e-6)


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
    int8 = int8_convs(page, model_id)
    tile = "64x64x" if large else "32x32x"
    assert len(int8) == len(CONVS) - 1 and all(f"emulated tile {tile}" in k["source"] for k in int8)
    assert sum("K split" in k["source"] for k in int8) == 1     # the 576-tap conv over a small grid
    x = rng.standard_normal(SHAPE).astype(np.float32)
    out = page.run(model_id, x)
    oracle = run_package(page.packages_dir / f"qdq_{activations}_{large}", {"x": x})["logits"]
    assert rel_l2(out, oracle.ravel()) <= NETWORK_TOLERANCE
    assert rel_l2(out, onnxruntime_output(path, x).ravel()) <= 2e-2
    assert (out.reshape(BATCH, -1).argmax(1) == oracle.argmax(1)).all()
    page.dispose(model_id)


def test_int8_off_runs_the_marked_convs_as_floats(page, qdq):
    activations, model = qdq
    url, _ = page.compile(model, f"qdq_{activations}_off", {"N": BATCH})
    model_id = page.load(url, "fp32", int8="off")
    assert not any(":int8" in k["label"] for k in page.kernels(model_id)["kernels"])
    page.dispose(model_id)


UINT8_GRID, INT8_GRID = (131, 0, 255), (-3, -128, 127)   # (zero point, qmin, qmax)
INPUT_SCALE = 0.05
OUTPUT_GRID = (0.02, 128)   # scale, uint8 zero point


def qdq_conv(n: int, cin: int, size: tuple[int, int], cout: int, kernel: int, stride: int, grid: tuple[int, int, int],
             residual: bool = False, relu: bool = False, seed: int = 0, rounded: bool = False):
    """One conv as a QDQ network writes it, its output left in floats (so nothing after it
    rounds again): input → QuantizeLinear → DequantizeLinear → Conv with int8 weights
    dequantised per output channel [→ rounded onto OUTPUT_GRID] [→ + its input] [→ ReLU].
    ``grid``: the input's (zero point, qmin, qmax), uint8 or int8."""
    r = np.random.default_rng(seed)
    zero, qmin, _ = grid
    q = r.integers(-127, 128, (cout, cin, kernel, kernel)).astype(np.int8)
    q.reshape(cout, -1)[:, 0] = r.choice([-127, 127], cout)     # each channel's peak maps to ±127
    h, w = size
    inits = [numpy_helper.from_array(np.float32(INPUT_SCALE), "sx"),
             numpy_helper.from_array(np.array(zero, np.uint8 if qmin == 0 else np.int8), "zx"),
             numpy_helper.from_array(q, "qw"),
             numpy_helper.from_array((r.uniform(0.5, 2, cout) / (127 * np.sqrt(cin * kernel * kernel))).astype(np.float32), "sw"),
             numpy_helper.from_array(np.zeros(cout, np.int8), "zw"),
             numpy_helper.from_array(r.standard_normal(cout).astype(np.float32) * 0.1, "b")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"]),
             helper.make_node("DequantizeLinear", ["qw", "sw", "zw"], ["w"], axis=0),
             helper.make_node("Conv", ["xd", "w", "b"], ["y0"], kernel_shape=[kernel] * 2, strides=[stride] * 2,
                              pads=[kernel // 2] * 4)]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, cin, h, w])]
    last = "y0"
    if rounded:
        inits += [numpy_helper.from_array(np.float32(OUTPUT_GRID[0]), "sy"),
                  numpy_helper.from_array(np.array(OUTPUT_GRID[1], np.uint8), "zy")]
        nodes += [helper.make_node("QuantizeLinear", [last, "sy", "zy"], ["yq"]),
                  helper.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["yd"])]
        last = "yd"
    if residual:   # the conv's own (rounded) input: same channels, stride 1
        nodes.append(helper.make_node("Add", [last, "xd"], ["y1"]))
        last = "y1"
    if relu:
        nodes.append(helper.make_node("Relu", [last], ["y2"]))
        last = "y2"
    nodes.append(helper.make_node("Identity", [last], ["y"]))
    graph = helper.make_graph(nodes, "qdq_conv", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


CASES = {
    # name: (n, cin, size, cout, kernel, stride, grid, residual, relu, large tiles)
    "pointwise uint8": (2, 32, (9, 13), 48, 1, 1, UINT8_GRID, False, True, False),
    "3x3 stride 2 int8": (2, 24, (17, 11), 36, 3, 2, INT8_GRID, False, True, False),
    "3x3 int8, residual": (2, 36, (9, 10), 36, 3, 1, INT8_GRID, True, True, False),
    "3x3 deep K, small grid (split K)": (1, 128, (5, 6), 40, 3, 1, UINT8_GRID, False, False, False),
    "pointwise 64x64 tiles, rows off the tile": (3, 132, (10, 7), 132, 1, 1, INT8_GRID, True, False, True),
    "3x3 64x64 tiles, 64-tap steps (split K)": (1, 40, (12, 12), 68, 3, 1, UINT8_GRID, False, True, True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_int8_conv_matches_its_float_conv(page, case):
    """The integer kernel against the numpy oracle of the float conv the mark stands for, on
    fresh random inputs on the input's grid and a little past both its ends."""
    n, cin, size, cout, kernel, stride, grid, residual, relu, large = CASES[case]
    model = qdq_conv(n, cin, size, cout, kernel, stride, grid, residual, relu)
    name = "int8_" + "".join(ch for ch in case if ch.isalnum())
    url, _ = page.compile(model, name)
    model_id = page.load(url, "fp32", int8="emulated", large_conv_tiles=large)
    int8 = int8_convs(page, model_id)
    assert len(int8) == 1
    assert ("K split" in int8[0]["source"]) == ("split" in case)
    assert ("ld_res" in int8[0]["source"]) == residual
    # Inputs on the grid already (within its range or clamped by it), so that no division's
    # last bit decides a rounding in the QuantizeLinear before the conv.
    zero, qmin, qmax = grid
    x = ((rng.integers(qmin - 20, qmax + 21, (n, cin, *size)) - zero) * np.float32(INPUT_SCALE)).astype(np.float32)
    out = page.run(model_id, x)
    oracle = run_package(page.packages_dir / name, {"x": x})["y"]
    assert rel_l2(out, oracle.ravel()) <= 1e-6, rel_l2(out, oracle.ravel())
    page.dispose(model_id)


@pytest.mark.parametrize("int8", ["emulated", "off"])
def test_a_rounded_conv_output_takes_its_residual_in_the_conv(page, int8):
    """QDQ residual blocks round the conv's output before the add: the add fuses into the conv
    with that rounding as its pre_activations, in the integer kernel and in the float one. A
    value whose exact sum sits on a rounding edge may land one output step either way (the
    integer sum is exact, the oracle's float one nearly); everything else matches to 1e-6."""
    model = qdq_conv(2, 36, (9, 10), 36, 3, 1, UINT8_GRID, residual=True, rounded=True)
    from tessera.compiler.pipeline import compile_graph

    (conv,) = [n for n in compile_graph(model, "rounded").nodes if n.op == "conv2d"]
    assert conv.attrs["residual"] and [a["fn"] for a in conv.attrs["pre_activations"]] == ["fake_quant"]
    name = f"int8_rounded_{int8}"
    url, _ = page.compile(model, name)
    model_id = page.load(url, "fp32", int8=int8)
    assert len(int8_convs(page, model_id)) == (1 if int8 == "emulated" else 0)
    zero, qmin, qmax = UINT8_GRID
    x = ((rng.integers(qmin, qmax + 1, (2, 36, 9, 10)) - zero) * np.float32(INPUT_SCALE)).astype(np.float32)
    out = page.run(model_id, x)
    oracle = run_package(page.packages_dir / name, {"x": x})["y"].ravel()
    off = np.abs(out - oracle)
    assert off.max() <= OUTPUT_GRID[0] * 1.001
    assert np.mean(off > 1e-5) < 0.01
    page.dispose(model_id)


def test_on_matrix_units_only_convs_big_enough_to_gain_run_in_integers(page):
    """The kernels a device with int8 matrix units would get (planned here, not run): a conv
    with fewer taps than a K step, or too few multiply-adds, stays a float conv."""
    cases = {"deep and big": ((8, 64, (28, 28), 128, 3), True), "deep, small": ((1, 64, (7, 7), 64, 3), False),
             "shallow, big": ((8, 32, (56, 56), 128, 1), False)}
    for name, ((n, cin, size, cout, kernel), integer) in cases.items():
        url, _ = page.compile(qdq_conv(n, cin, size, cout, kernel, 1, UINT8_GRID), f"pays_{name.replace(' ', '_')}")
        plan = page.page.evaluate("([u, s]) => tesseraEngine.plan(u, s, 'subgroup-matrix')", [url, [n, cin, *size]])
        labels = plan["labels"]
        assert any(re.search(r":int8( split-k)?$", label) for label in labels) == integer, (name, labels)
        if integer:
            source = next(k["source"] for k in plan["kernels"] if re.search(r":int8( split-k)?$", k["label"]))
            assert "subgroupMatrixMultiplyAccumulate" in source and "chromium_experimental_subgroup_matrix" in source


def test_int8_kernels_a_device_will_not_build_fall_back_to_floats(page):
    """The subgroup-matrix feature is experimental: where the kernels for it don't compile (here
    forced onto SwiftShader, which lacks the feature), the model loads anyway with its convs in
    floats, says why, and its device stays healthy for the calls after — also for an input
    shape first seen after the load (its own plan, the int8 kernels given up already)."""
    model = qdq_conv("N", 64, (28, 28), 128, 3, 1, UINT8_GRID)     # big enough for the matrix kernel
    url, _ = page.compile(model, "int8_refused", {"N": 8})
    model_id = page.load(url, "fp32", int8="matrix")
    refusal = page.kernels(model_id)["int8Refusal"]
    assert refusal and "does not compile" in refusal and ":int8" in refusal
    zero, qmin, qmax = UINT8_GRID
    for n in (8, 8, 16):
        x = ((rng.integers(qmin, qmax + 1, (n, 64, 28, 28)) - zero) * np.float32(INPUT_SCALE)).astype(np.float32)
        oracle = run_package(page.packages_dir / "int8_refused", {"x": x})["y"]
        assert rel_l2(page.run(model_id, x), oracle.ravel()) <= 1e-5
    page.dispose(model_id)
    auto_id = page.load(url, "fp32")       # the default: no matrix units here, so no attempt
    assert page.kernels(auto_id)["int8Refusal"] is None
    page.dispose(auto_id)
