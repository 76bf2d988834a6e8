"""Dead-node removal: drop nodes none of whose outputs reach a graph output, and views that
change nothing (same physical shape and layout) by renaming their users' inputs."""

from __future__ import annotations

from tessera.compiler.ir import Graph


def _is_noop_view(graph: Graph, node) -> bool:
    if node.op != "reshape" or node.outputs[0] in graph.outputs:
        return False
    a, b = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
    return a.physical_shape == b.physical_shape and a.shape == b.shape and a.perm == b.perm


def reaching(nodes: list, outputs: list[str]) -> list:
    """The nodes, in order, that some of ``outputs`` depend on."""
    needed = set(outputs)
    kept = []
    for node in reversed(nodes):
        if needed & set(node.outputs):
            kept.append(node)
            needed.update(node.inputs)
    return kept[::-1]


def remove_dead_nodes(graph: Graph) -> Graph:
    rename: dict[str, str] = {}
    nodes = []
    for node in graph.nodes:
        node.inputs = [rename.get(i, i) for i in node.inputs]
        if _is_noop_view(graph, node):
            rename[node.outputs[0]] = node.inputs[0]
        else:
            nodes.append(node)
    kept = reaching(nodes, graph.outputs)
    live = set(graph.inputs) | {o for n in kept for o in n.outputs}
    values = {k: v for k, v in graph.values.items() if k in live}
    used = {w for n in kept for w in n.weights.values()}
    return graph.replace(nodes=kept, values=values,
                         constants={k: v for k, v in graph.constants.items() if k in used},
                         layouts={k: v for k, v in graph.layouts.items() if k in used})
