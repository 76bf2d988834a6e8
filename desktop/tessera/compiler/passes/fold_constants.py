"""Constant folding: evaluate every node whose inputs are all known, including Shape (and
Size) of tensors whose shape is static, so shape arithmetic folds into constants.

Nodes are evaluated with ONNX's reference implementation at the model's own opset, so the
folded value means exactly what the ONNX spec says. Shape arithmetic over symbolic dims (a free
batch size) folds to shape tensors of dims instead (symbolic_shapes.py).

ONNX's shape inference can't see through a Reshape, Expand or Slice whose operands are computed
(it names the sizes ``unk__…``), yet exporters read those sizes back: torchvision's ViT takes
its attention scale from Shape(q)[-1] after the class token was Expand-ed to a computed shape.
So once such operands have folded, the output shapes are worked out again here, op by op, for
the ops that carry sizes along (elementwise, reshapes, slices, concats, matmuls, reductions,
squeezes, tiles, and each output of a Split), and later Shape nodes read those.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from tessera.compiler import dims
from tessera.compiler.ir import Graph, Node, Value
from tessera.compiler.passes import symbolic_shapes

# ONNX's reference implements these only from opset 19; for the int8/uint8 tensors that
# opsets 13-18 allow, the semantics did not change, so they are evaluated at 19.
_REFERENCE_OPSET_FLOOR = {"QuantizeLinear": 19, "DequantizeLinear": 19}


def _static_shape(values: dict[str, Value], name: str):
    v = values.get(name)
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


def _symbolic(values: dict[str, Value], node: Node, constants: dict) -> list[np.ndarray] | None:
    """The outputs of shape arithmetic over symbolic dims (symbolic_shapes.py), else None."""
    if node.op == "Shape":
        v = values.get(node.inputs[0])
        return None if v is None else [symbolic_shapes.shape_of(v.shape, node)]
    args = [constants.get(i) if i else None for i in node.inputs]
    if not any(symbolic_shapes.is_symbolic(a) for a in args) or any(
            a is None for a, i in zip(args, node.inputs) if i):
        return None
    return symbolic_shapes.evaluate(node, args)


def _broadcast(*shapes: tuple) -> tuple:
    """Numpy broadcasting where a size may be unknown: a side that isn't 1 decides the size
    (the other is 1 or the same), so an unknown only stays where every side is unknown or 1."""
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(rank):
        sizes = [s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0]
        known = [d for d in sizes if d != 1 and not _unknown(d)]
        out.append(known[0] if known else next((d for d in sizes if d != 1), 1))
    return tuple(out)


def _unknown(d) -> bool:
    return isinstance(d, str) and "unk__" in d


def _sliced(shape: tuple, node: Node, constants: dict) -> tuple | None:
    args = [constants.get(i) if i else None for i in node.inputs[1:5]] + [None] * 4
    starts, ends, axes, steps = args[:4]
    if starts is None or ends is None or symbolic_shapes.is_symbolic(starts) or symbolic_shapes.is_symbolic(ends):
        return None
    axes = [int(a) % len(shape) for a in (axes if axes is not None else range(len(starts)))]
    steps = [int(t) for t in steps] if steps is not None else [1] * len(axes)
    out = list(shape)
    for a, b, e, t in zip(axes, starts, ends, steps):
        if isinstance(shape[a], int):
            out[a] = len(range(*slice(int(b), int(e), t).indices(shape[a])))
        elif not (int(b) == 0 and int(e) >= 2 ** 31 - 1 and t == 1):
            return None                                   # part of a symbolic axis
    return tuple(out)


def _concatenated(shapes: list[tuple], axis: int) -> tuple | None:
    axis %= len(shapes[0])
    along = [s[axis] for s in shapes]
    if not all(isinstance(d, int) for d in along[1:]) or _unknown(along[0]):
        return None
    rest = _broadcast(*[s[:axis] + (1,) + s[axis + 1:] for s in shapes])
    return rest[:axis] + (dims.add(along[0], sum(along[1:])),) + rest[axis + 1:]


# Ops whose output has their first input's shape.
SAME_SHAPE = {"Relu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "LeakyRelu", "Elu", "Selu", "Celu",
              "Softplus", "Softsign", "Mish", "Gelu", "Erf", "Exp", "Log", "Neg", "Abs", "Sqrt", "Reciprocal",
              "Clip", "Cast", "Identity", "Dropout", "Softmax", "LogSoftmax", "LayerNormalization",
              "BatchNormalization", "InstanceNormalization", "LRN", "QuantizeLinear", "DequantizeLinear",
              "Sin", "Cos", "Silu", "Sign", "Floor", "Ceil", "Round", "Not", "CumSum"}
REDUCE = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
          "ReduceSumSquare", "ReduceLogSumExp"}
BROADCAST = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu", "Where", "Equal"}


def _windowed(x: tuple, node: Node, channels) -> tuple | None:
    """[N, channels, *spatial] of a Conv or pool over x [N, C, *spatial] (explicit pads only)."""
    a, spatial = node.attrs, x[2:]
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") or not all(isinstance(d, int) for d in spatial):
        return None
    k = list(a["kernel_shape"])
    strides, dilations = a.get("strides", [1] * len(k)), a.get("dilations", [1] * len(k))
    pads = a.get("pads", [0] * 2 * len(k))
    rounding = math.ceil if a.get("ceil_mode", 0) else math.floor
    out = [rounding((d + pads[i] + pads[i + len(k)] - dilations[i] * (k[i] - 1) - 1) / strides[i]) + 1
           for i, d in enumerate(spatial)]
    return (x[0], channels, *out)


def _axes(node: Node, constants: dict) -> list[int] | None:
    """The axes of a Reduce, Squeeze or Unsqueeze as written (attribute, or constant second
    input; [] when neither is given); None when the input isn't a constant."""
    if "axes" in node.attrs:
        return [int(a) for a in node.attrs["axes"]]
    if len(node.inputs) > 1 and node.inputs[1]:
        given = constants.get(node.inputs[1])
        return None if given is None else [int(a) for a in np.asarray(given).ravel()]
    return []


def _reduced(shape: tuple, node: Node, constants: dict) -> tuple | None:
    axes = _axes(node, constants)
    if axes is None:
        return None
    axes = [a % len(shape) for a in axes]
    if not axes:
        if node.attrs.get("noop_with_empty_axes", 0):
            return shape
        axes = list(range(len(shape)))
    if node.attrs.get("keepdims", 1):
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _split(shape: tuple, node: Node, constants: dict) -> list[tuple] | None:
    """Each output's shape of a Split (sizes from its constant input, or equal parts)."""
    axis = node.attrs.get("axis", 0) % len(shape)
    if len(node.inputs) > 1 and node.inputs[1]:
        sizes = constants.get(node.inputs[1])
        if sizes is None or symbolic_shapes.is_symbolic(sizes):
            return None
        sizes = [int(v) for v in np.asarray(sizes).ravel()]
    elif "split" in node.attrs:
        sizes = list(node.attrs["split"])
    elif isinstance(shape[axis], int) and shape[axis] % len(node.outputs) == 0:
        sizes = [shape[axis] // len(node.outputs)] * len(node.outputs)
    else:
        return None
    return [shape[:axis] + (size,) + shape[axis + 1:] for size in sizes]


def _inferred(values: dict[str, Value], node: Node, constants: dict) -> tuple | None:
    """The output shape of ``node`` from its inputs' (sharpened) shapes and folded operands,
    for the ops that carry an unknown size on; None where this can't say."""
    # a folded input's own shape first: ONNX's inference may have left its value's unknown
    ins = [np.shape(constants[i]) if i in constants else (values[i].shape if i in values else None)
           for i in node.inputs if i]
    if not ins or ins[0] is None:
        return None
    if node.op in SAME_SHAPE:
        return ins[0]
    if node.op in BROADCAST and all(s is not None for s in ins):
        return _broadcast(*ins)
    if node.op == "Reshape" and constants.get(node.inputs[1]) is not None:
        target = symbolic_shapes.dims_of(constants[node.inputs[1]])
        try:
            return dims.reshaped(ins[0], target, bool(node.attrs.get("allowzero", 0)))
        except (ValueError, IndexError):     # a 0 past the input's rank: ONNX's inference says why
            return None
    if node.op == "Transpose":
        return tuple(ins[0][p] for p in node.attrs.get("perm", range(len(ins[0]))[::-1]))
    if node.op == "Expand" and constants.get(node.inputs[1]) is not None:
        return _broadcast(ins[0], tuple(symbolic_shapes.dims_of(constants[node.inputs[1]])))
    if node.op == "Slice":
        return _sliced(ins[0], node, constants)
    if node.op == "Concat" and all(s is not None for s in ins):
        return _concatenated(ins, node.attrs["axis"])
    if node.op == "Conv" and node.inputs[1] in constants and "kernel_shape" in node.attrs:
        return _windowed(ins[0], node, constants[node.inputs[1]].shape[0])
    if node.op in ("MaxPool", "AveragePool"):
        return _windowed(ins[0], node, ins[0][1])
    if node.op in ("GlobalAveragePool", "GlobalMaxPool"):
        return ins[0][:2] + (1,) * (len(ins[0]) - 2)
    if node.op == "Gather" and len(ins) == 2 and ins[1] is not None:
        axis = node.attrs.get("axis", 0) % len(ins[0])
        return ins[0][:axis] + tuple(ins[1]) + ins[0][axis + 1:]
    if node.op == "Pad" and constants.get(node.inputs[1]) is not None and len(node.inputs) < 4:
        pads = [int(p) for p in np.asarray(constants[node.inputs[1]]).ravel()]
        rank = len(ins[0])
        grown = [d if pads[i] + pads[i + rank] == 0 else (d + pads[i] + pads[i + rank] if isinstance(d, int) else None)
                 for i, d in enumerate(ins[0])]
        return None if None in grown else tuple(grown)
    if node.op in REDUCE:
        return _reduced(ins[0], node, constants)
    if node.op == "Tile" and constants.get(node.inputs[1]) is not None:
        repeats = symbolic_shapes.dims_of(constants[node.inputs[1]])
        return tuple(dims.product([d, r]) for d, r in zip(ins[0], repeats))
    if node.op == "Squeeze":
        axes = _axes(node, constants)
        if not axes:
            return None
        return tuple(d for i, d in enumerate(ins[0]) if i not in [a % len(ins[0]) for a in axes])
    if node.op == "Unsqueeze":
        added = _axes(node, constants)
        if not added:
            return None
        rank = len(ins[0]) + len(added)
        axes, rest = [a % rank for a in added], iter(ins[0])
        return tuple(1 if i in axes else next(rest) for i in range(rank))
    if node.op == "MatMul" and len(ins) == 2 and ins[1] is not None and len(ins[0]) >= 2 and len(ins[1]) >= 2:
        return _broadcast(ins[0][:-2], ins[1][:-2]) + (ins[0][-2], ins[1][-1])
    return None


def _refine(values: dict[str, Value], node: Node, constants: dict) -> None:
    """Sharpen output shapes that ONNX's inference left with unknown sizes."""
    outs = [values.get(o) for o in node.outputs]
    if not any(o is not None and any(_unknown(d) for d in o.shape) for o in outs):
        return
    if node.op == "Split":
        first = values.get(node.inputs[0])
        shapes = None if first is None else _split(first.shape, node, constants)
    else:
        shapes = [_inferred(values, node, constants)]
    for out, shape in zip(outs, shapes or []):
        if out is not None and shape is not None and len(shape) == len(out.shape):
            values[out.name] = Value(out.name, shape, out.perm)


def fold_constants(graph: Graph) -> Graph:
    constants = dict(graph.constants)
    values = dict(graph.values)
    kept = []
    keep_outputs = set(graph.outputs)
    for node in graph.nodes:
        present = [i for i in node.inputs if i]
        if node.op in ("Shape", "Size") and _static_shape(values, node.inputs[0]) is not None:
            shape = _static_shape(values, node.inputs[0])
            args, foldable = [np.zeros(shape, np.float32)], True
        else:
            args = [constants.get(i) for i in present]
            foldable = all(a is not None for a in args) and not any(symbolic_shapes.is_symbolic(a) for a in args)
        symbolic = None if foldable or keep_outputs & set(node.outputs) else _symbolic(values, node, constants)
        if symbolic is not None:
            constants.update(zip(node.outputs, symbolic))
            continue
        if not foldable or keep_outputs & set(node.outputs):
            _refine(values, node, constants)
            kept.append(node)
            continue
        for out, value in zip(node.outputs, _evaluate(node, args, graph.opset)):
            constants[out] = value
    return graph.replace(nodes=kept, constants=constants, values=values)
