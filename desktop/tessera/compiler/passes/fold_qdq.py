"""QDQ folding. Weight DequantizeLinear nodes were already folded into float constants by
constant folding; what is left are activation QuantizeLinear -> DequantizeLinear pairs,
possibly with data-movement ops (Reshape, Transpose, ...) on the int8 tensor between them.
Each pair becomes one float ``FakeQuant`` node (round, clamp, rescale: exactly what the pair
computes), the movement ops run on floats, and the DequantizeLinear nodes disappear.
"""

from __future__ import annotations

import numpy as np

from tessera.compiler.errors import Problem
from tessera.compiler.ir import Graph, Node

MOVEMENT = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity"}
_RANGE = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}


def _params(graph: Graph, node: Node):
    scale = graph.constants.get(node.inputs[1])
    zp_name = node.inputs[2] if len(node.inputs) > 2 else ""
    zp = graph.constants.get(zp_name) if zp_name else np.uint8(0)
    if scale is None or zp is None or np.size(scale) != 1 or np.size(zp) != 1:
        return None
    return float(np.float32(scale).reshape(())), int(np.asarray(zp).reshape(())), np.asarray(zp).dtype


def fold_qdq(graph: Graph) -> tuple[Graph, list[Problem]]:
    consumers = graph.consumers()
    problems, nodes = [], []
    dequantized: dict[int, str] = {}  # id(DQ node) -> replacement
    for node in graph.nodes:
        if node.op == "QuantizeLinear":
            qp = _params(graph, node)
            reached = _reach_dequantize(node.outputs[0], consumers)
            if qp is None or qp[2] not in _RANGE or reached is None or any(
                    _params(graph, dq)[:2] != qp[:2] if _params(graph, dq) else True for dq in reached):
                problems.append(Problem("only per-tensor int8/uint8 QuantizeLinear followed by a "
                                        "DequantizeLinear with the same scale and zero point is "
                                        "supported on activations", node.name, node.op, graph.opset))
                continue
            scale, zero, dtype = qp
            lo, hi = _RANGE[dtype]
            nodes.append(Node("FakeQuant", [node.inputs[0]], list(node.outputs),
                              {"scale": scale, "zero_point": zero, "qmin": lo, "qmax": hi}, node.name))
            for dq in reached:
                dequantized[id(dq)] = dq.inputs[0]
        elif node.op == "DequantizeLinear":
            if id(node) in dequantized:
                nodes.append(Node("Identity", [dequantized[id(node)]], list(node.outputs), {}, node.name))
            else:
                problems.append(Problem("DequantizeLinear of a runtime tensor without a matching "
                                        "QuantizeLinear is not supported", node.name, node.op, graph.opset))
        else:
            nodes.append(node)
    return graph.replace(nodes=nodes), problems


def _reach_dequantize(name: str, consumers: dict[str, list[Node]]) -> list[Node] | None:
    """The DequantizeLinear nodes fed by ``name`` through movement ops only; None if anything
    else reads the quantized tensor."""
    found = []
    for user in consumers.get(name, []):
        if user.op == "DequantizeLinear" and user.inputs[0] == name:
            found.append(user)
        elif user.op in MOVEMENT and user.inputs[0] == name:
            deeper = _reach_dequantize(user.outputs[0], consumers)
            if deeper is None:
                return None
            found.extend(deeper)
        else:
            return None
    return found or None
