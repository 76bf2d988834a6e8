"""The style networks' kernels (pad, instance_norm in both forms, resize, binary/unary
elementwise) against onnxruntime (CPU) in real headless Chromium, as tests/test_engine_kernels.py
does: one-op (or one fused pattern) ONNX graphs compiled by our compiler, fresh random inputs,
every GPU buffer poisoned (NaN) first; odd channel counts and sizes. Then the two style networks
end to end at small sizes (SwiftShader runs WebGPU on the CPU).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tessera.paths import build_dir
from tests.engine_harness import onnxruntime_outputs, rel_l2
from tests.test_engine_kernels import FP32_TOLERANCE, assert_subgroup_form, graph

rng = np.random.default_rng()


def one_op(op, x_shape, y_shape, inits=None, inputs=None, **attrs):
    """One node on x; `inits` keep their dtypes (int64 pads and sizes)."""
    node = helper.make_node(op, ["x", *(inputs or [])], ["y"], **attrs)
    model = graph([node], list(x_shape), list(y_shape), {}, op)
    model.graph.initializer.extend([numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])
    return model, {"x": x_shape}


def pad_case(x_shape, pads, mode, value=None):
    y_shape = [d + pads[i] + pads[i + 4] for i, d in enumerate(x_shape)]
    inits = {"p": np.array(pads, np.int64)}
    if value is not None:
        inits["v"] = np.array(value, np.float32)
    return one_op("Pad", x_shape, y_shape, inits, list(inits), mode=mode)


def instance_norm_case(n, c, h, w, activation=None):
    nodes = [helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-5)]
    if activation:
        nodes[0].output[0] = "n"
        nodes.append(helper.make_node(activation, ["n"], ["y"]))
    inits = {"s": rng.standard_normal(c), "b": rng.standard_normal(c)}
    return graph(nodes, [n, c, h, w], [n, c, h, w], inits, "inorm"), {"x": (n, c, h, w)}


def conditional_instance_norm_case(n, c, h, w, styles, per_image, activation):
    """Instance norm written out, gamma/beta computed from a second input of style weights:
    [S] summed against a table as multistyle26 does (→ [C]), or [N, S] through Gemm (→ [N, C])."""
    if per_image:
        nodes = [helper.make_node("Gemm", ["s", "tg"], ["g"]), helper.make_node("Gemm", ["s", "tb"], ["b"])]
    else:
        nodes = [helper.make_node("Reshape", ["s", "col"], ["sc"]),
                 helper.make_node("Mul", ["sc", "tg"], ["gm"]),
                 helper.make_node("ReduceSum", ["gm", "ax0"], ["g"], keepdims=0),
                 helper.make_node("Mul", ["sc", "tb"], ["bm"]),
                 helper.make_node("ReduceSum", ["bm", "ax0"], ["b"], keepdims=0)]
    nodes += [helper.make_node("Reshape", ["g", "aff"], ["gamma"]), helper.make_node("Reshape", ["b", "aff"], ["beta"]),
              helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3]), helper.make_node("Sub", ["x", "m"], ["d"]),
              helper.make_node("Mul", ["d", "d"], ["d2"]), helper.make_node("ReduceMean", ["d2"], ["v"], axes=[2, 3]),
              helper.make_node("Add", ["v", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["sd"]),
              helper.make_node("Div", ["d", "sd"], ["nrm"]), helper.make_node("Mul", ["nrm", "gamma"], ["scaled"]),
              helper.make_node("Add", ["scaled", "beta"], ["pre"]), helper.make_node(activation, ["pre"], ["y"])]
    s_shape = [n, styles] if per_image else [styles]
    inits = {"tg": rng.standard_normal((styles, c)).astype(np.float32),
             "tb": rng.standard_normal((styles, c)).astype(np.float32),
             "aff": np.array([n if per_image else 1, c, 1, 1], np.int64), "eps": np.array(1e-5, np.float32)}
    if not per_image:
        inits.update(col=np.array([styles, 1], np.int64), ax0=np.array([0], np.int64))
    g = helper.make_graph(nodes, "cin", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, c, h, w]),
                                         helper.make_tensor_value_info("s", TensorProto.FLOAT, s_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, c, h, w])],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), {"x": (n, c, h, w), "s": s_shape}


def resize_case(x_shape, out_hw, mode, coordinate_mode, nearest_mode="round_prefer_floor", **cubic):
    y_shape = [*x_shape[:2], *out_hw]
    return one_op("Resize", x_shape, y_shape, {"sizes": np.array(y_shape, np.int64)}, ["", "", "sizes"], mode=mode,
                  coordinate_transformation_mode=coordinate_mode, nearest_mode=nearest_mode, **cubic)


def binary_case(op, x_shape, constant_shape=None, activation=None):
    """x op a constant, or (no constant) x op sigmoid(x): two activations, as a residual add."""
    nodes = [helper.make_node(op, ["x", "o"], ["y"])]
    if constant_shape is None:
        nodes.insert(0, helper.make_node("Sigmoid", ["x"], ["o"]))
    if activation:
        nodes[-1].output[0] = "r"
        nodes.append(helper.make_node(activation, ["r"], ["y"]))
    y_shape = list(np.broadcast_shapes(x_shape, constant_shape or x_shape))
    inits = {"o": rng.uniform(0.5, 2.0, constant_shape).astype(np.float32)} if constant_shape else {}
    return graph(nodes, list(x_shape), y_shape, inits, op), {"x": x_shape}


def conv_transpose_case(n, c, h, w, co, k, stride, pads, dilation=1, output_padding=0, activation=None):
    nodes = [helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], kernel_shape=[k, k], strides=[stride] * 2,
                              pads=pads, dilations=[dilation] * 2, output_padding=[output_padding] * 2)]
    if activation:
        nodes[0].output[0] = "c"
        nodes.append(helper.make_node(activation, ["c"], ["y"]))
    span = dilation * (k - 1) + 1
    oh = stride * (h - 1) + span + output_padding - pads[0] - pads[2]
    ow = stride * (w - 1) + span + output_padding - pads[1] - pads[3]
    inits = {"w": rng.standard_normal((c, co, k, k)) / np.sqrt(c * k), "b": rng.standard_normal(co)}
    return graph(nodes, [n, c, h, w], [n, co, oh, ow], inits, "convT"), {"x": (n, c, h, w)}


CASES = {
    "pad reflect c8": pad_case((1, 8, 7, 9), [0, 0, 3, 1, 0, 0, 2, 4], "reflect"),
    "pad reflect c3 widest": pad_case((1, 3, 4, 5), [0, 0, 3, 2, 0, 0, 3, 4], "reflect"),
    "pad edge c7 batch2": pad_case((2, 7, 5, 6), [0, 0, 2, 2, 0, 0, 1, 3], "edge"),
    "pad constant c5 and channels": pad_case((1, 5, 6, 5), [0, 2, 1, 0, 0, 1, 2, 3], "constant", 0.75),
    "instance_norm c32 relu": instance_norm_case(1, 32, 9, 11, "Relu"),
    "instance_norm c13 batch2": instance_norm_case(2, 13, 7, 6),
    "instance_norm c3 two chunks": instance_norm_case(1, 3, 71, 63, "Sigmoid"),
    "conditional instance_norm [C] c5": conditional_instance_norm_case(1, 5, 7, 9, 26, False, "Relu"),
    "conditional instance_norm [N,C] c12": conditional_instance_norm_case(2, 12, 6, 5, 4, True, "Sigmoid"),
    "resize nearest asymmetric floor x2 c32": resize_case((1, 32, 5, 6), (10, 12), "nearest", "asymmetric"),
    # sizes whose source coordinates never land exactly on a rounding tie (x.5): there the f32
    # division's last bit decides, and WGSL's division needn't be correctly rounded
    "resize nearest half_pixel c5": resize_case((1, 5, 7, 6), (11, 14), "nearest", "half_pixel", "round_prefer_ceil"),
    "resize linear half_pixel c6": resize_case((2, 6, 5, 7), (9, 16), "linear", "half_pixel"),
    "resize linear align_corners c3": resize_case((1, 3, 6, 5), (11, 8), "linear", "align_corners"),
    "resize linear pytorch_half_pixel c9": resize_case((1, 9, 8, 8), (5, 3), "linear", "pytorch_half_pixel"),
    # bicubic as PyTorch exports it (a = -0.75), up and down, taps clamped at the edges; and
    # with the edge's taps left out and the rest renormalised (exclude_outside, a = -0.5)
    "resize cubic half_pixel c6 up batch2": resize_case((2, 6, 5, 7), (12, 9), "cubic", "half_pixel"),
    "resize cubic align_corners c3 down": resize_case((1, 3, 11, 9), (6, 4), "cubic", "align_corners"),
    "resize cubic exclude_outside c5": resize_case((1, 5, 6, 6), (13, 10), "cubic", "half_pixel",
                                                   cubic_coeff_a=-0.5, exclude_outside=1),
    "add residual c32": binary_case("Add", (1, 32, 5, 7)),
    "mul activations c7 relu": binary_case("Mul", (2, 7, 3, 5), activation="Relu"),
    "mul per-channel constant c5 relu": binary_case("Mul", (1, 5, 4, 7), constant_shape=(1, 5, 1, 1),
                                                    activation="Relu"),
    "sub broadcast rows c6": binary_case("Sub", (2, 6, 3, 5), constant_shape=(1, 1, 3, 5)),
    "div constant c8": binary_case("Div", (1, 8, 3, 3), constant_shape=(8, 1, 1)),
    "pow constant": binary_case("Pow", (1, 4, 3, 5), constant_shape=(1,)),
    "conv_transpose 3x3 s2 c5 co7 relu": conv_transpose_case(1, 5, 5, 6, 7, 3, 2, [1, 1, 1, 1], output_padding=1,
                                                             activation="Relu"),
    "conv_transpose 4x4 s2 dilation2 co8 batch2": conv_transpose_case(2, 3, 4, 3, 8, 4, 2, [0, 2, 1, 0], dilation=2),
    "unary tanh c7": one_op("Tanh", (1, 7, 4, 5), (1, 7, 4, 5)),
}


def random_feeds(shapes: dict) -> dict[str, np.ndarray]:
    feeds = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    feeds["x"] += np.float32(3.0)   # an offset the instance norm must not lose precision to
    return feeds


def run_engine(page, model_id, feeds: dict[str, np.ndarray]) -> np.ndarray:
    first, *rest = feeds
    return page.run(model_id, feeds[first], {k: feeds[k] for k in rest})


@pytest.mark.parametrize("case", list(CASES))
def test_style_kernel_matches_onnxruntime(page, case):
    model, shapes = CASES[case]
    url, path = page.compile(model, case.replace(" ", "_").replace(",", "").replace("[", "").replace("]", ""))
    model_id = page.load(url, "fp32")
    for _ in range(2):  # fresh inputs each time, buffers poisoned before each run
        feeds = random_feeds(shapes)
        if case == "pow constant":   # real exponents: positive bases only
            feeds["x"] = np.abs(feeds["x"])
        out = run_engine(page, model_id, feeds)
        ref = onnxruntime_outputs(path, feeds)
        assert out.shape == (ref.size,)
        assert rel_l2(out, ref.ravel()) <= FP32_TOLERANCE, case
    page.dispose(model_id)


@pytest.mark.parametrize("subgroups", [True, False], ids=["subgroups", "no subgroups"])
def test_instance_norm_with_and_without_subgroups(page, subgroups):
    """The stats kernel's reductions: odd H×W, fewer pixels than its 64 threads, two chunks."""
    for n, c, h, w in [(2, 7, 13, 11), (1, 6, 3, 5), (1, 5, 67, 63)]:
        model, shapes = instance_norm_case(n, c, h, w, "Relu")
        url, path = page.compile(model, f"inorm_{c}_{h}x{w}_{subgroups}")
        model_id = page.load(url, "fp32", subgroups)
        feeds = random_feeds(shapes)
        out = run_engine(page, model_id, feeds)
        assert rel_l2(out, onnxruntime_outputs(path, feeds).ravel()) <= FP32_TOLERANCE
        assert_subgroup_form(page, model_id, subgroups, ":stats")
        page.dispose(model_id)


def test_cases_reach_the_style_kernels():
    from tessera.compiler.pipeline import compile_graph

    nodes = [n for model, _ in CASES.values() for n in compile_graph(model, "case").nodes]
    assert {"pad", "instance_norm", "resize", "binary", "unary", "conv_transpose2d"} <= {n.op for n in nodes}
    assert any("affine_inputs" in n.attrs for n in nodes if n.op == "instance_norm")
    assert any(n.attrs.get("constant_operand") is not None for n in nodes if n.op == "binary")


def bench_model(name):
    path = build_dir() / "bench-models" / name / "model.onnx"
    assert path.is_file(), f"{path} is built at set-up"
    return path


def psnr(out: np.ndarray, ref: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((out.astype(np.float64) - ref) ** 2)))


def test_multistyle26_matches_onnxruntime(page):
    path = bench_model("multistyle26")
    url, copy = page.compile(onnx.load(path), "multistyle26", {"h": 64, "w": 64})
    model_id = page.load(url, "fp32")
    image = rng.uniform(0, 1, (1, 3, 64, 64)).astype(np.float32)
    style = np.zeros(26, np.float32)
    style[[3, 17]] = [0.7, 0.3]   # a mix, as the editor's sliders give
    out = page.run(model_id, image, {"style_weights": style})
    ref = onnxruntime_outputs(copy, {"image": image, "style_weights": style})
    assert out.shape == (ref.size,)
    assert psnr(out, ref.ravel()) >= 40
    page.dispose(model_id)


def test_fast_style_matches_onnxruntime(page):
    path = bench_model("fast-style")
    url, copy = page.compile(onnx.load(path), "fast-style", {"N": 1, "H": 36, "W": 44})
    model_id = page.load(url, "fp32")
    image = rng.uniform(0, 255, (1, 3, 36, 44)).astype(np.float32)
    out = page.run(model_id, image)
    ref = onnxruntime_outputs(copy, {"input": image})
    assert out.shape == (ref.size,)
    assert rel_l2(out, ref.ravel()) <= FP32_TOLERANCE
    page.dispose(model_id)
