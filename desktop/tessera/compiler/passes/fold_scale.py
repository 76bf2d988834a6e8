"""Products with a constant that follow a layer, folded into it (package ops):

- fold_channel_scale: ``binary mul|div`` of a gemm / conv2d output (no epilogue yet, used only
  there, or a same-bytes reshape of it: torchvision's ConvNeXt scales after permuting back)
  by a constant that varies along the channels (the last physical axis) only: the layer's
  weights and bias are scaled per output channel instead. That is a ConvNeXt's or
  CaiT's layer scale (y · γ after the block's last linear), free at run time.
- fuse_scalar_scale: ``binary mul|div`` by a one-element constant of the only output of an op
  with an epilogue becomes its ``scale`` activation: a transformer's attention scores · 1/√d
  in the Q·Kᵀ matmul.
- hoist_operand_scales: the same product on a matmul's operand, or before the views that make
  it (torch's MultiheadAttention scales Q and K by d^-¼ each, then transposes K), moves into
  the matmul, (a·s)(b·t) = st·ab, so the operand can be read in place (passes/matmul_views.py).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tessera.compiler.ir import Graph, Node
from tessera.compiler.passes.fuse import EPILOGUE_OPS, same_bytes_view, single_use
from tessera.compiler.passes.matmul_views import VIEW_OPS

# Weight layouts whose last axis is the output channel, one column each (weight_layouts.py).
CHANNEL_LAST_LAYOUTS = {"k_n4", "khkwci_co4", "khkw_c4"}


def _factor(graph: Graph, node: Node) -> tuple[str, np.ndarray] | None:
    """(the scaled tensor, the factor as stored) for a ``binary`` mul or div by a constant."""
    a = node.attrs
    if (node.op != "binary" or a["fn"] not in ("mul", "div") or a["activations"]
            or a["constant_operand"] is None or len(node.inputs) != 1):
        return None
    if a["fn"] == "div" and a["constant_operand"] == 0:    # c / x is no scale of x
        return None
    factor = graph.constants[node.weights["operand"]].astype(np.float64)
    return node.inputs[0], (1 / factor if a["fn"] == "div" else factor)


def _layer(graph: Graph, producers: dict, users: dict, nodes: list, name: str, ops) -> Node | None:
    layer = producers.get(name)
    if layer is None or layer.op not in ops or layer not in nodes or not single_use(graph, users, name):
        return None
    return layer


def fold_channel_scale(graph: Graph) -> Graph:
    producers, users = graph.producers(), graph.consumers()
    nodes = list(graph.nodes)
    constants, layouts = dict(graph.constants), dict(graph.layouts)
    for node in graph.nodes:
        found = _factor(graph, node)
        view = found and same_bytes_view(graph, producers, users, found[0])
        if view and not single_use(graph, users, found[0]):
            continue
        layer = found and _layer(graph, producers, users, nodes, view.inputs[0] if view else found[0],
                                 {"gemm", "conv2d"})
        if not layer or layer.attrs["activations"] or layer.attrs["residual"]:
            continue
        if graph.values[node.outputs[0]].physical_shape != graph.values[layer.outputs[0]].physical_shape:
            continue
        factor, n = found[1], graph.values[layer.outputs[0]].physical_shape[-1]
        if factor.size not in (1, n) or any(d != 1 for d in factor.shape[:-1]):
            continue
        roles = ("weight", "bias")
        if any(layouts.get(layer.weights.get(r)) not in CHANNEL_LAST_LAYOUTS | {"c4"} for r in roles):
            continue                                  # a grouped conv's columns are per group
        weights = dict(layer.weights)
        for role in roles:
            packed = constants[layer.weights[role]]
            columns = np.ones(packed.shape[-1])
            columns[:n] = np.broadcast_to(factor.reshape(-1), (n,))
            weights[role] = f"{layer.name}+{node.name}/{role}"
            constants[weights[role]] = (packed * columns).astype(packed.dtype)
            layouts[weights[role]] = layouts[layer.weights[role]]
        fused = replace(layer, outputs=list(node.outputs), weights=weights, name=f"{layer.name}+{node.name}")
        nodes.remove(layer)
        if view:
            nodes.remove(view)
        nodes[nodes.index(node)] = fused
    return graph.replace(nodes=nodes, constants=constants, layouts=layouts)


def fuse_scalar_scale(graph: Graph) -> Graph:
    producers, users = graph.producers(), graph.consumers()
    nodes = list(graph.nodes)
    for node in graph.nodes:
        found = _factor(graph, node)
        host = found and found[1].size == 1 and _layer(graph, producers, users, nodes, found[0], EPILOGUE_OPS)
        if not host or graph.values[node.outputs[0]].physical_shape != graph.values[host.outputs[0]].physical_shape:
            continue
        scale = {"fn": "scale", "params": {"factor": float(found[1].reshape(-1)[0])}}
        fused = replace(host, outputs=list(node.outputs), name=f"{host.name}+{node.name}",
                        attrs={**host.attrs, "activations": host.attrs["activations"] + [scale]})
        nodes.remove(host)
        nodes[nodes.index(node)] = fused
    return graph.replace(nodes=nodes)


def _operand_scale(graph: Graph, producers: dict, users: dict, name: str) -> tuple[Node, Node | None, float] | None:
    """(the scalar product, the view op reading it or None, its factor) found up ``name``'s
    chain of sole-reader views: a scale commutes with rearranging elements."""
    reader = None
    while True:
        node = producers.get(name)
        if node is None or not single_use(graph, users, name):
            return None
        found = _factor(graph, node)
        if found and found[1].size == 1:
            return node, reader, float(found[1].reshape(-1)[0])
        if node.op not in VIEW_OPS:
            return None
        reader, name = node, node.inputs[0]


def hoist_operand_scales(graph: Graph) -> Graph:
    producers, users = graph.producers(), graph.consumers()
    replaced: dict[int, Node] = {}       # id(node) -> node with its input moved past a product
    dropped: set[int] = set()
    for node in graph.nodes:
        if node.op != "matmul" or node.inputs[0] == node.inputs[1]:
            continue
        factor, inputs, hoisted = 1.0, list(node.inputs), False
        for slot, name in enumerate(node.inputs):
            found = _operand_scale(graph, producers, users, name)
            if found is None or id(found[0]) in dropped:
                continue
            scaling, reader, k = found
            factor, hoisted = factor * k, True
            dropped.add(id(scaling))
            if reader is None:
                inputs[slot] = scaling.inputs[0]
            else:
                replaced[id(reader)] = replace(reader, inputs=[scaling.inputs[0], *reader.inputs[1:]])
        if hoisted:          # even when the factors multiply to 1: the products are gone either way
            scale = [{"fn": "scale", "params": {"factor": factor}}] if factor != 1.0 else []
            replaced[id(node)] = replace(node, inputs=inputs, attrs={**node.attrs, "activations": scale + node.attrs["activations"]})
    return graph.replace(nodes=[replaced.get(id(n), n) for n in graph.nodes if id(n) not in dropped])
