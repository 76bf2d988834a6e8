"""Constant folding: evaluate every node whose inputs are all known, including Shape (and
Size) of tensors whose shape is static, so shape arithmetic folds into constants.

Nodes are evaluated with ONNX's reference implementation at the model's own opset, so the
folded value means exactly what the ONNX spec says. Shape arithmetic over symbolic dims (a free
batch size) folds to shape tensors of dims instead (symbolic_shapes.py).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from tessera.compiler.ir import Graph, Node
from tessera.compiler.passes import symbolic_shapes

# ONNX's reference implements these only from opset 19; for the int8/uint8 tensors that
# opsets 13-18 allow, the semantics did not change, so they are evaluated at 19.
_REFERENCE_OPSET_FLOOR = {"QuantizeLinear": 19, "DequantizeLinear": 19}


def _static_shape(graph: Graph, name: str):
    v = graph.values.get(name)
    if v is None or not all(isinstance(d, int) for d in v.shape):
        return None
    return np.array(v.shape, np.int64)


def _evaluate(node: Node, args: list[np.ndarray], opset: int) -> list[np.ndarray]:
    in_names = [f"in{i}" if name else "" for i, name in enumerate(node.inputs)]
    attrs = {k: numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v
             for k, v in node.attrs.items()}
    proto = helper.make_node(node.op, in_names, [f"out{i}" for i in range(len(node.outputs))],
                             **attrs)
    graph = helper.make_graph(
        [proto], "fold",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
         for n, a in zip(filter(None, in_names), args)],
        [helper.make_value_info(f"out{i}", onnx.TypeProto()) for i in range(len(node.outputs))])
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", max(opset, _REFERENCE_OPSET_FLOOR.get(node.op, 0)))])
    feeds = dict(zip(filter(None, in_names), args))
    return [np.asarray(o) for o in ReferenceEvaluator(model).run(None, feeds)]


def _symbolic(graph: Graph, node: Node, constants: dict) -> list[np.ndarray] | None:
    """The outputs of shape arithmetic over symbolic dims (symbolic_shapes.py), else None."""
    if node.op == "Shape":
        v = graph.values.get(node.inputs[0])
        return None if v is None else [symbolic_shapes.shape_of(v.shape, node)]
    args = [constants.get(i) if i else None for i in node.inputs]
    if not any(symbolic_shapes.is_symbolic(a) for a in args) or any(
            a is None for a, i in zip(args, node.inputs) if i):
        return None
    return symbolic_shapes.evaluate(node, args)


def fold_constants(graph: Graph) -> Graph:
    constants = dict(graph.constants)
    kept = []
    keep_outputs = set(graph.outputs)
    for node in graph.nodes:
        present = [i for i in node.inputs if i]
        if node.op in ("Shape", "Size") and _static_shape(graph, node.inputs[0]) is not None:
            shape = _static_shape(graph, node.inputs[0])
            args, foldable = [np.zeros(shape, np.float32)], True
        else:
            args = [constants.get(i) for i in present]
            foldable = all(a is not None for a in args) and not any(symbolic_shapes.is_symbolic(a) for a in args)
        symbolic = None if foldable or keep_outputs & set(node.outputs) else _symbolic(graph, node, constants)
        if symbolic is not None:
            constants.update(zip(node.outputs, symbolic))
            continue
        if not foldable or keep_outputs & set(node.outputs):
            kept.append(node)
            continue
        for out, value in zip(node.outputs, _evaluate(node, args, graph.opset)):
            constants[out] = value
    return graph.replace(nodes=kept, constants=constants)
