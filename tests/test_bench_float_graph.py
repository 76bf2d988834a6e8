"""The bench's float form of an int8 QDQ network (bench/float_graph.py): no Q/DQ node left, and
the same function as the QDQ graph's ONNX semantics (onnxruntime with optimisations off) — on a
small graph with a per-axis weight and a movement op between a pair, and on the bundled
arbitrary-style transform."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from tessera import paths
from tessera.bench.float_graph import dequantized, is_quantized

rng = np.random.default_rng(7)


def literal(model: onnx.ModelProto, feeds: dict) -> np.ndarray:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def small_qdq() -> onnx.ModelProto:
    """x → Q/DQ (uint8) → Conv (int8 weight, per output channel) → Q → Reshape → DQ."""
    w = rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    inits = [
        numpy_helper.from_array(np.float32(0.02), "xs"), numpy_helper.from_array(np.uint8(128), "xz"),
        numpy_helper.from_array(w, "wq"), numpy_helper.from_array(rng.uniform(0.001, 0.01, 4).astype(np.float32), "ws"),
        numpy_helper.from_array(np.zeros(4, np.int8), "wz"),
        numpy_helper.from_array(np.float32(0.05), "ys"), numpy_helper.from_array(np.int8(3), "yz"),
        numpy_helper.from_array(np.array([1, 4, -1], np.int64), "shape"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"], axis=0),
        helper.make_node("Conv", ["xd", "wd"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("QuantizeLinear", ["c", "ys", "yz"], ["cq"]),
        helper.make_node("Reshape", ["cq", "shape"], ["r"]),
        helper.make_node("DequantizeLinear", ["r", "ys", "yz"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 64])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])


def test_small_graph_folds_to_the_same_function():
    model = small_qdq()
    folded = dequantized(model)
    onnx.checker.check_model(folded)
    assert is_quantized(model) and not is_quantized(folded)
    x = {"x": rng.uniform(-2, 2, (1, 3, 8, 8)).astype(np.float32)}
    want = literal(model, x)
    assert np.array_equal(literal(folded, x), want)
    assert len(np.unique(want)) > 10          # really quantised values, not a constant


def test_bundled_transform_folds_to_the_same_function():
    model = onnx.load(paths.bundled_models_dir() / "arbitrary-transform" / "model.onnx")
    folded = dequantized(model)
    assert not is_quantized(folded)
    feeds = {"content_image": rng.uniform(0, 1, (1, 32, 32, 3)).astype(np.float32),
             "mobilenet_conv/Conv/BiasAdd": rng.normal(0, 1, (1, 100, 1, 1)).astype(np.float32)}
    got = ort.InferenceSession(folded.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert np.array_equal(got, literal(model, feeds))
