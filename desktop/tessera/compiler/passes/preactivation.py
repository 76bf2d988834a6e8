"""Pre-activation folding (DenseNet, pre-activation ResNets): a BatchNorm → activation that only
feeds convs becomes part of those convs' loads.

After BatchNorm folding such a pair is a 1×1 depthwise conv2d, y = act(x · s + t) per channel,
and a dispatch of its own that writes the whole map only for the next convs to read it back
(61 of DenseNet-121's 318 dispatches). When every reader is a dense conv2d taking it as its
input, each reader gets ``input_affine`` with weights ``in_scale`` (s) and ``in_shift`` (t)
and ``input_activations`` (act): it applies them to every input value it loads, and only to
values inside the image, so its zero padding stays zero, as it was when the conv padded y.
The 1×1 conv goes, and x is read in its place.

Convs marked for int8 (which read their input as integers) and convs already scaling their
input by a squeeze-excite gate are left as they are, and so is the BatchNorm that feeds them.
"""

from __future__ import annotations

from dataclasses import replace

from tessera.compiler import weight_layouts
from tessera.compiler.ir import Graph, Node

DEPTHWISE = "khkw_c4"


def _is_channel_affine(node: Node, graph: Graph) -> bool:
    """A per-channel x · s + t (+ activations): a 1×1 depthwise conv2d, stride 1, no padding."""
    a = node.attrs
    return (node.op == "conv2d" and graph.layouts.get(node.weights.get("weight")) == DEPTHWISE
            and "bias" in node.weights and a["kernel"] == [1, 1] and a["stride"] == [1, 1]
            and not any(a["pads"]) and not a["residual"] and not a.get("input_scale"))


def _takes_prologue(conv: Node, tensor: str, graph: Graph) -> bool:
    return (conv.op == "conv2d" and graph.layouts.get(conv.weights["weight"]) != DEPTHWISE
            and conv.inputs[0] == tensor and tensor not in conv.inputs[1:]
            and not conv.attrs.get("input_scale") and not conv.attrs.get("int8")
            and not conv.attrs.get("input_affine"))


def fold_preactivation(graph: Graph) -> Graph:
    users = graph.consumers()
    constants, layouts = dict(graph.constants), dict(graph.layouts)
    drop: set[int] = set()
    changed: dict[int, Node] = {}
    for affine in graph.nodes:
        out = affine.outputs[0]
        readers = users.get(out, [])
        if (not _is_channel_affine(affine, graph) or not readers or out in graph.outputs
                or not all(_takes_prologue(c, out, graph) and id(c) not in changed for c in readers)):
            continue
        # [1, pad4(C)] and [pad4(C)]: already the c4 layout's bytes; one pair for all readers
        prologue = {}
        for role, source in (("in_scale", "weight"), ("in_shift", "bias")):
            name = prologue[role] = f"{affine.name}/{role}"
            constants[name], layouts[name] = weight_layouts.vector(constants[affine.weights[source]].reshape(-1))
        attrs = {"input_affine": True, "input_activations": affine.attrs["activations"]}
        for conv in readers:
            changed[id(conv)] = replace(conv, inputs=[affine.inputs[0], *conv.inputs[1:]],
                                        attrs={**conv.attrs, **attrs}, weights={**conv.weights, **prologue})
        drop.add(id(affine))
    nodes = [changed.get(id(n), n) for n in graph.nodes if id(n) not in drop]
    return graph.replace(nodes=nodes, constants=constants, layouts=layouts)
