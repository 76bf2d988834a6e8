"""ONNX model (validated, shape-inferred) -> IR graph of ONNX-level nodes.

Initializers and Constant nodes become constants; attributes become plain Python values;
every node gets a name (its first output when the file gives none) so errors can name it.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tessera.compiler import dims
from tessera.compiler.ir import Graph, Node, Value
from tessera.compiler.load import opset_of


def _attr(a: onnx.AttributeProto):
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, list) and v and isinstance(v[0], bytes):
        return [s.decode() for s in v]
    return v


def _constant_value(node: onnx.NodeProto) -> np.ndarray:
    a = node.attribute[0]
    v = _attr(a)
    if a.name in ("value_float", "value_int"):
        return np.array(v, np.float32 if a.name == "value_float" else np.int64)
    if a.name in ("value_floats", "value_ints"):
        return np.array(v, np.float32 if a.name == "value_floats" else np.int64)
    if isinstance(v, np.ndarray):
        return v
    raise ValueError(f"Constant attribute {a.name} is not supported")


def _shape(vi: onnx.ValueInfoProto) -> tuple | None:
    if not vi.type.tensor_type.HasField("shape"):
        return None
    out = []
    for d in vi.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        elif d.dim_param:
            out.append(dims.symbol_name(d.dim_param))
        else:
            return None
    return tuple(out)


def import_graph(model: onnx.ModelProto, name: str) -> Graph:
    g = model.graph
    constants = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    values = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        shape = _shape(vi)
        if shape is not None and vi.name not in constants:
            values[vi.name] = Value(vi.name, shape)
    nodes = []
    for i, n in enumerate(g.node):
        label = n.name or (n.output[0] if n.output else f"node_{i}")
        if n.op_type == "Constant":
            constants[n.output[0]] = _constant_value(n)
            continue
        nodes.append(Node(n.op_type, list(n.input), list(n.output),
                          {a.name: _attr(a) for a in n.attribute}, label))
    inputs = [vi.name for vi in g.input if vi.name not in constants]
    return Graph(name, nodes, inputs, [vi.name for vi in g.output], values, constants,
                 opset_of(model))
