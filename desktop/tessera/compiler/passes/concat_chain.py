"""A ``concat`` whose inputs begin with all the inputs of an earlier concat (same axis) reads
that concat's output instead of those inputs again: concat(a, b, c, d) after concat(a, b, c)
becomes concat(abc, d). DenseNet exports every layer's input as torch.cat of all the block's
earlier features, so its k-th concat copies k + 1 tensors, one dispatch each (DenseNet-121:
535 copy dispatches for 58 concats, 853 dispatches in all at batch 1); chained, each concat is
the previous one plus one new feature. The bytes copied are the same; the earlier features
stop being live once the next concat holds them."""

from __future__ import annotations

from dataclasses import replace

from tessera.compiler.ir import Graph


def chain_concats(graph: Graph) -> Graph:
    earlier: dict[tuple, str] = {}     # (axis, the inputs as written) -> that concat's output
    nodes = []
    for node in graph.nodes:
        if node.op != "concat":
            nodes.append(node)
            continue
        axis = node.attrs["axis"]
        written = tuple(node.inputs)
        # The longest proper prefix of two or more inputs that an earlier concat made.
        prefix = next((n for n in range(len(written) - 1, 1, -1) if (axis, written[:n]) in earlier), None)
        earlier[(axis, written)] = node.outputs[0]
        if prefix is None:
            nodes.append(node)
        else:
            nodes.append(replace(node, inputs=[earlier[(axis, written[:prefix])], *written[prefix:]]))
    return graph.replace(nodes=nodes)
