"""Epilogue fusion on package ops.

- fuse_residual_add: ``binary add`` of a conv2d/gemm output (used only there, no epilogue
  yet; or a same-bytes reshape of it, or a gemm's rows regrouped by reshapes, or a conv2d's
  output through unary ops, which become its ``pre_activations``) and a tensor of the same shape
  (neither broadcast) becomes that layer's ``residual`` input: y = pre(conv + bias) + r.
- fuse_activations: a ``unary`` op that is the only user of a conv2d / conv_transpose2d /
  gemm / matmul / binary / instance_norm output is appended to that op's ``activations`` list.
- fuse_bias_add: ``binary add`` of a gemm output (used only there, no epilogue yet) and a
  constant that varies along the last axis only goes into the gemm's bias: what an exporter
  writes for a linear layer as MatMul then Add (every transformer block has several).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tessera.compiler import weight_layouts
from tessera.compiler.ir import Graph, Node

EPILOGUE_OPS = {"conv2d", "conv_transpose2d", "gemm", "matmul", "binary", "instance_norm"}
RESIDUAL_OPS = {"conv2d", "gemm"}


def single_use(graph: Graph, users: dict, name: str) -> bool:
    return len(users.get(name, [])) == 1 and name not in graph.outputs


def same_bytes_view(graph: Graph, producers: dict, users: dict, name: str) -> Node | None:
    """The reshape making ``name`` when it is the only reader of a tensor with the same
    physical shape (a ConvNeXt block's Transpose back to NCHW, free in NHWC memory)."""
    node = producers.get(name)
    if (node is None or node.op != "reshape" or not single_use(graph, users, node.inputs[0])
            or graph.values[node.inputs[0]].physical_shape != graph.values[name].physical_shape):
        return None
    return node


def _regrouped_rows(graph: Graph, producers: dict, users: dict, name: str) -> tuple[Node, list[Node]] | None:
    """(gemm, reshapes) where ``name`` is a gemm's output through sole-reader reshapes that keep
    each row whole (the features innermost): the same rows in the same memory, grouped anew
    (torch's attention output projection, [T·N, E] viewed as [T, N, E], then as [N, T, E])."""
    chain: list[Node] = []
    node = producers.get(name)
    while (node is not None and node.op == "reshape" and single_use(graph, users, node.inputs[0])
           and graph.values[node.inputs[0]].physical_shape[-1:] == graph.values[node.outputs[0]].physical_shape[-1:]):
        chain.append(node)
        node = producers.get(node.inputs[0])
    return (node, chain) if chain and node is not None and node.op == "gemm" else None


def _conv_then_unary(graph: Graph, producers: dict, users: dict, name: str) -> tuple[Node, list[Node], list[Node]] | None:
    """(conv, unary ops, views) where ``name`` is a conv2d's output through sole-reader unary ops
    and same-bytes views: a QDQ network's conv, its output's QuantizeLinear → DequantizeLinear
    (a fake_quant, then a view) before the residual add."""
    unary, views = [], []
    node = producers.get(name)
    while node is not None and single_use(graph, users, node.outputs[0]):
        if node.op == "unary":
            unary.insert(0, node)
        elif same_bytes_view(graph, producers, users, node.outputs[0]) is node:
            views.append(node)
        else:
            break
        node = producers.get(node.inputs[0])
    if not unary or node is None or node.op != "conv2d" or not single_use(graph, users, node.outputs[0]):
        return None
    return node, unary, views


def fuse_residual_add(graph: Graph) -> Graph:
    """A conv2d or gemm whose output (through same-bytes views, or a gemm's regrouped rows) is
    added to another tensor of its shape takes the add as its residual. A conv2d's output may
    also go through unary ops first: they become its ``pre_activations``, applied before the
    residual (a QDQ network rounds the conv's output, then adds)."""
    producers, users = graph.producers(), graph.consumers()
    nodes = list(graph.nodes)
    for add in graph.nodes:
        if add.op != "binary" or add.attrs["fn"] != "add" or len(add.inputs) != 2:
            continue
        for main, other in ((0, 1), (1, 0)):
            view = same_bytes_view(graph, producers, users, add.inputs[main])
            views = [view] if view else []
            layer = producers.get(view.inputs[0] if view else add.inputs[main])
            pre: list[Node] = []
            if layer is None or layer.op not in RESIDUAL_OPS:
                layer, views = _regrouped_rows(graph, producers, users, add.inputs[main]) or (layer, views)
            if layer is None or layer.op not in RESIDUAL_OPS:
                layer, pre, views = _conv_then_unary(graph, producers, users, add.inputs[main]) or (layer, pre, views)
            if (layer is None or layer.op not in RESIDUAL_OPS or layer.attrs["activations"]
                    or layer.attrs["residual"] or not single_use(graph, users, add.inputs[main])):
                continue
            # Both operands shaped like the sum: the layer's epilogue adds elementwise, it
            # doesn't broadcast (a [N, C, 1, 1] conv output added to a map must stay an add).
            out, rest, own = (graph.values[n] for n in (add.outputs[0], add.inputs[other], add.inputs[main]))
            if (rest.shape != out.shape or own.shape != out.shape or rest.perm != out.perm
                    or layer not in nodes):
                continue
            if any(n not in nodes for n in pre + views):
                continue
            attrs = {**layer.attrs, "residual": True}
            if pre:
                attrs["pre_activations"] = [{"fn": u.attrs["fn"], "params": u.attrs["params"]} for u in pre]
            fused = replace(layer, inputs=layer.inputs + [add.inputs[other]], outputs=list(add.outputs),
                            attrs=attrs, name=f"{layer.name}+{add.name}")
            nodes.remove(layer)
            for v in views + pre:
                nodes.remove(v)
            nodes[nodes.index(add)] = fused   # at the add's place: both inputs exist by then
            break
    return graph.replace(nodes=nodes)


def fuse_activations(graph: Graph) -> Graph:
    users = graph.consumers()
    nodes: list[Node] = []
    by_output: dict[str, Node] = {}
    for node in graph.nodes:
        host = by_output.get(node.inputs[0]) if node.op == "unary" else None
        if host is not None and host.op in EPILOGUE_OPS and single_use(graph, users, node.inputs[0]):
            fused = replace(host, outputs=list(node.outputs),
                            attrs={**host.attrs, "activations": host.attrs["activations"] +
                                   [{"fn": node.attrs["fn"], "params": node.attrs["params"]}]})
            nodes[nodes.index(host)] = fused
            del by_output[node.inputs[0]]
            by_output[node.outputs[0]] = fused
            continue
        nodes.append(node)
        for out in node.outputs:
            by_output[out] = node
    return graph.replace(nodes=nodes)


def fuse_bias_add(graph: Graph) -> Graph:
    producers, users = graph.producers(), graph.consumers()
    nodes = list(graph.nodes)
    constants, layouts = dict(graph.constants), dict(graph.layouts)
    for add in graph.nodes:
        if (add.op != "binary" or add.attrs["fn"] != "add" or add.attrs["activations"]
                or add.attrs["constant_operand"] is None):
            continue
        gemm = producers.get(add.inputs[0])
        shift = graph.constants[add.weights["operand"]]
        if (gemm is None or gemm.op != "gemm" or gemm.attrs["activations"] or gemm.attrs["residual"]
                or not single_use(graph, users, add.inputs[0]) or gemm not in nodes
                or graph.values[add.outputs[0]].shape != graph.values[gemm.outputs[0]].shape):
            continue
        n = graph.values[gemm.outputs[0]].shape[-1]
        if shift.size not in (1, n) or any(d != 1 for d in shift.shape[:-1]):
            continue
        name = f"{gemm.name}+{add.name}/bias"
        bias = graph.constants[gemm.weights["bias"]][:n] + np.broadcast_to(shift.reshape(-1), (n,))
        constants[name], layouts[name] = weight_layouts.vector(bias.astype(np.float32))
        fused = replace(gemm, outputs=list(add.outputs), weights={**gemm.weights, "bias": name},
                        name=f"{gemm.name}+{add.name}")
        nodes.remove(gemm)
        nodes[nodes.index(add)] = fused
    return graph.replace(nodes=nodes, constants=constants, layouts=layouts)
