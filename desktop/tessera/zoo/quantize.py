"""Int8 QDQ networks from float ones, with onnxruntime's static quantiser: weights int8 per
output channel, activations calibrated on sample inputs. Tessera's compiler marks the convs of
such a network for the engine's integer kernels (compiler/passes/int8_convs.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper


def quantize_qdq(model: onnx.ModelProto, calibration: list[np.ndarray], activations: str = "uint8") -> onnx.ModelProto:
    """``model`` quantised: QDQ format, int8 weights per output channel, activations uint8 with a
    zero point (onnxruntime's default) or symmetric int8 (``activations="int8"``), their ranges
    the min and max seen over ``calibration`` (batches for the model's first input). BatchNorm is
    folded into the convs first (fold_batch_norm)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    name = model.graph.input[0].name

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{name: x} for x in calibration])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(fold_batch_norm(model), source)
        quantize_static(source, target, Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8,
                        activation_type=QuantType.QUInt8 if activations == "uint8" else QuantType.QInt8,
                        extra_options={"ActivationSymmetric": activations == "int8"})
        return onnx.load(target)


def fold_batch_norm(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` with each BatchNormalization that alone reads a Conv's output folded
    into that conv's weights and bias, as exporters of int8 networks do: then each conv's output
    is quantised once, not before and after its normalisation. (onnxruntime's own pre-processing
    does this too, but which nodes it folds has changed between its versions.)"""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inits = {t.name: t for t in graph.initializer}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    outputs = {o.name for o in graph.output}
    producer = {o: n for n in graph.node for o in n.output}
    kept = []
    for node in graph.node:
        conv = producer.get(node.input[0]) if node.op_type == "BatchNormalization" else None
        if (conv is None or conv.op_type != "Conv" or readers[node.input[0]] != 1 or node.input[0] in outputs
                or not all(n in inits for n in [*node.input[1:], *conv.input[1:]])):
            kept.append(node)
            continue
        gamma, beta, mean, var = (numpy_helper.to_array(inits[n]).astype(np.float64) for n in node.input[1:5])
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        factor = gamma / np.sqrt(var + eps)
        weight = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float64)
        bias = (numpy_helper.to_array(inits[conv.input[2]]).astype(np.float64) if len(conv.input) > 2
                else np.zeros(weight.shape[0]))
        w_name, b_name = f"{conv.input[1]}/bn_folded", f"{conv.name or conv.output[0]}/bn_folded_bias"
        graph.initializer.extend([
            numpy_helper.from_array((weight * factor[:, None, None, None]).astype(np.float32), w_name),
            numpy_helper.from_array(((bias - mean) * factor + beta).astype(np.float32), b_name)])
        del conv.input[1:]
        conv.input.extend([w_name, b_name])
        conv.output[0] = node.output[0]
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in graph.node for name in node.input}
    unused = [t for t in graph.initializer if t.name not in used]
    for t in unused:
        graph.initializer.remove(t)
    return out
