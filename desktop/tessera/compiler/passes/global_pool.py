"""A ``reduce`` mean or max over an NHWC map's H and W becomes a ``global_pool``: what PyTorch
models write as ``x.mean((-2, -1))`` (ConvNeXt, many timm networks). As a reduce it was a
thread per channel walking every pixel (88 µs alone on an H100 for a 56×56×96 map); the pool
spreads the pixels over a workgroup per image and 4 channels. Run after instance-norm fusion,
whose pattern is made of such means."""

from __future__ import annotations

from dataclasses import replace

from tessera.compiler.ir import Graph, Node, Value
from tessera.compiler.passes.layout import NHWC


def reduce_to_global_pool(graph: Graph) -> Graph:
    nodes, values = [], dict(graph.values)
    for node in graph.nodes:
        x = graph.values[node.inputs[0]] if node.op == "reduce" else None
        if (x is None or node.attrs["fn"] not in ("mean", "max") or len(x.shape) != 4 or x.perm != NHWC
                or node.attrs["axes"] != [1, 2]):
            nodes.append(node)
            continue
        pool = {"kind": "avg" if node.attrs["fn"] == "mean" else "max"}
        if node.attrs["keepdims"]:                  # [N, C, 1, 1] in NHWC: the pool's own output
            nodes.append(replace(node, op="global_pool", attrs=pool))
            continue
        out = values[node.outputs[0]]              # [N, C]: the pool's [N, 1, 1, C], viewed
        pooled = f"{node.outputs[0]}:pooled"
        values[pooled] = Value(pooled, (x.shape[0], x.shape[1], 1, 1), NHWC)
        nodes += [replace(node, op="global_pool", outputs=[pooled], attrs=pool),
                  Node("reshape", [pooled], [out.name], {"shape": list(out.physical_shape)}, node.name)]
    return graph.replace(nodes=nodes, values=values)
