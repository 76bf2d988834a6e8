"""Squeeze-excite fusion: global_pool(avg) of X -> 1x1 conv2d (+act) -> 1x1 conv2d (+act)
-> binary mul with X becomes one ``squeeze_excite`` op over X (MobileNetV3, EfficientNet).
The 1x1 convs' weights, [Cin, pad4(Cout)] in "khkwci_co4", are exactly gemm's "k_n4"."""

from __future__ import annotations

from tessera.compiler.ir import Graph, Node


def _is_pointwise(node: Node | None) -> bool:
    return (node is not None and node.op == "conv2d" and node.attrs["kernel"] == [1, 1]
            and node.attrs["groups"] == 1 and not node.attrs["residual"])


def fuse_squeeze_excite(graph: Graph) -> Graph:
    producers, users = graph.producers(), graph.consumers()
    layouts = dict(graph.layouts)
    drop: set[int] = set()
    replaced: dict[int, Node] = {}
    for mul in graph.nodes:
        if mul.op != "binary" or mul.attrs["fn"] != "mul" or len(mul.inputs) != 2 or mul.attrs["activations"]:
            continue
        for x_side in (0, 1):
            x, gate = mul.inputs[x_side], mul.inputs[1 - x_side]
            expand = producers.get(gate)
            reduce = producers.get(expand.inputs[0]) if _is_pointwise(expand) else None
            pool = producers.get(reduce.inputs[0]) if _is_pointwise(reduce) else None
            if pool is None or pool.op != "global_pool" or pool.attrs["kind"] != "avg" or pool.inputs[0] != x:
                continue
            chain = [pool.outputs[0], reduce.outputs[0], expand.outputs[0]]
            if any(len(users.get(t, [])) != 1 or t in graph.outputs for t in chain):
                continue
            for w in (reduce.weights["weight"], expand.weights["weight"]):
                layouts[w] = "k_n4"
            attrs = {"squeeze_channels": graph.values[reduce.outputs[0]].shape[1],
                     "reduce_activations": reduce.attrs["activations"],
                     "expand_activations": expand.attrs["activations"]}
            weights = {"reduce_weight": reduce.weights["weight"], "reduce_bias": reduce.weights["bias"],
                       "expand_weight": expand.weights["weight"], "expand_bias": expand.weights["bias"]}
            replaced[id(mul)] = Node("squeeze_excite", [x], list(mul.outputs), attrs,
                                     f"{pool.name}..{mul.name}", weights)
            drop.update({id(pool), id(reduce), id(expand)})
            break
    nodes = [replaced.get(id(n), n) for n in graph.nodes if id(n) not in drop]
    return graph.replace(nodes=nodes, layouts=layouts)
