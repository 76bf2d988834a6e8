"""Weighted sums become gemm: ``binary mul`` of an activation column a [K, 1] with a constant
table W [K, N], summed over K by ``reduce sum``, is a @ W — one gemm over a [K] (or [1, K])
view of a, with W in "k_n4", instead of a [K, N] temporary and a reduction. The
conditional-instance-norm style network computes every norm's gamma and beta this way from
its 26 style weights. The mirrored form (a [1, K], W [N, K], summed over axis 1) is W's
transpose. Matched on physical shapes; the product must have no other user."""

from __future__ import annotations

import numpy as np

from tessera.compiler import weight_layouts
from tessera.compiler.ir import Graph, Node
from tessera.compiler.passes.views import view_as


def _table(graph: Graph, users: dict, mul: Node | None, axis: int) -> tuple[str, np.ndarray] | None:
    """(a, W as [K, N]) when ``mul`` is a column-times-table product reduced over ``axis``."""
    if (mul is None or mul.op != "binary" or mul.attrs["fn"] != "mul" or mul.attrs["activations"]
            or mul.attrs["constant_operand"] is None or len(users.get(mul.outputs[0], [])) != 1
            or mul.outputs[0] in graph.outputs):
        return None
    a, table = mul.inputs[0], graph.constants[mul.weights["operand"]]
    column = graph.values[a].physical_shape
    if table.ndim != 2 or len(column) != 2 or column[1 - axis] != 1 or column[axis] != table.shape[axis]:
        return None
    return a, (table if axis == 0 else table.T)


def fuse_weighted_sum(graph: Graph) -> Graph:
    producers, users = graph.producers(), graph.consumers()
    values, constants, layouts = dict(graph.values), dict(graph.constants), dict(graph.layouts)
    nodes: list[Node] = []
    fused_muls: set[int] = set()
    for node in graph.nodes:
        if node.op != "reduce" or node.attrs["fn"] != "sum" or len(node.attrs["axes"]) != 1:
            nodes.append(node)
            continue
        mul = producers.get(node.inputs[0])
        found = _table(graph, users, mul, node.attrs["axes"][0])
        out_shape = values[node.outputs[0]].physical_shape
        if found is None or out_shape[-1] != found[1].shape[1] or len(out_shape) > 2:
            nodes.append(node)
            continue
        a, matrix = found
        row, view = view_as(values, producers, a, out_shape[:-1] + (matrix.shape[0],))
        name = f"{mul.name}+{node.name}"
        for role, (array, layout) in (("weight", weight_layouts.gemm(matrix)),
                                      ("bias", weight_layouts.vector(np.zeros(matrix.shape[1], np.float32)))):
            constants[f"{name}/{role}"], layouts[f"{name}/{role}"] = np.ascontiguousarray(array, np.float32), layout
        nodes += [view] if view else []
        nodes.append(Node("gemm", [row], list(node.outputs), {"activations": [], "residual": False}, name,
                          {"weight": f"{name}/weight", "bias": f"{name}/bias"}))
        fused_muls.add(id(mul))
    nodes = [n for n in nodes if id(n) not in fused_muls]
    return graph.replace(nodes=nodes, values=values, constants=constants, layouts=layouts)
