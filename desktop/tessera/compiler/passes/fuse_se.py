"""Squeeze-excite fusion (MobileNetV3, EfficientNet): global_pool(avg) of X -> 1x1 conv2d
(+act) -> 1x1 conv2d (+act) = gate, then binary mul of X by the gate.

- When the product's only user is a dense conv2d (groups 1) reading it as its input (the
  block's projection conv), the block becomes two ops: ``squeeze_excite_gate`` over X, writing
  the gate [N, C], and that conv with ``input_scale``, which multiplies input channel c of image
  n by gate[n, c] as it reads X. The scaled map is never written.
- Otherwise (the product has other users, or is a graph output) it becomes one
  ``squeeze_excite`` op over X, which writes the scaled map.

The 1x1 convs' weights, [Cin, pad4(Cout)] in "khkwci_co4", are exactly gemm's "k_n4".
Any width fuses: the engine spreads a gate whose vectors don't fit one workgroup's memory over
many workgroups (squeeze_excite.ts)."""

from __future__ import annotations

from dataclasses import replace

from tessera.compiler.ir import Graph, Node, Value

def _is_pointwise(node: Node | None) -> bool:
    return (node is not None and node.op == "conv2d" and node.attrs["kernel"] == [1, 1]
            and node.attrs["groups"] == 1 and not node.attrs["residual"])


def _scaling_consumer(graph: Graph, users: dict, product: str) -> Node | None:
    """The conv that can take the gate as its input scale, if the product's one user is one."""
    readers = users.get(product, [])
    if len(readers) != 1 or product in graph.outputs:
        return None
    conv = readers[0]
    if (conv.op != "conv2d" or conv.attrs["groups"] != 1 or conv.attrs.get("input_scale")
            or conv.inputs[0] != product or product in conv.inputs[1:]):
        return None
    return conv


def fuse_squeeze_excite(graph: Graph) -> Graph:
    producers, users = graph.producers(), graph.consumers()
    layouts, values = dict(graph.layouts), dict(graph.values)
    drop: set[int] = set()
    replaced: dict[int, list[Node]] = {}
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
            c, cr = graph.values[x].shape[1], graph.values[reduce.outputs[0]].shape[1]
            if not isinstance(c, int):
                continue
            for w in (reduce.weights["weight"], expand.weights["weight"]):
                layouts[w] = "k_n4"
            attrs = {"squeeze_channels": cr,
                     "reduce_activations": reduce.attrs["activations"],
                     "expand_activations": expand.attrs["activations"]}
            weights = {"reduce_weight": reduce.weights["weight"], "reduce_bias": reduce.weights["bias"],
                       "expand_weight": expand.weights["weight"], "expand_bias": expand.weights["bias"]}
            name = f"{pool.name}..{mul.name}"
            conv = _scaling_consumer(graph, users, mul.outputs[0])
            if conv is None:
                replaced[id(mul)] = [Node("squeeze_excite", [x], list(mul.outputs), attrs, name, weights)]
            else:
                n = graph.values[x].shape[0]
                gate_tensor = f"{mul.outputs[0]}:gate"
                values[gate_tensor] = Value(gate_tensor, (n, c))
                replaced[id(mul)] = [Node("squeeze_excite_gate", [x], [gate_tensor], attrs, name, weights)]
                replaced[id(conv)] = [replace(conv, inputs=[x, *conv.inputs[1:], gate_tensor],
                                              attrs={**conv.attrs, "input_scale": True})]
            drop.update({id(pool), id(reduce), id(expand)})
            break
    nodes = [m for n in graph.nodes if id(n) not in drop for m in replaced.get(id(n), [n])]
    return graph.replace(nodes=nodes, layouts=layouts, values=values)
