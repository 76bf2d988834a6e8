"""Lowering: ONNX-level nodes -> package ops over tensors with a physical layout.

Each ONNX op has one rule below. Rules compute output shapes themselves (symbolic dims stay
expressions), pack constant weights into the kernels' layouts (weight_layouts.py), choose
each output's layout (NHWC for 4-D image tensors; see layout.py), and insert a ``transpose``
(or a free ``reshape`` view) where an op needs its input in another layout. A rule that
meets an attribute or variant the package can't express records a Problem naming the node;
all of them are reported together.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from tessera.compiler import dims, weight_layouts
from tessera.compiler.errors import Problem
from tessera.compiler.ir import Graph, Node, Value
from tessera.compiler.passes.layout import (NHWC, physical_axis, plain, relabelled,
                                            same_memory)
from tessera.compiler.passes.symbolic_shapes import dims_of, is_symbolic


class Unsupported(Exception):
    """Raised inside a rule; becomes a Problem naming the node."""


UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSigmoid": "hard_sigmoid",
         "HardSwish": "hard_swish", "LeakyRelu": "leaky_relu", "Sqrt": "sqrt",
         "Reciprocal": "reciprocal", "Clip": "clip", "FakeQuant": "fake_quant", "Exp": "exp",
         "Log": "log", "Neg": "neg", "Abs": "abs", "Erf": "erf", "Gelu": "gelu", "Elu": "elu",
         "Selu": "selu", "Celu": "celu", "Softplus": "softplus", "Softsign": "softsign",
         "Mish": "mish", "Silu": "silu", "Sin": "sin", "Cos": "cos"}
BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "PRelu": "prelu"}
# Ops of any number of inputs, folded left pairwise into this binary fn (Mean: a sum, then / n).
VARIADIC = {"Sum": "add", "Mean": "add", "Max": "max", "Min": "min"}


def broadcast_dims(a: tuple, b: tuple) -> tuple:
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + a, (1,) * (rank - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise Unsupported(f"shapes {a} and {b} don't broadcast (or can't be proven to)")
    return tuple(out)


class Lowerer:
    def __init__(self, graph: Graph):
        self.src = graph
        self.nodes: list[Node] = []
        self.relabelled_only: set[str] = set()   # Transpose outputs: a new perm, nothing computed
        self.values: dict[str, Value] = {}
        self.constants: dict[str, np.ndarray] = {}
        self.layouts: dict[str, str] = {}
        self.problems: list[Problem] = []
        self.relaid: dict[tuple[str, tuple], str] = {}   # (tensor, perm) -> its copy in that layout
        self._count = 0

    # -- helpers ------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}#{self._count}"

    def const(self, name: str) -> np.ndarray | None:
        return self.src.constants.get(name) if name else None

    def need_const(self, node: Node, index: int, what: str, symbolic: bool = False) -> np.ndarray:
        """The constant input ``index`` (None if absent). A shape tensor of symbolic dims
        (symbolic_shapes.py) is taken only by the rules that say ``symbolic``."""
        if index >= len(node.inputs) or not node.inputs[index]:
            return None
        value = self.const(node.inputs[index])
        if value is None:
            raise Unsupported(f"{what} must be a constant (it is computed at run time)")
        if is_symbolic(value) and not symbolic:
            raise Unsupported(f"{what} depends on the input's size ({', '.join(map(str, value.ravel()))}), "
                              "which is free here; bind it (a fixed input size) or re-export")
        return value

    def act(self, name: str) -> Value:
        if name in self.values:
            return self.values[name]
        if name in self.src.constants:
            return self._materialised(name)
        raise Unsupported(f"input {name!r} has no known shape")

    def _materialised(self, name: str) -> Value:
        """A constant read where an op takes a tensor (a class token concatenated to the patch
        embeddings, a stored matrix multiplied from the left): a ``constant`` op writes it."""
        if is_symbolic(self.src.constants[name]):
            raise Unsupported(f"the shape tensor {name!r} depends on the input's size and is used as data")
        array = np.asarray(self.src.constants[name], np.float32)
        weights = {"value": self.weight(name, "value", weight_layouts.broadcast(array))}
        self.emit("constant", [], name, array.shape, plain(array.ndim), name, {}, weights)
        return self.values[name]

    def weight(self, node_name: str, role: str, packed: tuple[np.ndarray, str]) -> str:
        array, layout = packed
        name = f"{node_name}/{role}"
        self.constants[name] = np.ascontiguousarray(array, dtype=np.float32)
        self.layouts[name] = layout
        return name

    def emit(self, op: str, inputs: list[str], output: str, shape, perm, name: str,
             attrs: dict | None = None, weights: dict | None = None) -> str:
        self.values[output] = Value(output, tuple(shape), tuple(perm))
        self.nodes.append(Node(op, list(inputs), [output], attrs or {}, name, weights or {}))
        return output

    def in_layout(self, name: str, perm) -> str:
        """``name`` with physical perm ``perm``: a free view when memory order agrees, else a
        transpose; made once for all the readers that need it (a Transpose read by Q, K and V's
        projections is one copy, not three)."""
        v = self.values[name]
        perm = tuple(perm)
        if v.perm == perm:
            return name
        if (name, perm) not in self.relaid:
            self.relaid[name, perm] = self._relayout(name, v, perm)
        return self.relaid[name, perm]

    def _relayout(self, name: str, v: Value, perm: tuple) -> str:
        out = self.fresh(f"{name}:{'view' if same_memory(v.shape, v.perm, perm) else 'transposed'}")
        phys = tuple(v.shape[p] for p in perm)
        if same_memory(v.shape, v.perm, perm):
            return self.emit("reshape", [name], out, v.shape, perm, out, {"shape": list(phys)})
        src_pos = [v.perm.index(p) for p in perm]  # physical input axis for each output axis
        return self.emit("transpose", [name], out, v.shape, perm, out, {"perm": src_pos})

    def image(self, name: str) -> Value:
        v = self.act(name)
        if len(v.shape) != 4:
            raise Unsupported(f"only 4-D (N, C, H, W) tensors are supported here, got rank {len(v.shape)}")
        return v

    def _readers(self, name: str) -> list[Node]:
        """The first readers of ``name`` that decide its layout, looking through ops that work
        the same on any axis order: elementwise ones (an exporter's normalisation of an NHWC
        image before its Transpose to NCHW), fake quantisation (an int8 model's input
        QuantizeLinear), and Pad and Resize (their per-axis pads and scales follow the axes)."""
        consumers = self.src.consumers()
        out, todo, seen = [], [name], set()
        while todo:
            for n in consumers.get(todo.pop(), []):
                if id(n) not in seen:
                    seen.add(id(n))
                    if n.op in UNARY or n.op in BINARY or n.op in LAYOUT_FREE:
                        todo.extend(n.outputs)
                    else:
                        out.append(n)
        return out

    # -- the driver ------------------------------------------------------------------------
    def run(self) -> Graph:
        for name in self.src.inputs:
            v = self.src.values[name]
            self.values[name] = Value(name, v.shape, _input_perm(v.shape, self._readers(name)))
        failed: set[str] = set()
        for node in self.src.nodes:
            rule = getattr(self, f"rule_{node.op}", None)
            if failed & set(node.inputs):  # downstream of a reported problem: not a new one
                failed.update(node.outputs)
                continue
            try:
                if rule is None:
                    raise Unsupported("this op can only appear in shape computations that fold to "
                                      "constants; here it depends on a run-time value or shape")
                rule(node)
            except Unsupported as exc:
                failed.update(node.outputs)
                self.problems.append(Problem(str(exc), node.name, node.op, self.src.opset))
        outputs = []
        for name in self.src.outputs:
            if name in self.src.constants:
                self.problems.append(Problem(f"output {name!r} is a constant; nothing to compute"))
            elif name in self.values:
                outputs.append(name)
        return Graph(self.src.name, self.nodes, list(self.src.inputs), outputs, self.values,
                     self.constants, self.src.opset, self.layouts)

    # -- convolution and matrix products -------------------------------------------------
    def _window(self, node: Node, spatial, kernel, strides, dilations):
        """pads [top, left, bottom, right] from pads/auto_pad."""
        auto = node.attrs.get("auto_pad", "NOTSET")
        if auto in ("NOTSET", "VALID"):
            p = node.attrs.get("pads", [0, 0, 0, 0]) if auto == "NOTSET" else [0, 0, 0, 0]
            return [p[0], p[1], p[2], p[3]]
        pads_begin, pads_end = [], []
        for d, k, s, dl in zip(spatial, kernel, strides, dilations):
            span = dl * (k - 1) + 1
            if isinstance(d, int):
                total = max((-(-d // s) - 1) * s + span - d, 0)
            elif s == 1:
                total = span - 1
            else:
                raise Unsupported(f"auto_pad {auto} with stride {s} over the symbolic size {d!r} "
                                  "gives padding that depends on the size; bind the size")
            small, big = total // 2, total - total // 2
            pads_begin.append(small if auto == "SAME_UPPER" else big)
            pads_end.append(big if auto == "SAME_UPPER" else small)
        return [pads_begin[0], pads_begin[1], pads_end[0], pads_end[1]]

    def rule_Conv(self, node: Node):
        x = self.image(node.inputs[0])
        w = self.need_const(node, 1, "the weight")
        if w.ndim != 4:
            raise Unsupported("only 2-D convolution is supported")
        b = self.need_const(node, 2, "the bias")
        co, cig, kh, kw = w.shape
        groups = node.attrs.get("group", 1)
        strides = node.attrs.get("strides", [1, 1])
        dil = node.attrs.get("dilations", [1, 1])
        n, c, h, wd = x.shape
        if isinstance(c, str) or c != cig * groups:
            raise Unsupported(f"input has {c} channels; the weight expects {cig * groups}")
        pads = self._window(node, (h, wd), (kh, kw), strides, dil)
        self._conv2d(node, x, w, b, groups, strides, dil, pads, node.outputs[0])

    def _conv2d(self, node: Node, x: Value, w: np.ndarray, b: np.ndarray | None, groups: int,
                strides, dil, pads, out: str) -> str:
        co, _, kh, kw = w.shape
        n, c, h, wd = x.shape
        owner = node.name if out == node.outputs[0] else out   # names the op and its weights
        if groups == 1:
            packed = weight_layouts.conv(w)
        elif groups == c == co:
            packed = weight_layouts.depthwise(w)
        else:
            packed = weight_layouts.grouped(w, groups)
        weights = {"weight": self.weight(owner, "weight", packed),
                   "bias": self.weight(owner, "bias", weight_layouts.vector(
                       b if b is not None else np.zeros(co, np.float32)))}
        oh = dims.sliding_out(h, dil[0] * (kh - 1) + 1, pads[0] + pads[2], strides[0])
        ow = dims.sliding_out(wd, dil[1] * (kw - 1) + 1, pads[1] + pads[3], strides[1])
        attrs = {"kernel": [kh, kw], "stride": list(strides), "pads": pads, "dilation": list(dil),
                 "groups": groups, "activations": [], "residual": False}
        return self.emit("conv2d", [self.in_layout(x.name, NHWC)], out, (n, co, oh, ow), NHWC,
                         owner, attrs, weights)

    def rule_ConvTranspose(self, node: Node):
        x = self.image(node.inputs[0])
        w = self.need_const(node, 1, "the weight")
        b = self.need_const(node, 2, "the bias")
        if w.ndim != 4 or node.attrs.get("group", 1) != 1:
            raise Unsupported("only 2-D ConvTranspose with group 1 is supported")
        ci, co, kh, kw = w.shape
        s = node.attrs.get("strides", [1, 1])
        dl = node.attrs.get("dilations", [1, 1])
        op = node.attrs.get("output_padding", [0, 0])
        n, _, h, wd = x.shape
        spans = [dl[0] * (kh - 1) + 1, dl[1] * (kw - 1) + 1]
        auto = node.attrs.get("auto_pad", "NOTSET")
        full = [dims.add(dims.mul(dims.add(d, -1), st), o + sp) for d, st, o, sp in zip((h, wd), s, op, spans)]
        if "output_shape" in node.attrs or auto in ("SAME_UPPER", "SAME_LOWER"):
            target = node.attrs.get("output_shape")
            target = list(target[-2:]) if target else [dims.mul(d, st) for d, st in zip((h, wd), s)]
            if not all(isinstance(v, int) for v in full + target):
                raise Unsupported("output_shape/auto_pad over symbolic sizes is not supported")
            totals = [f - t for f, t in zip(full, target)]
            if any(t < 0 for t in totals):
                raise Unsupported("output_shape larger than the full transposed convolution")
            upper = auto != "SAME_LOWER"
            begin = [t // 2 if upper else t - t // 2 for t in totals]
            pads = [begin[0], begin[1], totals[0] - begin[0], totals[1] - begin[1]]
        else:
            pads = list(node.attrs.get("pads", [0, 0, 0, 0]))
        oh, ow = (dims.add(f, -(pads[i] + pads[i + 2])) for i, f in enumerate(full))
        weights = {"weight": self.weight(node.name, "weight", weight_layouts.conv_transpose(w)),
                   "bias": self.weight(node.name, "bias", weight_layouts.vector(
                       b if b is not None else np.zeros(co, np.float32)))}
        attrs = {"kernel": [kh, kw], "stride": list(s), "pads": pads, "dilation": list(dl),
                 "activations": []}
        self.emit("conv_transpose2d", [self.in_layout(x.name, NHWC)], node.outputs[0],
                  (n, co, oh, ow), NHWC, node.name, attrs, weights)

    def _gemm(self, node: Node, a: str, b: np.ndarray, bias: np.ndarray | None, out: str):
        x = self.act(a)
        # Rows are independent: a tensor computed with its leading axes in another order (the
        # features still innermost) is read as it lies, and the output keeps that order: torch's
        # sequence-first attention leaves its residual stream as [T, N, E], and moving it back to
        # [N, T, E] for each linear layer would be a copy. A Transpose only relabelled here is
        # still copied once, before the layer, as its readers share that copy.
        rows_kept = len(x.shape) >= 2 and x.perm[-1] == len(x.shape) - 1 and a not in self.relabelled_only
        perm = x.perm if rows_kept else plain(len(x.shape))
        a = self.in_layout(a, perm)
        if x.shape[-1] != b.shape[0]:
            raise Unsupported(f"inner dimensions differ ({x.shape[-1]} vs {b.shape[0]})")
        n = b.shape[1]
        weights = {"weight": self.weight(node.name, "weight", weight_layouts.gemm(b)),
                   "bias": self.weight(node.name, "bias", weight_layouts.vector(
                       np.broadcast_to(bias if bias is not None else np.float32(0), (n,)).copy()))}
        shape = x.shape[:-1] + (n,)
        self.emit("gemm", [a], out, shape, perm, node.name, {"activations": [], "residual": False}, weights)

    def rule_Gemm(self, node: Node):
        alpha, beta = node.attrs.get("alpha", 1.0), node.attrs.get("beta", 1.0)
        b = self.const(node.inputs[1])
        c_name = node.inputs[2] if len(node.inputs) > 2 else ""
        c = self.const(c_name)
        if b is not None and (not c_name or (c is not None and c.size in (1, b.shape[1 - node.attrs.get("transB", 0)])
                                              and c.ndim <= 2 and (c.ndim < 2 or c.shape[0] == 1))):
            a = node.inputs[0]
            if node.attrs.get("transA", 0):
                a = self._transpose(node, a, (1, 0))
            b = (b.T if node.attrs.get("transB", 0) else b) * np.float32(alpha)
            bias = (c.reshape(-1) * np.float32(beta)) if c is not None else None
            return self._gemm(node, a, b.astype(np.float32), bias, node.outputs[0])
        a = node.inputs[0]
        if node.attrs.get("transA", 0):
            a = self._transpose(node, a, (1, 0))
        bn = node.inputs[1]
        if node.attrs.get("transB", 0):
            bn = self._transpose(node, bn, (1, 0))
        product = self._matmul(node, a, bn, self.fresh(f"{node.name}:ab") if (alpha != 1 or c_name) else node.outputs[0])
        if alpha != 1:
            product = self._binary(node, "mul", [product, np.float32(alpha)],
                                   self.fresh(f"{node.name}:alpha") if c_name else node.outputs[0])
        if c_name:
            term = c * np.float32(beta) if c is not None else c_name
            if c is None and beta != 1:
                term = self._binary(node, "mul", [c_name, np.float32(beta)], self.fresh(f"{node.name}:beta"))
            self._binary(node, "add", [product, term], node.outputs[0])

    def _transpose(self, node: Node, name: str, perm) -> str:
        out = self.fresh(f"{node.name}:t")
        self._relabel(name, perm, out, node.name)
        return out

    def _matmul(self, node: Node, a: str, b: str, out: str) -> str:
        va, vb = self.act(a), self.act(b)
        if len(va.shape) < 2 or len(vb.shape) < 2:
            raise Unsupported("MatMul with a 1-D operand is not supported")
        batch = broadcast_dims(va.shape[:-2], vb.shape[:-2])
        if va.shape[-1] != vb.shape[-2]:
            raise Unsupported(f"inner dimensions differ ({va.shape[-1]} vs {vb.shape[-2]})")
        shape = batch + (va.shape[-2], vb.shape[-1])
        a, b = self.in_layout(a, plain(len(va.shape))), self.in_layout(b, plain(len(vb.shape)))
        return self.emit("matmul", [a, b], out, shape, plain(len(shape)), node.name, {"activations": []})

    def rule_Einsum(self, node: Node):
        """What passes/einsum.py left: not a batched matrix product."""
        raise Unsupported(f"Einsum {node.attrs.get('equation', '')!r} is supported only as a batched matrix "
                          "product (two operands, one summed letter, one kept letter of each operand's own)")

    def rule_MatMul(self, node: Node):
        b = self.const(node.inputs[1])
        if b is not None and b.ndim == 2 and len(self.act(node.inputs[0]).shape) >= 2:
            return self._gemm(node, node.inputs[0], b.astype(np.float32), None, node.outputs[0])
        self._matmul(node, node.inputs[0], node.inputs[1], node.outputs[0])

    # -- elementwise -------------------------------------------------------------------------
    def _unary(self, node: Node, fn: str, params: dict, x: str, out: str) -> str:
        v = self.act(x)
        return self.emit("unary", [x], out, v.shape, v.perm, node.name, {"fn": fn, "params": params})

    def _unary_rule(self, node: Node):
        fn = UNARY[node.op]
        a = node.attrs
        params = {
            "hard_sigmoid": lambda: {"alpha": a.get("alpha", 0.2), "beta": a.get("beta", 0.5)},
            "leaky_relu": lambda: {"alpha": a.get("alpha", 0.01)},
            "clip": lambda: self._clip_bounds(node),
            "fake_quant": lambda: dict(a),
            "elu": lambda: {"alpha": a.get("alpha", 1.0)},
            "celu": lambda: {"alpha": a.get("alpha", 1.0)},
            "selu": lambda: {"alpha": a.get("alpha", 1.67326319217681884765625),
                             "gamma": a.get("gamma", 1.05070102214813232421875)},
            "gelu": lambda: {"approximate": self._gelu_form(a)},
        }.get(fn, dict)()
        self._unary(node, fn, params, node.inputs[0], node.outputs[0])

    @staticmethod
    def _gelu_form(attrs: dict) -> str:
        form = attrs.get("approximate", "none")
        if form not in ("none", "tanh"):
            raise Unsupported(f"Gelu approximate={form!r} is not supported (none, tanh are)")
        return form

    def _clip_bounds(self, node: Node) -> dict:
        """{"min", "max"}; None where there is no bound (JSON has no infinity)."""
        lo, hi = (self.need_const(node, i, n) for i, n in ((1, "min"), (2, "max")))
        return {"min": None if lo is None else float(lo.reshape(-1)[0]),
                "max": None if hi is None else float(hi.reshape(-1)[0])}

    rule_Relu = rule_Sigmoid = rule_Tanh = rule_HardSigmoid = rule_HardSwish = _unary_rule
    rule_LeakyRelu = rule_Sqrt = rule_Reciprocal = rule_Clip = rule_FakeQuant = _unary_rule
    rule_Exp = rule_Log = rule_Neg = rule_Abs = rule_Erf = rule_Gelu = rule_Elu = _unary_rule
    rule_Selu = rule_Celu = rule_Softplus = rule_Softsign = rule_Mish = rule_Silu = _unary_rule
    rule_Sin = rule_Cos = _unary_rule

    def _binary(self, node: Node, fn: str, operands: list, out: str) -> str:
        """operands: tensor names or constant arrays (at most one constant)."""
        is_tensor = [isinstance(o, str) and o not in self.src.constants for o in operands]
        arrays = [None if t else (self.src.constants[o] if isinstance(o, str) else o)
                  for o, t in zip(operands, is_tensor)]
        shapes = [self.act(o).shape if t else np.shape(a) for o, a, t in zip(operands, arrays, is_tensor)]
        tensors = [o for o, t in zip(operands, is_tensor) if t]
        shape = broadcast_dims(tuple(shapes[0]), tuple(shapes[1]))
        rank = len(shape)
        # The result takes the layout of an operand as big as it: taking a broadcast one's (an
        # SE gate [N,C,1,1], plain after a Reshape) would transpose the whole map into it.
        full = [self.values[t] for t in tensors if tuple(self.values[t].shape) == shape]
        lead = full[0] if full else max((self.values[t] for t in tensors), key=lambda v: len(v.shape))
        perm = lead.perm if len(lead.shape) == rank else plain(rank)
        inputs, weights = [], {}
        for o, a, t in zip(operands, arrays, is_tensor):
            if t:
                v = self.values[o]
                if len(v.shape) < rank:  # numpy broadcasting prepends unit axes: a free view
                    o = self.in_layout(o, plain(len(v.shape)))
                    view = self.fresh(f"{o}:rank{rank}")
                    full = (1,) * (rank - len(v.shape)) + v.shape
                    o = self.emit("reshape", [o], view, full, plain(rank), view, {"shape": list(full)})
                inputs.append(self.in_layout(o, perm))
            else:
                full = np.asarray(a, np.float32).reshape((1,) * (rank - np.ndim(a)) + np.shape(a))
                weights["operand"] = self.weight(node.name if out == node.outputs[0] else out, "operand",
                                                 weight_layouts.broadcast(full.transpose(perm)))
                inputs.append("")  # position of the constant operand
        const_side = inputs.index("") if "" in inputs else None
        attrs = {"fn": fn, "activations": [], "constant_operand": const_side}
        return self.emit("binary", [i for i in inputs if i], out, shape, perm, node.name, attrs, weights)

    def _binary_rule(self, node: Node):
        if all(i in self.src.constants for i in node.inputs):
            raise Unsupported("both operands are constants (constant folding should have removed it)")
        self._binary(node, BINARY[node.op], list(node.inputs), node.outputs[0])

    rule_Add = rule_Sub = rule_Mul = rule_Div = rule_Pow = rule_PRelu = _binary_rule

    def _variadic_rule(self, node: Node):
        operands = [i for i in node.inputs if i]
        if sum(o in self.src.constants for o in operands) > 1:
            raise Unsupported(f"{node.op} of more than one constant operand is not supported")
        if len(operands) == 1:
            return self.rule_Identity(node)
        fn, mean = VARIADIC[node.op], node.op == "Mean"
        acc = operands[0]
        for i, other in enumerate(operands[1:], 2):
            last = i == len(operands) and not mean
            acc = self._binary(node, fn, [acc, other], node.outputs[0] if last else self.fresh(f"{node.name}:{i}"))
        if mean:
            self._binary(node, "div", [acc, np.float32(len(operands))], node.outputs[0])

    rule_Sum = rule_Mean = rule_Max = rule_Min = _variadic_rule

    def rule_Dropout(self, node: Node):
        """Inference: the identity. Its mask (training only in effect) is not computed."""
        if len(node.outputs) > 1 and node.outputs[1]:
            raise Unsupported("Dropout's mask output is not supported")
        training = self.need_const(node, 2, "training_mode")
        if training is not None and bool(training.reshape(-1)[0]):
            raise Unsupported("training-mode Dropout is not supported")
        self.rule_Identity(node)

    def rule_BatchNormalization(self, node: Node):
        if node.attrs.get("training_mode", 0) or len(node.outputs) > 1:
            raise Unsupported("training-mode BatchNormalization is not supported")
        g, b, m, v = (self.need_const(node, i, n) for i, n in enumerate(("scale", "B", "mean", "var"), 1))
        x = self.act(node.inputs[0])
        scale = g / np.sqrt(v + np.float32(node.attrs.get("epsilon", 1e-5)))
        shift = b - m * scale
        if len(x.shape) == 4 and isinstance(x.shape[1], int):
            # Not after a conv it folds into (DenseNet's pre-activation order): a depthwise 1×1
            # conv, one dispatch that the ReLU after it joins, not a mul and an add.
            c = x.shape[1]
            self._conv2d(node, self.image(node.inputs[0]), scale.reshape(c, 1, 1, 1).astype(np.float32),
                         shift.astype(np.float32), c, [1, 1], [1, 1], [0, 0, 0, 0], node.outputs[0])
            return
        per_channel = [-1 if i == 1 else 1 for i in range(len(x.shape))]
        scaled = self._binary(node, "mul", [node.inputs[0], scale.reshape(per_channel)],
                              self.fresh(f"{node.name}:scaled"))
        self._binary(node, "add", [scaled, shift.reshape(per_channel).astype(np.float32)], node.outputs[0])

    def rule_InstanceNormalization(self, node: Node):
        if len(self.act(node.inputs[0]).shape) != 4:
            return self._instance_norm_rows(node)
        x = self.image(node.inputs[0])
        scale, bias = self.need_const(node, 1, "scale"), self.need_const(node, 2, "B")
        weights = {"scale": self.weight(node.name, "scale", weight_layouts.vector(scale)),
                   "bias": self.weight(node.name, "bias", weight_layouts.vector(bias))}
        self.emit("instance_norm", [self.in_layout(x.name, NHWC)], node.outputs[0], x.shape, NHWC,
                  node.name, {"epsilon": float(node.attrs.get("epsilon", 1e-5)), "activations": []},
                  weights)

    # -- pooling -----------------------------------------------------------------------------
    def _pool(self, node: Node, kind: str):
        x = self.image(node.inputs[0])
        if len(node.outputs) > 1 and node.outputs[1]:
            raise Unsupported("MaxPool's Indices output is not supported")
        k = node.attrs["kernel_shape"]
        if len(k) != 2:
            raise Unsupported("only 2-D pooling is supported")
        s = node.attrs.get("strides", [1, 1])
        dl = node.attrs.get("dilations", [1, 1])
        ceil = bool(node.attrs.get("ceil_mode", 0))
        n, c, h, w = x.shape
        pads = self._window(node, (h, w), k, s, dl)
        oh, ow = (dims.sliding_out(d, dl[i] * (k[i] - 1) + 1, pads[i] + pads[i + 2], s[i], ceil)
                  for i, d in enumerate((h, w)))
        if ceil and not all(isinstance(d, int) for d in (h, w)):
            raise Unsupported("ceil_mode over symbolic sizes is not supported")
        if ceil:  # ONNX: the last window must start inside the input or the left padding
            oh, ow = (o - 1 if (o - 1) * s[i] >= d + pads[i] else o for i, (o, d) in enumerate(((oh, h), (ow, w))))
        attrs = {"kind": kind, "kernel": list(k), "stride": list(s), "pads": pads, "dilation": list(dl),
                 "count_include_pad": bool(node.attrs.get("count_include_pad", 0))}
        self.emit("pool", [self.in_layout(x.name, NHWC)], node.outputs[0], (n, c, oh, ow), NHWC,
                  node.name, attrs)

    def rule_MaxPool(self, node: Node):
        if node.attrs.get("storage_order", 0):
            raise Unsupported("storage_order=1 is not supported")
        self._pool(node, "max")

    def rule_AveragePool(self, node: Node):
        self._pool(node, "avg")

    def _global_pool(self, node: Node, kind: str):
        x = self.image(node.inputs[0])
        n, c = x.shape[:2]
        self.emit("global_pool", [self.in_layout(x.name, NHWC)], node.outputs[0], (n, c, 1, 1), NHWC,
                  node.name, {"kind": kind})

    def rule_GlobalAveragePool(self, node: Node):
        self._global_pool(node, "avg")

    def rule_GlobalMaxPool(self, node: Node):
        self._global_pool(node, "max")

    # -- padding and resizing ----------------------------------------------------------------
    def rule_Pad(self, node: Node):
        x = self.act(node.inputs[0])
        mode = node.attrs.get("mode", "constant")
        if mode not in ("constant", "reflect", "edge"):
            raise Unsupported(f"Pad mode {mode!r} is not supported (constant, reflect, edge are)")
        rank = len(x.shape)
        pads = [int(p) for p in self.need_const(node, 1, "pads")]
        value = self.need_const(node, 2, "constant_value")
        axes = self.need_const(node, 3, "axes")
        axes = [int(a) % rank for a in axes] if axes is not None else list(range(rank))
        begin, end = [0] * rank, [0] * rank
        for i, a in enumerate(axes):
            begin[a], end[a] = pads[i], pads[i + len(axes)]
        if any(p < 0 for p in begin + end):
            raise Unsupported("negative pads (cropping) are not supported")
        if mode == "reflect" and any(isinstance(d, int) and (b >= d or e >= d) and (b or e)
                                     for d, b, e in zip(x.shape, begin, end)):
            raise Unsupported("reflect padding must be smaller than the padded axis")
        shape = tuple(dims.add(d, b + e) for d, b, e in zip(x.shape, begin, end))
        perm = x.perm
        attrs = {"mode": mode, "begin": [begin[p] for p in perm], "end": [end[p] for p in perm],
                 "value": float(value.reshape(-1)[0]) if value is not None and value.size else 0.0}
        self.emit("pad", [x.name], node.outputs[0], shape, perm, node.name, attrs)

    def rule_Resize(self, node: Node):
        x = self.act(node.inputs[0])
        a = node.attrs
        mode = a.get("mode", "nearest")
        ctm = a.get("coordinate_transformation_mode", "half_pixel")
        if mode not in ("nearest", "linear", "cubic"):
            raise Unsupported(f"Resize mode {mode!r} is not supported (nearest, linear, cubic are)")
        if ctm not in ("half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel",
                       "half_pixel_symmetric"):
            raise Unsupported(f"coordinate_transformation_mode {ctm!r} is not supported")
        for attr, ok in (("antialias", 0), ("keep_aspect_ratio_policy", "stretch")):
            if a.get(attr, ok) != ok:
                raise Unsupported(f"Resize {attr}={a[attr]!r} is not supported")
        if len(x.shape) != 4:
            raise Unsupported("Resize is supported on 4-D tensors (over H and W) only")
        scales = self.need_const(node, 2, "scales")
        # F.interpolate(size=…) with a free batch: Concat(Shape(x)[:2], sizes): N and C as they are
        sizes = self.need_const(node, 3, "sizes", symbolic=True)
        axes = a.get("axes")
        if axes is not None:
            axes = [int(v) % 4 for v in axes]
        if scales is not None and scales.size:
            full = [1.0] * 4
            for i, s in zip(axes or range(4), scales):
                full[i] = float(s)
            if full[0] != 1 or full[1] != 1:
                raise Unsupported("Resize over the batch or channel axis is not supported")
            out_hw = [dims.scaled(d, *_rational(s)) for d, s in zip(x.shape[2:], full[2:])]
            hw_scales = full[2:]
        elif sizes is not None:
            full = list(x.shape)
            for i, s in zip(axes or range(4), dims_of(sizes)):
                full[i] = s
            if full[0] != x.shape[0] or full[1] != x.shape[1]:
                raise Unsupported("Resize over the batch or channel axis is not supported")
            if not all(isinstance(d, int) for d in (*x.shape[2:], *full[2:])):
                raise Unsupported("Resize between sizes that are not both fixed is not supported")
            out_hw = full[2:]
            hw_scales = [o / i for o, i in zip(out_hw, x.shape[2:])]
        else:
            raise Unsupported("Resize needs constant scales or sizes")
        attrs = {"mode": mode, "coordinate_transformation_mode": ctm,
                 "nearest_mode": a.get("nearest_mode", "round_prefer_floor"),
                 "scales": [float(np.float32(s)) for s in hw_scales]}
        if mode == "cubic":
            attrs.update(cubic_coeff_a=float(np.float32(a.get("cubic_coeff_a", -0.75))),
                         exclude_outside=bool(a.get("exclude_outside", 0)))
        elif a.get("exclude_outside", 0):
            raise Unsupported("Resize exclude_outside is supported only in cubic mode")
        self.emit("resize", [self.in_layout(x.name, NHWC)], node.outputs[0],
                  tuple(x.shape[:2]) + tuple(out_hw), NHWC, node.name, attrs)

    # -- data movement ------------------------------------------------------------------------
    def rule_Concat(self, node: Node):
        if len(node.inputs) == 1:          # torch.cat of one tensor (DenseNet's first layer)
            return self.rule_Identity(node)
        first = self.act(node.inputs[0])
        rank = len(first.shape)
        axis = node.attrs["axis"] % rank
        names = [self.in_layout(self.act(i).name, first.perm) for i in node.inputs]
        parts = [self.values[n].shape[axis] for n in names]
        total = sum(p for p in parts if isinstance(p, int))
        sym = [p for p in parts if not isinstance(p, int)]
        size = total if not sym else "+".join(f"({s})" for s in sym) + (f"+{total}" if total else "")
        shape = tuple(size if i == axis else d for i, d in enumerate(first.shape))
        self.emit("concat", names, node.outputs[0], shape, first.perm, node.name,
                  {"axis": physical_axis(first.perm, axis)})

    def _reshape_to(self, node: Node, shape: tuple, out: str | None = None):
        self._reshape(node, node.inputs[0], shape, out or node.outputs[0])

    def _reshape(self, node: Node, name: str, shape: tuple, out: str) -> str:
        src = self.in_layout(self.act(name).name, plain(len(self.values[name].shape)))
        return self.emit("reshape", [src], out, shape, plain(len(shape)),
                         node.name if out == node.outputs[0] else out, {"shape": list(shape)})

    def _slice(self, node: Node, name: str, ranges: dict[int, tuple[int, int, int]], out: str) -> str:
        """The elements of ``name`` that ``ranges`` keeps ({logical axis: (start, count, step)};
        other axes whole), in ``name``'s layout."""
        x = self.values[name]
        shape = tuple(ranges[i][1] if i in ranges else d for i, d in enumerate(x.shape))
        starts = [ranges[p][0] if p in ranges else 0 for p in x.perm]
        steps = [ranges[p][2] if p in ranges else 1 for p in x.perm]
        return self.emit("slice", [name], out, shape, x.perm, node.name if out == node.outputs[0] else out,
                         {"starts": starts, "steps": steps})

    def _static_axis(self, x: Value, axis: int, op: str) -> int:
        d = x.shape[axis]
        if not isinstance(d, int):
            raise Unsupported(f"{op} along the symbolic axis {d!r} is not supported")
        return d

    def rule_Split(self, node: Node):
        x = self.act(node.inputs[0])
        axis = node.attrs.get("axis", 0) % len(x.shape)
        d = self._static_axis(x, axis, "Split")
        sizes = self.need_const(node, 1, "split") if len(node.inputs) > 1 else None
        sizes = [int(v) for v in sizes] if sizes is not None else node.attrs.get("split")
        if sizes is None:
            parts = node.attrs.get("num_outputs", len(node.outputs))
            each = -(-d // parts)
            sizes = [min(each, d - i * each) for i in range(parts)]
            if "num_outputs" not in node.attrs and d % parts:
                raise Unsupported(f"{d} elements don't split evenly into {parts} outputs")
        if sum(sizes) != d or len(sizes) != len(node.outputs) or min(sizes) < 0:
            raise Unsupported(f"split sizes {list(sizes)} don't cover the axis of {d} "
                              f"in {len(node.outputs)} outputs")
        start = 0
        for size, out in zip(sizes, node.outputs):
            if out:
                self._slice(node, x.name, {axis: (start, size, 1)}, out)
            start += size

    def rule_Gather(self, node: Node):
        """Constant indices along one axis of an activation: a strided slice when they step
        evenly (a class token x[:, 0], every other channel), else the concatenation of their
        runs of consecutive indices, then a free reshape to the indices' shape."""
        x = self.act(node.inputs[0])
        indices = self.need_const(node, 1, "the indices")
        rank = len(x.shape)
        axis = node.attrs.get("axis", 0) % rank
        d = self._static_axis(x, axis, "Gather")
        flat = [int(i) for i in indices.reshape(-1)]
        if any(not -d <= i < d for i in flat):
            raise Unsupported(f"an index is outside the axis of {d} elements")
        flat = [i % d for i in flat]
        if not flat:
            raise Unsupported("Gather with no indices is not supported")
        shape = x.shape[:axis] + tuple(indices.shape) + x.shape[axis + 1:]
        direct = indices.ndim == 1
        taken = node.outputs[0] if direct else self.fresh(f"{node.name}:taken")
        step = flat[1] - flat[0] if len(flat) > 1 else 1
        if step and flat == list(range(flat[0], flat[0] + step * len(flat), step)):
            self._slice(node, x.name, {axis: (flat[0], len(flat), step)}, taken)
        else:
            runs = [[flat[0]]]
            for i in flat[1:]:
                if i == runs[-1][-1] + 1:
                    runs[-1].append(i)
                else:
                    runs.append([i])
            if len(runs) > MAX_CONCAT_PARTS:
                raise Unsupported(f"Gather of {len(runs)} separate runs of indices is not supported "
                                  f"(at most {MAX_CONCAT_PARTS})")
            parts = [self._slice(node, x.name, {axis: (r[0], len(r), 1)}, self.fresh(f"{node.name}:run"))
                     for r in runs]
            self.emit("concat", parts, taken, x.shape[:axis] + (len(flat),) + x.shape[axis + 1:], x.perm,
                      node.name if direct else taken, {"axis": physical_axis(x.perm, axis)})
        if not direct:
            self._reshape(node, taken, shape, node.outputs[0])

    def rule_Expand(self, node: Node):
        """An ``expand`` op: numpy broadcasting of x to the target shape (which may hold the
        input's free batch size: a class token expanded to every image)."""
        x = self.act(node.inputs[0])
        target = dims_of(self.need_const(node, 1, "the target shape", symbolic=True))
        rank = max(len(target), len(x.shape))
        have = (1,) * (rank - len(x.shape)) + tuple(x.shape)
        want = [1] * (rank - len(target)) + target
        shape = []
        for h, w in zip(have, want):
            if h != 1 and w not in (1, h):
                raise Unsupported(f"can't expand a tensor of shape {list(x.shape)} to {target}")
            shape.append(w if h == 1 else h)
        if tuple(shape) == tuple(x.shape):
            return self.rule_Identity(node)
        src = x.name if len(x.shape) == rank else self._reshape(node, x.name, have, self.fresh(f"{node.name}:rank"))
        self.emit("expand", [src], node.outputs[0], tuple(shape), self.values[src].perm, node.name)

    def rule_Tile(self, node: Node):
        """Tile of a run-time tensor (GCViT's global query, repeated for every window): the axes
        of size 1 that repeat are broadcast by one ``expand``; a longer axis repeated r times is
        a concat of r copies (at most MAX_TILE_COPIES)."""
        x = self.act(node.inputs[0])
        repeats = dims_of(self.need_const(node, 1, "repeats", symbolic=True))
        if len(repeats) != len(x.shape):
            raise Unsupported(f"Tile with {len(repeats)} repeats of a rank-{len(x.shape)} tensor")
        longer = [i for i, (d, r) in enumerate(zip(x.shape, repeats)) if d != 1 and r != 1]
        if any(not isinstance(repeats[i], int) or repeats[i] > MAX_TILE_COPIES for i in longer):
            raise Unsupported(f"Tile of an axis longer than 1 more than {MAX_TILE_COPIES} times, or a "
                              "number of times that depends on the input's size")
        broadcast = tuple(r if d == 1 else d for d, r in zip(x.shape, repeats))
        current = x.name
        if broadcast != tuple(x.shape):
            out = node.outputs[0] if not longer else self.fresh(f"{node.name}:broadcast")
            current = self.emit("expand", [current], out, broadcast, x.perm, node.name if not longer else out)
        for n, axis in enumerate(longer):
            v = self.values[current]
            shape = tuple(d * repeats[axis] if i == axis else d for i, d in enumerate(v.shape))
            out = node.outputs[0] if n == len(longer) - 1 else self.fresh(f"{node.name}:tiled{axis}")
            current = self.emit("concat", [current] * repeats[axis], out, shape, v.perm,
                                node.name if out == node.outputs[0] else out, {"axis": physical_axis(v.perm, axis)})
        if current == x.name:
            self.rule_Identity(node)

    def rule_Reshape(self, node: Node):
        x = self.act(node.inputs[0])
        target = dims_of(self.need_const(node, 1, "the target shape", symbolic=True))
        try:
            shape = dims.reshaped(x.shape, target, bool(node.attrs.get("allowzero", 0)))
        except ValueError as exc:
            raise Unsupported(f"can't infer the -1 dimension: {exc}") from None
        self._reshape_to(node, shape)

    def rule_Flatten(self, node: Node):
        x = self.act(node.inputs[0])
        axis = node.attrs.get("axis", 1) % (len(x.shape) + 1) if node.attrs.get("axis", 1) >= 0 \
            else node.attrs["axis"] + len(x.shape)
        self._reshape_to(node, (dims.product(x.shape[:axis]), dims.product(x.shape[axis:])))

    def _axes(self, node: Node):
        if "axes" in node.attrs:
            return list(node.attrs["axes"])
        value = self.need_const(node, 1, "axes")
        return None if value is None else [int(v) for v in value]

    def rule_Squeeze(self, node: Node):
        x = self.act(node.inputs[0])
        axes = self._axes(node)
        rank = len(x.shape)
        axes = [a % rank for a in axes] if axes is not None else [i for i, d in enumerate(x.shape) if d == 1]
        if any(x.shape[a] != 1 for a in axes):
            raise Unsupported("Squeeze of an axis whose size is not 1")
        self._reshape_to(node, tuple(d for i, d in enumerate(x.shape) if i not in axes))

    def rule_Unsqueeze(self, node: Node):
        x = self.act(node.inputs[0])
        rank = len(x.shape) + len(self._axes(node))
        axes = sorted(a % rank for a in self._axes(node))
        rest = iter(x.shape)
        self._reshape_to(node, tuple(1 if i in axes else next(rest) for i in range(rank)))

    def _relabel(self, name: str, perm, out: str, node_name: str):
        self.relabelled_only.add(out)
        x = self.values[name]
        shape = tuple(x.shape[p] for p in perm)
        new_perm = relabelled(x.perm, perm)
        self.emit("reshape", [name], out, shape, new_perm, node_name,
                  {"shape": [shape[p] for p in new_perm]})

    def rule_Transpose(self, node: Node):
        x = self.act(node.inputs[0])
        perm = node.attrs.get("perm", list(reversed(range(len(x.shape)))))
        self._relabel(x.name, perm, node.outputs[0], node.name)

    def rule_Identity(self, node: Node):
        x = self.act(node.inputs[0])
        self.emit("reshape", [x.name], node.outputs[0], x.shape, x.perm, node.name,
                  {"shape": list(x.physical_shape)})

    def rule_Cast(self, node: Node):
        if node.attrs.get("to") != 1:
            raise Unsupported("Cast to a type other than float32 is not supported on activations")
        self.rule_Identity(node)

    def rule_Slice(self, node: Node):
        x = self.act(node.inputs[0])
        rank = len(x.shape)
        starts, ends = self.need_const(node, 1, "starts"), self.need_const(node, 2, "ends")
        axes = self.need_const(node, 3, "axes")
        steps = self.need_const(node, 4, "steps")
        axes = [int(a) % rank for a in axes] if axes is not None else list(range(len(starts)))
        steps = [int(s) for s in steps] if steps is not None else [1] * len(axes)
        ranges = {}
        for a, s, e, st in zip(axes, starts, ends, steps):
            d = x.shape[a]
            if not isinstance(d, int):
                raise Unsupported(f"slicing the symbolic axis {d!r} is not supported")
            if st == 0:
                raise Unsupported("Slice step 0")
            rng = range(d)[slice(int(np.clip(s, -d - 1, d + 1)), int(np.clip(e, -d - 1, d + 1)), st)]
            ranges[a] = (rng.start, len(rng), st)
        self._slice(node, x.name, ranges, node.outputs[0])

    def rule_Softmax(self, node: Node):
        x = self.act(node.inputs[0])
        rank = len(x.shape)
        axis = node.attrs.get("axis", -1 if self.src.opset >= 13 else 1) % rank
        if self.src.opset >= 13:
            axes = [physical_axis(x.perm, axis)]
            src = x.name
        else:  # opsets 11-12: over all axes from ``axis`` on, in logical order
            src = self.in_layout(x.name, plain(rank))
            axes = list(range(axis, rank))
        self.emit("softmax", [src], node.outputs[0], x.shape, self.values[src].perm, node.name,
                  {"axes": axes, **({"log": True} if node.op == "LogSoftmax" else {})})

    rule_LogSoftmax = rule_Softmax

    def rule_DepthToSpace(self, node: Node):
        """[N, C, H, W] → [N, C/b², H·b, W·b] (PixelShuffle): a view, a 6-D transpose, a view."""
        x = self.image(node.inputs[0])
        b = node.attrs["blocksize"]
        n, c, h, w = x.shape
        if not isinstance(c, int) or c % (b * b):
            raise Unsupported(f"{c} channels don't split into blocks of {b}×{b}")
        crd = node.attrs.get("mode", "DCR") == "CRD"
        split = (n, c // (b * b), b, b, h, w) if crd else (n, b, b, c // (b * b), h, w)
        perm = (0, 1, 4, 2, 5, 3) if crd else (0, 3, 4, 1, 5, 2)
        self._blocks(node, x, split, perm, (n, c // (b * b), dims.mul(h, b), dims.mul(w, b)))

    def rule_SpaceToDepth(self, node: Node):
        """[N, C, H, W] → [N, C·b², H/b, W/b]: a view, a 6-D transpose, a view."""
        x = self.image(node.inputs[0])
        b = node.attrs["blocksize"]
        n, c, h, w = x.shape
        if not all(isinstance(d, int) and d % b == 0 for d in (h, w)):
            raise Unsupported(f"a {h}×{w} map doesn't split into blocks of {b}×{b}")
        crd = node.attrs.get("mode", "DCR") == "CRD"
        self._blocks(node, x, (n, c, h // b, b, w // b, b), (0, 1, 3, 5, 2, 4) if crd else (0, 3, 5, 1, 2, 4),
                     (n, c * b * b, h // b, w // b))

    def _blocks(self, node: Node, x: Value, split: tuple, perm: tuple, shape: tuple):
        blocks = self._reshape(node, x.name, split, self.fresh(f"{node.name}:blocks"))
        moved = self._transpose(node, blocks, perm)
        self._reshape(node, moved, shape, node.outputs[0])

    def _reduce(self, node: Node, fn: str, x_name: str | None = None, out: str | None = None) -> str:
        """Reduce node's input (or ``x_name``, a map of it) into node's output (or ``out``)."""
        x = self.act(x_name or node.inputs[0])
        rank = len(x.shape)
        axes = self._axes(node)
        if not axes:
            if node.attrs.get("noop_with_empty_axes", 0):
                if x_name is not None:
                    raise Unsupported(f"{node.op} with noop_with_empty_axes and no axes is not supported")
                return self.rule_Identity(node)
            axes = list(range(rank))
        return self._reduce_op(node, x.name, fn, axes, node.attrs.get("keepdims", 1), out or node.outputs[0])

    def _reduce_op(self, node: Node, name: str, fn: str, axes, keep, out: str) -> str:
        x = self.values[name]
        rank = len(x.shape)
        axes = sorted(a % rank for a in axes)
        if fn in ("max", "min") and any(x.shape[a] == 0 for a in axes):
            raise Unsupported(f"Reduce{fn.title()} over an empty axis is not supported")
        label = node.name if out == node.outputs[0] else out
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape)) if keep else \
            tuple(d for i, d in enumerate(x.shape) if i not in axes)
        if keep:
            perm = x.perm
        else:
            remaining = [p for p in x.perm if p not in axes]
            perm = tuple(sorted(remaining).index(p) for p in remaining)
        attrs = {"fn": fn, "axes": sorted(physical_axis(x.perm, a) for a in axes), "keepdims": bool(keep)}
        return self.emit("reduce", [x.name], out, shape, perm, label, attrs)

    def rule_ReduceMean(self, node: Node):
        self._reduce(node, "mean")

    def rule_ReduceSum(self, node: Node):
        self._reduce(node, "sum")

    def rule_ReduceMax(self, node: Node):
        self._reduce(node, "max")

    def rule_ReduceMin(self, node: Node):
        self._reduce(node, "min")

    def _squares(self, node: Node) -> str:
        x = node.inputs[0]
        return self._binary(node, "mul", [x, x], self.fresh(f"{node.name}:square"))

    def rule_ReduceSumSquare(self, node: Node):
        self._reduce(node, "sum", self._squares(node))

    def rule_ReduceL2(self, node: Node):
        """sqrt(Σ x²): F.normalize's norm."""
        total = self._reduce(node, "sum", self._squares(node), self.fresh(f"{node.name}:sum"))
        self._unary(node, "sqrt", {}, total, node.outputs[0])

    def rule_ReduceL1(self, node: Node):
        magnitudes = self._unary(node, "abs", {}, node.inputs[0], self.fresh(f"{node.name}:abs"))
        self._reduce(node, "sum", magnitudes)

    # -- normalisations written as the ops above -----------------------------------------------
    def rule_LayerNormalization(self, node: Node):
        """(x - mean) / sqrt(var + epsilon) * scale + bias over the axes from ``axis`` on: one
        ``layer_norm`` op when those axes are x's innermost in memory, of static sizes, with
        constant scale and bias, and Mean / InvStdDev not asked for; else written out in
        reduce and elementwise ops (Mean and InvStdDev are then two of their tensors)."""
        x = self.act(node.inputs[0])
        rank = len(x.shape)
        axes = list(range(node.attrs.get("axis", -1) % rank, rank))
        outs = list(node.outputs) + [""] * (3 - len(node.outputs))
        bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
        scale_const = self.const(node.inputs[1])
        bias_const = self.const(bias) if bias else np.zeros(1, np.float32)
        if not (outs[1] or outs[2]) and self._layer_norm(node, x, axes, scale_const, bias_const, outs[0]):
            return
        normed = self._normalized(node, x, axes, self.fresh(f"{node.name}:normed"), outs[1], outs[2])
        scaled = self._binary(node, "mul", [normed, node.inputs[1]],
                              self.fresh(f"{node.name}:scaled") if bias else outs[0])
        if bias:
            self._binary(node, "add", [scaled, bias], outs[0])

    def _normalized(self, node: Node, x: Value, axes: list[int], out: str, mean_out: str = "",
                    inv_std_out: str = "") -> str:
        """(x - mean) / sqrt(var + epsilon) over ``axes``, written out in reduce and elementwise
        ops; the mean and 1/std are named tensors where names are given."""
        mean = self._reduce_op(node, x.name, "mean", axes, 1, mean_out or self.fresh(f"{node.name}:mean"))
        centred = self._binary(node, "sub", [x.name, mean], self.fresh(f"{node.name}:centred"))
        square = self._binary(node, "mul", [centred, centred], self.fresh(f"{node.name}:square"))
        var = self._reduce_op(node, square, "mean", axes, 1, self.fresh(f"{node.name}:var"))
        shifted = self._binary(node, "add", [var, np.float32(node.attrs.get("epsilon", 1e-5))],
                               self.fresh(f"{node.name}:var+eps"))
        root = self._unary(node, "sqrt", {}, shifted, self.fresh(f"{node.name}:std"))
        inv = self._unary(node, "reciprocal", {}, root, inv_std_out or self.fresh(f"{node.name}:inv_std"))
        return self._binary(node, "mul", [centred, inv], out)

    def _instance_norm_rows(self, node: Node):
        """InstanceNormalization of a tensor of rank other than 4: normalised over the axes after
        the second, then scale and B per index of the second. PyTorch's GroupNorm exports as one
        over [N, groups, C/groups·H·W] (unit scale, zero B) between two Reshapes, with the
        per-channel affine after them: a layer_norm of each row (or the written-out form)."""
        x = self.act(node.inputs[0])
        rank = len(x.shape)
        if rank < 3:
            raise Unsupported(f"InstanceNormalization of a rank-{rank} tensor is not defined")
        axes = list(range(2, rank))
        scale, bias = (self.need_const(node, i, role) for i, role in ((1, "scale"), (2, "B")))
        affine = not (np.all(scale == 1) and np.all(bias == 0))
        normed = self.fresh(f"{node.name}:normed") if affine else node.outputs[0]
        if not self._layer_norm(node, x, axes, np.ones(1, np.float32), np.zeros(1, np.float32), normed):
            self._normalized(node, x, axes, normed)
        if affine:
            per_row = (-1,) + (1,) * (rank - 2)
            scaled = self._binary(node, "mul", [normed, scale.reshape(per_row).astype(np.float32)],
                                  self.fresh(f"{node.name}:scaled"))
            self._binary(node, "add", [scaled, bias.reshape(per_row).astype(np.float32)], node.outputs[0])

    def _layer_norm(self, node: Node, x: Value, axes: list[int], scale: np.ndarray | None,
                    bias: np.ndarray | None, out: str) -> bool:
        """Emits the one-op form into ``out`` if it applies (see rule_LayerNormalization);
        False if not."""
        rank = len(x.shape)
        inner = [x.perm[p] for p in range(rank - len(axes), rank)]   # logical axes, memory order
        sizes = [x.shape[a] for a in axes]
        if sorted(inner) != axes or scale is None or bias is None or not all(isinstance(d, int) for d in sizes):
            return False
        order = [a - axes[0] for a in inner]
        flat = lambda v: np.broadcast_to(v, sizes).transpose(order).ravel()  # noqa: E731 (memory order)
        weights = {role: self.weight(node.name, role, weight_layouts.vector(flat(v).astype(np.float32)))
                   for role, v in (("scale", scale), ("bias", bias))}
        attrs = {"epsilon": float(node.attrs.get("epsilon", 1e-5)), "length": int(np.prod(sizes))}
        self.emit("layer_norm", [x.name], out, x.shape, x.perm, node.name, attrs, weights)
        return True

    def rule_LRN(self, node: Node):
        """x / (bias + alpha/size · Σ x² over a window of channels)^beta: the windowed sum of
        squares is a 1×1 conv with a banded weight, so no kernel of its own."""
        x = self.image(node.inputs[0])
        c = x.shape[1]
        if not isinstance(c, int):
            raise Unsupported("LRN over a symbolic number of channels is not supported")
        size = node.attrs["size"]
        alpha, beta = node.attrs.get("alpha", 1e-4), node.attrs.get("beta", 0.75)
        lo, hi = (size - 1) // 2, -(-(size - 1) // 2)
        band = np.array([[-lo <= ci - co <= hi for ci in range(c)] for co in range(c)], np.float32)
        window = (band * np.float32(alpha / size)).reshape(c, c, 1, 1)
        square = self._binary(node, "mul", [x.name, x.name], self.fresh(f"{node.name}:square"))
        total = self._conv2d(node, self.values[square], window,
                             np.full(c, node.attrs.get("bias", 1.0), np.float32), 1, [1, 1], [1, 1],
                             [0, 0, 0, 0], self.fresh(f"{node.name}:window"))
        scale = self._binary(node, "pow", [total, np.float32(beta)], self.fresh(f"{node.name}:scale"))
        self._binary(node, "div", [x.name, scale], node.outputs[0])


def _rational(scale: float) -> tuple[int, int]:
    f = Fraction(float(np.float32(scale)))
    return f.numerator, f.denominator


MAX_TILE_COPIES = 16      # copies of a longer axis Tile may concatenate
MAX_CONCAT_PARTS = 4      # runs of indices a Gather may concatenate (each one a binding)
LAYOUT_FREE = frozenset({"Identity", "Cast", "FakeQuant", "Pad", "Resize", "Upsample"})


def _input_perm(shape: tuple, readers: list[Node]) -> tuple[int, ...]:
    """NHWC memory for a 4-D input, unless it is channels-last already: every reader that decides
    its layout (``Lowerer._readers``) is the exporter's Transpose to NCHW, which then relabels it
    for free. Judged by its readers, not its shape: an [N, C, 3, 4] map looks as channels-last as
    an [N, H, W, 3] image does."""
    if len(shape) != 4 or shape[2:] == (1, 1):    # [N, C, 1, 1]: both orders are the same memory
        return plain(len(shape))
    channels_last = bool(readers) and all(n.op == "Transpose" and list(n.attrs.get("perm", [])) == [0, 3, 1, 2]
                                    for n in readers)
    return plain(4) if channels_last else NHWC


def lower(graph: Graph) -> tuple[Graph, list[Problem]]:
    lowerer = Lowerer(graph)
    out = lowerer.run()
    return out, lowerer.problems
