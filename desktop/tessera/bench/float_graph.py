"""An int8 QDQ network as the float network Tessera's engine runs, for the other runtimes.

Tessera's compiler folds a QDQ graph (compiler/passes/fold_qdq.py): weight DequantizeLinear
nodes become float constants, and each activation QuantizeLinear → DequantizeLinear pair a
float fake-quantisation (round half to even, clamp, rescale). onnxruntime-web's WebGPU
provider has no DequantizeLinear, and its optimiser would fuse the pairs into integer kernels
(a different function), so the benchmark gives onnxruntime the same folding as plain ONNX float
ops: q = Clip(Round(x / s) + z, lo, hi); x' = (q − z)·s. Data-movement ops between a pair now
move floats, which commutes with the element-wise rescale.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

RANGES = {onnx.TensorProto.INT8: (-128, 127), onnx.TensorProto.UINT8: (0, 255)}


def is_quantized(model: onnx.ModelProto) -> bool:
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)


def _scalar(value: np.ndarray, what: str, node: onnx.NodeProto) -> float:
    if value.size != 1:
        raise ValueError(f"{node.name or node.op_type}: per-axis {what} on an activation is not supported")
    return float(value.reshape(()))


def dequantized(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` with no QuantizeLinear / DequantizeLinear node left."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    constant_nodes = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in graph.node
                      if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
    known = {**constant_nodes, **inits}
    new_inits, nodes, dropped = {}, [], set()
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in known:
            q = known[node.input[0]].astype(np.float32)
            scale = known[node.input[1]].astype(np.float32)
            zero = known[node.input[2]].astype(np.float32) if len(node.input) > 2 and node.input[2] else np.float32(0)
            if scale.ndim == 1 and q.ndim > 1:          # per-axis: broadcast along `axis`
                axis = next((a.i for a in node.attribute if a.name == "axis"), 1) % q.ndim
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), np.asarray(zero).reshape(shape if np.size(zero) > 1 else ())
            new_inits[node.output[0]] = ((q - zero) * scale).astype(np.float32)
        elif node.op_type == "DequantizeLinear":
            nodes.append(helper.make_node("Identity", [node.input[0]], [node.output[0]], name=node.name))
        elif node.op_type == "QuantizeLinear":
            nodes.extend(_fake_quant(node, known, new_inits))
        else:
            nodes.append(node)
    used = {i for n in nodes for i in n.input}
    for name in list(inits):
        if name not in used:
            dropped.add(name)
    kept = [i for i in graph.initializer if i.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in new_inits.items())
    nodes = [n for n in nodes if not (n.op_type == "Constant" and n.output[0] not in used)]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]          # int8 tensors are float now; shapes are inferred again
    return model


def _fake_quant(node: onnx.NodeProto, known: dict, new_inits: dict) -> list[onnx.NodeProto]:
    scale = _scalar(known[node.input[1]], "scale", node)
    zero_array = known[node.input[2]] if len(node.input) > 2 and node.input[2] else np.uint8(0)
    zero = _scalar(np.asarray(zero_array), "zero point", node)
    dtype = onnx.helper.np_dtype_to_tensor_dtype(np.asarray(zero_array).dtype)
    lo, hi = RANGES[dtype]
    out = node.output[0]
    names = {k: f"{out}__fq_{k}" for k in ("scale", "zero", "lo", "hi", "div", "round", "add", "clip", "sub")}
    for key, value in (("scale", scale), ("zero", zero), ("lo", lo), ("hi", hi)):
        new_inits[names[key]] = np.float32(value)
    x = node.input[0]
    return [
        helper.make_node("Div", [x, names["scale"]], [names["div"]]),
        helper.make_node("Round", [names["div"]], [names["round"]]),
        helper.make_node("Add", [names["round"], names["zero"]], [names["add"]]),
        helper.make_node("Clip", [names["add"], names["lo"], names["hi"]], [names["clip"]]),
        helper.make_node("Sub", [names["clip"], names["zero"]], [names["sub"]]),
        helper.make_node("Mul", [names["sub"], names["scale"]], [out], name=node.name),
    ]
