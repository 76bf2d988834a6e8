"""BatchNorm folding: a BatchNormalization whose input is a Conv or Gemm output used only
by it is folded into that layer's weights and bias (w' = w * g/sqrt(v+eps),
b' = (b - mean) * g/sqrt(v+eps) + beta), and disappears."""

from __future__ import annotations

import numpy as np

from tessera.compiler.ir import Graph, Node


def _bn_params(graph: Graph, bn: Node):
    arrays = [graph.constants.get(n) for n in bn.inputs[1:5]]
    if len(bn.outputs) != 1 or bn.attrs.get("training_mode", 0) or any(a is None for a in arrays):
        return None
    gamma, beta, mean, var = (a.astype(np.float64) for a in arrays)
    scale = gamma / np.sqrt(var + bn.attrs.get("epsilon", 1e-5))
    return scale, beta - mean * scale


def _foldable_layer(graph: Graph, layer: Node | None, users: int) -> bool:
    if layer is None or layer.op not in ("Conv", "Gemm") or users != 1 or layer.inputs[1] not in graph.constants:
        return False
    if layer.op == "Conv":
        return len(layer.inputs) < 3 or not layer.inputs[2] or layer.inputs[2] in graph.constants
    if layer.op == "Gemm":
        c = layer.inputs[2] if len(layer.inputs) > 2 else ""
        return not layer.attrs.get("transB", 0) and (not c or graph.constants[c].ndim <= 1) \
            if (not c or c in graph.constants) else False
    return False


def fold_batchnorm(graph: Graph) -> Graph:
    producers, consumers = graph.producers(), graph.consumers()
    constants = dict(graph.constants)
    folded: dict[int, Node] = {}   # id(layer) -> replacement layer
    dropped: set[int] = set()
    for bn in graph.nodes:
        if bn.op != "BatchNormalization":
            continue
        layer = producers.get(bn.inputs[0])
        params = _bn_params(graph, bn)
        if params is None or not _foldable_layer(graph, layer, len(consumers.get(bn.inputs[0], []))):
            continue
        scale, shift = params
        w = constants[layer.inputs[1]].astype(np.float64)
        out_axis = 0 if layer.op == "Conv" else 1
        old_bias = layer.inputs[2] if len(layer.inputs) > 2 and layer.inputs[2] else None
        b = constants[old_bias].astype(np.float64) if old_bias else 0.0
        if layer.op == "Gemm":
            alpha, beta = layer.attrs.get("alpha", 1.0), layer.attrs.get("beta", 1.0)
            w, b = w * alpha, np.broadcast_to(b * beta, scale.shape)
        shaped = scale.reshape([-1 if i == out_axis else 1 for i in range(w.ndim)])
        w_name, b_name = f"{bn.name}/folded_weight", f"{bn.name}/folded_bias"
        constants[w_name] = (w * shaped).astype(np.float32)
        constants[b_name] = (b * scale + shift).astype(np.float32)
        attrs = {k: v for k, v in layer.attrs.items() if k not in ("alpha", "beta")}
        folded[id(layer)] = Node(layer.op, [layer.inputs[0], w_name, b_name], list(bn.outputs),
                                 attrs, layer.name)
        dropped.add(id(bn))
    nodes = [folded.get(id(n), n) for n in graph.nodes if id(n) not in dropped]
    return graph.replace(nodes=nodes, constants=constants)
