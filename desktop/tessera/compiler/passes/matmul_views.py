"""A matmul reads its operands, and writes its output, through strided views (strided.py), so
the slices and transposes around it are not copies of their own.

A transformer's attention is the case: the qkv projection's output is split into Q, K and V
by Reshape → Transpose → Slice, K is transposed again for Q·Kᵀ, and attention · V is
transposed back before the heads merge. Lowered as written, that is 8 copy dispatches per
block next to 2 matmuls; with views the matmuls read the projection's output in place and
write the merged heads directly. A copy left with no reader is removed by dead-node removal.
"""

from __future__ import annotations

from dataclasses import replace

from tessera.compiler import strided
from tessera.compiler.ir import Graph, Node
from tessera.compiler.passes.layout import inverse

VIEW_OPS = {"reshape", "transpose", "slice"}


def _apply(view: strided.View | None, node: Node, out_shape) -> strided.View | None:
    """``view`` of ``node``'s input carried through ``node`` (a view op) to its output."""
    if view is None:
        return None
    if node.op == "transpose":
        return strided.transpose(view, node.attrs["perm"])
    if node.op == "slice":
        return strided.slice_(view, node.attrs["starts"], node.attrs["steps"], out_shape)
    return strided.reshape(view, out_shape)


def _read_view(graph: Graph, producers: dict, name: str) -> tuple[str, strided.View] | None:
    """(source, view): the farthest tensor up ``name``'s chain of view ops that ``name`` is a
    strided view of, where the chain copies something (a transpose or slice)."""
    chain: list[Node] = []
    node = producers.get(name)
    while node is not None and node.op in VIEW_OPS:
        chain.append(node)
        node = producers.get(node.inputs[0])
    for top in range(len(chain), 0, -1):       # the longest chain first
        steps = chain[:top][::-1]              # source side first
        if all(n.op == "reshape" for n in steps):
            return None
        view = strided.contiguous(graph.values[steps[0].inputs[0]].physical_shape)
        for n in steps:
            view = _apply(view, n, graph.values[n.outputs[0]].physical_shape)
        if view is not None:
            return steps[0].inputs[0], view
    return None


def _write_view(graph: Graph, users: dict, name: str) -> tuple[list[Node], strided.View] | None:
    """(chain, view): the longest chain of sole-reader transposes and reshapes down from
    ``name`` (holding a transpose) whose last output is ``name``'s elements rearranged, with
    ``name`` as a strided view of that output."""
    chain: list[Node] = []
    current = name
    while current not in graph.outputs and len(users.get(current, [])) == 1:
        node = users[current][0]
        if node.op not in ("reshape", "transpose"):
            break
        chain.append(node)
        current = node.outputs[0]
    for end in range(len(chain), 0, -1):
        steps = chain[:end]
        if all(n.op == "reshape" for n in steps):
            return None
        view = strided.contiguous(graph.values[steps[-1].outputs[0]].physical_shape)
        for n in reversed(steps):              # undo each step, the target side first
            before = graph.values[n.inputs[0]].physical_shape
            if view is not None and n.op == "transpose":
                view = strided.transpose(view, inverse(n.attrs["perm"]))
            elif view is not None:
                view = strided.reshape(view, before)
        if view is not None:
            return steps, view
    return None


def fold_matmul_views(graph: Graph) -> Graph:
    producers, users = graph.producers(), graph.consumers()
    nodes, written_through = [], set()
    for node in graph.nodes:
        if node.op != "matmul":
            nodes.append(node)
            continue
        inputs, outputs, views = list(node.inputs), list(node.outputs), dict(node.attrs.get("views", {}))
        for slot, role in enumerate("ab"):
            found = _read_view(graph, producers, inputs[slot])
            if found is not None:
                inputs[slot], view = found
                views[role] = view.to_json()
        found = _write_view(graph, users, outputs[0])
        if found is not None:
            chain, view = found
            outputs[0] = chain[-1].outputs[0]
            views["y"] = view.to_json()
            written_through.update(id(n) for n in chain)   # the matmul writes their result now
        nodes.append(replace(node, inputs=inputs, outputs=outputs, attrs={**node.attrs, "views": views})
                     if views else node)
    return graph.replace(nodes=[n for n in nodes if id(n) not in written_through])
