"""Shape arithmetic over symbolic dims, for constant folding.

A model exported with a free batch size computes its reshapes from the input's shape:
``Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]))``. Where x's shape holds a symbol,
Shape(x) can't fold to numbers, but it folds to a shape tensor of dims (dims.py: ints and
expressions such as ``N`` or ``3*N``), held as a numpy object array. The ops that move and
combine such tensors are evaluated here (a symbol compares as a size: never equal to a number
below 1); Reshape and Expand then take the symbolic shapes (passes/lower.py). An op this can't express (a symbol times a symbol plus another, a float
cast, ...) is left unfolded, and the compile reports it as before.
"""

from __future__ import annotations

import numpy as np

from tessera.compiler import dims
from tessera.compiler.ir import Node


def is_symbolic(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype == object


def dims_of(shape_tensor) -> list:
    """A shape tensor's entries as dims: ints, or symbolic expressions."""
    return [v if isinstance(v, str) else int(v) for v in np.asarray(shape_tensor, object).reshape(-1)]


def shape_of(shape: tuple, node: Node) -> np.ndarray:
    """Shape(x) of a tensor of this (partly symbolic) shape, with opset 15's start/end."""
    rank = len(shape)
    start = node.attrs.get("start", 0)
    end = node.attrs.get("end", rank)
    return _tensor(list(shape)[slice(start, end)])


def _tensor(values) -> np.ndarray:
    """A shape tensor: int64 when every dim is a number, else an object array of dims."""
    flat = [int(v) if isinstance(v, (int, np.integer)) else v for v in np.asarray(values, object).ravel()]
    shape = np.shape(values)
    if all(isinstance(v, int) for v in flat):
        return np.array(flat, np.int64).reshape(shape)
    out = np.empty(len(flat), object)
    out[:] = flat
    return out.reshape(shape)


def _ints(a) -> list[int]:
    return [int(v) for v in np.asarray(a).reshape(-1)]


def _arith(op: str, a, b):
    """One element of Mul/Add/Sub/Div with a symbol on at least one side; None if not a dim."""
    if isinstance(a, str) and isinstance(b, str):
        if op == "Mul":
            return dims.product([a, b])
        if op == "Sub" and a == b:
            return 0
        if op == "Div":      # exact quotients only (N*H // N is H; a window count over itself is 1)
            try:
                return dims.quotient(a, b)
            except ValueError:
                return None
        return None
    sym, num, sym_first = (a, int(b), True) if isinstance(a, str) else (b, int(a), False)
    if op == "Mul":
        return dims.mul(sym, num)
    if op == "Add":
        return dims.add(sym, num)
    if op == "Sub" and sym_first:
        return dims.add(sym, -num)
    if op == "Div" and sym_first and num > 0:
        return dims.floordiv(sym, num)
    return None


def _elementwise(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    a, b = np.broadcast_arrays(np.asarray(a, object), np.asarray(b, object))
    out = []
    for x, y in zip(a.ravel(), b.ravel()):
        if isinstance(x, str) or isinstance(y, str):
            v = _arith(op, x, y)
            if v is None:
                return None
        else:
            v = {"Mul": x * y, "Add": x + y, "Sub": x - y, "Div": int(x / y) if y else None}[op]
        out.append(v)
    return _tensor(np.array(out, object).reshape(a.shape))


def _equal(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Equal over dims: a symbol is a size, so never equal to a number below 1; the same
    expression is equal to itself. Anything else is unknown (None)."""
    a, b = np.broadcast_arrays(np.asarray(a, object), np.asarray(b, object))
    out = []
    for x, y in zip(a.ravel(), b.ravel()):
        if isinstance(x, str) and isinstance(y, str):
            if x != y:
                return None
            out.append(True)
        elif isinstance(x, str) or isinstance(y, str):
            if int(y if isinstance(x, str) else x) >= 1:
                return None
            out.append(False)
        else:
            out.append(int(x) == int(y))
    return np.array(out, bool).reshape(a.shape)


def _axes(node: Node, args: list, index: int) -> list[int] | None:
    if "axes" in node.attrs:
        return list(node.attrs["axes"])
    return _ints(args[index]) if len(args) > index and args[index] is not None else None


def evaluate(node: Node, args: list) -> list[np.ndarray] | None:
    """The node's outputs when its inputs (constants, some symbolic) allow; else None."""
    op, x = node.op, args[0] if args else None
    if op == "Identity" or (op == "Cast" and node.attrs.get("to") in (6, 7)):   # to INT32, INT64
        return [x]
    if op == "Gather":
        return [_tensor(np.take(x, np.asarray(args[1]).astype(np.int64), axis=node.attrs.get("axis", 0)))]
    if op == "Unsqueeze":
        out = np.asarray(x, object)
        rank = out.ndim + len(_axes(node, args, 1))
        for a in sorted(a % rank for a in _axes(node, args, 1)):
            out = np.expand_dims(out, a)
        return [_tensor(out)]
    if op == "Squeeze":
        axes = _axes(node, args, 1)
        return [_tensor(np.squeeze(np.asarray(x, object), axis=None if axes is None else tuple(axes)))]
    if op == "Concat":
        return [_tensor(np.concatenate([np.asarray(a, object).reshape(np.shape(a)) for a in args],
                                       axis=node.attrs["axis"]))]
    if op == "Reshape":
        return [_tensor(np.asarray(x, object).reshape(_ints(args[1])))]
    if op == "Slice" and np.ndim(x) == 1 and (len(args) < 4 or args[3] is None or _ints(args[3]) in ([0], [-1])):
        starts, ends = _ints(args[1]), _ints(args[2])
        steps = _ints(args[4]) if len(args) > 4 and args[4] is not None else [1]
        return [_tensor(np.asarray(x, object)[slice(starts[0], ends[0], steps[0])])]
    if op in ("Mul", "Add", "Sub", "Div") and len(args) == 2:
        out = _elementwise(op, args[0], args[1])
        return None if out is None else [out]
    if op == "Equal":
        out = _equal(args[0], args[1])
        return None if out is None else [out]
    if op == "Where" and not is_symbolic(args[0]):
        cond, a, b = np.broadcast_arrays(np.asarray(args[0], bool), np.asarray(args[1], object), np.asarray(args[2], object))
        return [_tensor(np.where(cond, a, b))]
    return None
