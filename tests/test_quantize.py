"""Making int8 QDQ networks (tessera.zoo.quantize): BatchNorm folded into the convs first, then
onnxruntime's static quantiser; checked against onnxruntime on the float network."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from tessera.bench import float_graph
from tessera.compiler.pipeline import compile_graph
from tessera.zoo.quantize import fold_batch_norm, quantize_qdq

rng = np.random.default_rng(0)


def conv_bn_network() -> onnx.ModelProto:
    """x → Conv → BN → Relu → Conv (its output read twice: by a BN and by the sum) → BN, + ;
    and a BN on the input itself, which no conv precedes."""
    inits = []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def bn(tag, c):
        return [const(f"{tag}.{k}", v) for k, v in (("g", rng.uniform(0.5, 1.5, c)), ("b", rng.standard_normal(c)),
                                                    ("m", rng.standard_normal(c)), ("v", rng.uniform(0.5, 2, c)))]

    nodes = [helper.make_node("BatchNormalization", ["x", *bn("bn0", 4)], ["x0"]),
             helper.make_node("Conv", ["x0", const("w1", rng.standard_normal((8, 4, 3, 3)) * 0.3),
                                       const("b1", rng.standard_normal(8))], ["c1"], pads=[1] * 4),
             helper.make_node("BatchNormalization", ["c1", *bn("bn1", 8)], ["n1"], epsilon=1e-3),
             helper.make_node("Relu", ["n1"], ["r1"]),
             helper.make_node("Conv", ["r1", const("w2", rng.standard_normal((8, 8, 1, 1)) * 0.3)], ["c2"]),
             helper.make_node("BatchNormalization", ["c2", *bn("bn2", 8)], ["n2"]),
             helper.make_node("Add", ["n2", "c2"], ["y"])]
    graph = helper.make_graph(nodes, "conv_bn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_batch_norm_after_a_conv_read_only_by_it_folds_into_the_conv():
    model = conv_bn_network()
    folded = fold_batch_norm(model)
    ops = [n.op_type for n in folded.graph.node]
    assert ops == ["BatchNormalization", "Conv", "Relu", "Conv", "BatchNormalization", "Add"]
    assert not any(t.name.startswith("bn1.") for t in folded.graph.initializer)   # nothing left unused
    x = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(run(folded, x), run(model, x), rtol=1e-5, atol=1e-5)


def test_a_quantised_network_is_qdq_and_its_convs_are_marked_int8():
    from tests import small_networks

    model = small_networks.residual_convnet()
    calibration = [rng.standard_normal((2, 3, small_networks.IMG, small_networks.IMG)).astype(np.float32)]
    qdq = quantize_qdq(model, calibration)
    assert float_graph.is_quantized(qdq)
    convs = [n for n in compile_graph(qdq, "qdq").nodes if n.op == "conv2d"]
    assert convs and all("int8" in n.attrs for n in convs)


def test_per_tensor_quantised_weights_are_marked_too():
    """onnxruntime's quantiser without per_channel: one weight scale for the whole tensor."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from tests import small_networks

    class One(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": rng.standard_normal((1, 3, 64, 64)).astype(np.float32)}])

        def get_next(self):
            return next(self.batches, None)

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "f.onnx", Path(tmp) / "q.onnx"
        onnx.save(small_networks.residual_convnet(), source)
        quantize_static(source, target, One(), quant_format=QuantFormat.QDQ, per_channel=False,
                        weight_type=QuantType.QInt8)
        qdq = onnx.load(target)
    graph = compile_graph(qdq, "per_tensor")
    convs = [n for n in graph.nodes if n.op == "conv2d"]
    assert convs and all("int8" in n.attrs for n in convs)
    scales = graph.constants[convs[1].weights["int8_scale"]]
    assert np.all(scales == scales[0])
