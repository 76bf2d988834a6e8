"""Instance norm written out as primitive ops becomes one ``instance_norm``.

After lowering, ``(x - mean) / sqrt(var + eps) * gamma + beta`` over an NHWC tensor x is:

    m = reduce mean(x, H,W)   d = x - m   v = reduce mean(d ** 2 | d * d, H,W)
    s = sqrt(v + eps)         n = d / s  |  d * (1 / s)  |  d * reciprocal(s)
    [n * gamma] [+ beta]      gamma, beta per channel: constants, or tensors of C or N·C values

Matched on meaning, not names: both means reduce x's physical H,W axes keeping them, the
constants are exactly 2, 1 and one epsilon, and every intermediate has only the users the
pattern gives it (d: the square and the normalising op) and is no graph output, so nothing
computed on the way is lost. Constant gamma/beta (or none) give the weights-based op;
computed ones (conditional instance norm) are read as inputs [C] or [N, C], named in
``affine_inputs``. Run before activation fusion, so a following activation joins the op.
"""

from __future__ import annotations

import numpy as np

from tessera.compiler import weight_layouts
from tessera.compiler.ir import Graph, Node
from tessera.compiler.passes.layout import NHWC
from tessera.compiler.passes.views import view_as

AFFINE = (("scale", "mul", 1.0), ("bias", "add", 0.0))  # role, op applying it, identity


class _Match:
    """Pattern queries over one graph's producers and users."""

    def __init__(self, graph: Graph):
        self.graph, self.producers, self.users = graph, graph.producers(), graph.consumers()

    def only_user(self, name: str) -> Node | None:
        users = self.users.get(name, [])
        return users[0] if len(users) == 1 and name not in self.graph.outputs else None

    def scalar(self, node: Node | None, side: int | None = None) -> float | None:
        """The constant operand of an epilogue-free binary (at ``side``, or at either side),
        when it is one value."""
        if (node is None or node.op != "binary" or node.attrs["activations"]
                or node.attrs["constant_operand"] is None
                or side is not None and node.attrs["constant_operand"] != side):
            return None
        value = self.graph.constants[node.weights["operand"]]
        return float(value.reshape(-1)[0]) if value.size == 1 else None

    def is_binary(self, node: Node | None, fn: str, inputs: list[str]) -> bool:
        return (node is not None and node.op == "binary" and node.attrs["fn"] == fn
                and not node.attrs["activations"] and node.inputs == inputs
                and node.attrs["constant_operand"] is None)

    def spatial_mean(self, node: Node | None, x: str) -> bool:
        return (node is not None and node.op == "reduce" and node.attrs["fn"] == "mean"
                and node.inputs == [x] and node.attrs["axes"] == [1, 2] and node.attrs["keepdims"])

    def normalised(self, mean: Node) -> tuple[list[Node], float] | None:
        """The nodes from the mean to n (n's producer last) and epsilon, or None."""
        x = mean.inputs[0]
        sub = self.only_user(mean.outputs[0])
        if not self.is_binary(sub, "sub", [x, mean.outputs[0]]):
            return None
        d = sub.outputs[0]
        d_users = list({id(u): u for u in self.users.get(d, [])}.values())
        if len(d_users) != 2 or d in self.graph.outputs:
            return None
        square = next((u for u in d_users if self.scalar(u, 1) == 2.0 and u.attrs["fn"] == "pow"
                       or self.is_binary(u, "mul", [d, d])), None)
        var = self.only_user(square.outputs[0]) if square else None
        if not self.spatial_mean(var, square.outputs[0]):
            return None
        add = self.only_user(var.outputs[0])
        eps = self.scalar(add) if add is not None and add.attrs.get("fn") == "add" else None
        sqrt = self.only_user(add.outputs[0]) if eps is not None else None
        if sqrt is None or sqrt.op != "unary" or sqrt.attrs["fn"] != "sqrt":
            return None
        s = sqrt.outputs[0]
        last = self.only_user(s)
        chain = [mean, sub, square, var, add, sqrt]
        if not self.is_binary(last, "div", [d, s]):
            inverse = last
            if inverse is None or not (inverse.op == "unary" and inverse.attrs["fn"] == "reciprocal"
                                       or inverse.attrs.get("fn") == "div" and self.scalar(inverse, 0) == 1.0):
                return None
            last = self.only_user(inverse.outputs[0])
            r = inverse.outputs[0]
            if not (self.is_binary(last, "mul", [d, r]) or self.is_binary(last, "mul", [r, d])):
                return None
            chain.append(inverse)
        if [u for u in d_users if u is not square] != [last]:
            return None
        return chain + [last], eps

    def affine(self, node: Node | None, fn: str, main: str, image: tuple):
        """("weight", [C] array) or ("input", name) when ``node`` applies a per-channel operand
        to ``main`` with ``fn``; None otherwise."""
        if node is None or node.op != "binary" or node.attrs["fn"] != fn or node.attrs["activations"]:
            return None
        n, c = image[0], image[3]
        if node.attrs["constant_operand"] is not None:
            value = self.graph.constants[node.weights["operand"]]
            if node.inputs != [main] or value.size not in (1, c) or value.shape[-1] != value.size:
                return None
            return "weight", np.broadcast_to(value.reshape(-1), (c,)).astype(np.float32)
        others = [i for i in node.inputs if i != main]
        if len(node.inputs) != 2 or len(others) != 1:
            return None
        shape = self.graph.values[others[0]].physical_shape
        return ("input", others[0]) if shape in ((1, 1, 1, c), (n, 1, 1, c)) else None


    def affine_parts(self, chain: list[Node], image: tuple) -> dict:
        """role -> part for the scale and bias ops that follow the chain, appended to it."""
        parts = {}
        for role, fn, _ in AFFINE:
            nxt = self.only_user(chain[-1].outputs[0])
            part = self.affine(nxt, fn, chain[-1].outputs[0], image)
            if part is not None:
                parts[role] = part
                chain.append(nxt)
        return parts


def fuse_instance_norm(graph: Graph) -> Graph:
    match = _Match(graph)
    values, constants, layouts = dict(graph.values), dict(graph.constants), dict(graph.layouts)
    replaced: dict[int, list[Node]] = {}
    drop: set[int] = set()
    for mean in graph.nodes:
        x = mean.inputs[0] if mean.op == "reduce" else None
        if x is None or values[x].perm != NHWC or not match.spatial_mean(mean, x):
            continue
        found = match.normalised(mean)
        if found is None:
            continue
        chain, eps = found
        image = values[x].physical_shape
        parts = match.affine_parts(chain, image)
        name = f"{mean.name}..{chain[-1].name}"
        inputs, roles, weights, views = [x], [], {}, []
        for role, _, identity in AFFINE:
            kind, what = parts.get(role, ("weight", np.full(image[3], identity, np.float32)))
            if kind == "weight":
                constants[f"{name}/{role}"], layouts[f"{name}/{role}"] = weight_layouts.vector(what)
                weights[role] = f"{name}/{role}"
                continue
            per_image = values[what].physical_shape[0] != 1
            source, view = view_as(values, match.producers, what,
                                   (image[0], image[3]) if per_image else (image[3],))
            inputs.append(source)
            roles.append(role)
            views += [view] if view else []
        attrs = {"epsilon": eps, "activations": []} | ({"affine_inputs": roles} if roles else {})
        replaced[id(chain[-1])] = views + [Node("instance_norm", inputs, list(chain[-1].outputs), attrs,
                                                name, weights)]
        drop.update(id(n) for n in chain[:-1])
    nodes = [m for n in graph.nodes if id(n) not in drop for m in replaced.get(id(n), [n])]
    return graph.replace(nodes=nodes, values=values, constants=constants, layouts=layouts)
