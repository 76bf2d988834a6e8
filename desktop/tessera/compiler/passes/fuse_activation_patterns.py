"""Activations that exporters write out in elementary ONNX ops become the one op they are,
on the ONNX-level graph before lowering, so that they fuse into the layer before them:

- SiLU / swish (EfficientNet, YOLO): ``Mul(x, Sigmoid(x))`` → ``Silu(x)``;
- exact GELU as PyTorch exports it below opset 20 (ViT, ConvNeXt):
  ``Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)``, with ``Mul(x, 1/√2)`` for the Div or the 0.5
  applied to x first → ``Gelu(x)``.

``Silu`` is the compiler's own op name (ONNX has none); ``Gelu`` is ONNX's (opset 20). The
intermediate nodes are dropped when nothing else reads them.
"""

from __future__ import annotations

import math

from tessera.compiler.ir import Graph, Node
from tessera.compiler.passes.dead_nodes import reaching


def _scalar(graph: Graph, name: str) -> float | None:
    value = graph.constants.get(name)
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def _near(value: float | None, target: float) -> bool:
    return value is not None and math.isclose(value, target, rel_tol=1e-6)


def _other(node: Node, name: str) -> str | None:
    """The operand of a two-input node that isn't ``name`` (None if ``name`` isn't one)."""
    if len(node.inputs) != 2 or name not in node.inputs:
        return None
    return node.inputs[1] if node.inputs[0] == name else node.inputs[0]


class _Matcher:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.producers = graph.producers()
        self.users = graph.consumers()

    def sole_user(self, name: str, op: str) -> Node | None:
        users = self.users.get(name, [])
        if len(users) == 1 and users[0].op == op and name not in self.graph.outputs:
            return users[0]
        return None

    def silu(self, mul: Node) -> str | None:
        """x where ``mul`` is x · sigmoid(x)."""
        for name in mul.inputs if len(mul.inputs) == 2 else []:
            sigmoid = self.producers.get(name)
            if (sigmoid is not None and sigmoid.op == "Sigmoid" and _other(mul, name) == sigmoid.inputs[0]
                    and self.sole_user(name, "Mul") is mul):
                return sigmoid.inputs[0]
        return None

    def gelu(self, erf: Node) -> tuple[str, Node] | None:
        """(x, the node whose output is gelu(x)) for the Erf node of a written-out GELU."""
        scaled = self.producers.get(erf.inputs[0])
        if scaled is None or scaled.op not in ("Div", "Mul") or len(scaled.inputs) != 2:
            return None
        x, k = scaled.inputs
        if not _near(_scalar(self.graph, k), math.sqrt(2) if scaled.op == "Div" else 1 / math.sqrt(2)):
            return None
        add = self.sole_user(erf.outputs[0], "Add")
        if add is None or not _near(_scalar(self.graph, _other(add, erf.outputs[0])), 1.0):
            return None
        product = self.sole_user(add.outputs[0], "Mul")
        partner = product and _other(product, add.outputs[0])
        if partner == x:                 # (x · (1 + erf)) · 0.5
            half = self.sole_user(product.outputs[0], "Mul")
            if half is not None and _near(_scalar(self.graph, _other(half, product.outputs[0])), 0.5):
                return x, half
            return None
        halved = self.producers.get(partner) if partner else None   # (x · 0.5) · (1 + erf)
        if (halved is not None and halved.op == "Mul" and x in halved.inputs
                and _near(_scalar(self.graph, _other(halved, x)), 0.5)
                and self.sole_user(partner, "Mul") is product):
            return x, product
        return None


def fuse_activation_patterns(graph: Graph) -> Graph:
    match = _Matcher(graph)
    replaced: dict[int, Node] = {}
    for node in graph.nodes:
        if node.op == "Mul" and id(node) not in replaced and (x := match.silu(node)) is not None:
            replaced[id(node)] = Node("Silu", [x], list(node.outputs), {}, node.name)
        elif node.op == "Erf" and (found := match.gelu(node)) is not None:
            x, last = found
            replaced[id(last)] = Node("Gelu", [x], list(last.outputs), {"approximate": "none"}, last.name)
    if not replaced:
        return graph
    # A fused pattern's insides are read by nothing now.
    return graph.replace(nodes=reaching([replaced.get(id(n), n) for n in graph.nodes], graph.outputs))
