"""Q·Kᵀ → softmax → · V becomes one ``attention`` op, so the scores never reach memory.

Run as written, a transformer's attention is three dispatches: the scores matmul writes
[heads, T, T] floats, softmax reads and writes them again, and attention · V reads them a
third time. The fused op (docs/model-package.md) computes each query row's scores block by
block with a running max and sum (the online softmax), so it reads Q, K and V once and writes
only the result. It takes the matmuls' strided views (passes/matmul_views.py, run first), so
Q, K and V are still read straight out of the qkv projection.

Fused only where nothing else reads the scores or the probabilities, the softmax is over the
keys, the scores' epilogue is at most a scale (the 1/√d) and the head sizes are numbers no
bigger than MAX_HEAD (a thread keeps its query row and its share of the output in registers).
A bias added to the scaled scores before the softmax (a relative position bias as Swin and
MaxViT add it, a mask), stored or computed, becomes the op's fourth input, read through a view
that broadcasts it; so do Swin's shifted windows, whose mask is added over the batch split
into [B/nW, nW] (the op then runs over those batch axes).
"""

from __future__ import annotations

import math

import numpy as np

from tessera.compiler import strided
from tessera.compiler.ir import Graph, Node, Value

MAX_HEAD = 128


def _view(graph: Graph, node: Node, role: str, slot: int) -> strided.View:
    """The operand (or output, role "y") ``node`` reads through, as a view even where plain."""
    found = node.attrs.get("views", {}).get(role)
    if found is not None:
        return strided.View(tuple(found["shape"]), tuple(found["strides"]), found["offset"])
    name = node.outputs[0] if role == "y" else node.inputs[slot]
    return strided.contiguous(graph.values[name].physical_shape)


def _swap_last(v: strided.View) -> strided.View:
    return strided.transpose(v, [*range(len(v.shape) - 2), len(v.shape) - 1, len(v.shape) - 2])


def _fused(graph: Graph, scores: Node, softmax: Node, weighted: Node, bias: str | None,
           windows: tuple | None = None) -> Node | None:
    """The attention op for the nodes, or None where they don't make one. ``windows``: the
    batch axes to compute over instead (Swin's [B/nW, nW, heads] for [B, heads])."""
    rank = len(graph.values[softmax.inputs[0]].physical_shape)
    if softmax.attrs.get("log") or softmax.attrs["axes"] != [rank - 1]:
        return None
    if "y" in scores.attrs.get("views", {}) or "a" in weighted.attrs.get("views", {}):
        return None
    if any(a["fn"] != "scale" for a in scores.attrs.get("activations", [])):
        return None
    q, k = _view(graph, scores, "a", 0), _swap_last(_view(graph, scores, "b", 1))
    v, y = _view(graph, weighted, "b", 1), _view(graph, weighted, "y", 0)
    head, value_head = q.shape[-1], v.shape[-1]
    if not all(isinstance(d, int) and d <= MAX_HEAD for d in (head, value_head)):
        return None
    probabilities = graph.values[weighted.inputs[0]].physical_shape
    if tuple(probabilities[:-2]) != tuple(y.shape[:-2]):   # batch broadcast only on Q, K, V
        return None
    if tuple(graph.values[scores.outputs[0]].physical_shape) != tuple(probabilities):
        return None                                       # a bias that broadcasts the scores up
    views = {"q": q, "k": k, "v": v, "y": y}
    if windows is not None:
        views = {role: strided.reshape(view, (*windows, *view.shape[-2:])) for role, view in views.items()}
        if any(view is None for view in views.values()):
            return None
    inputs = [scores.inputs[0], scores.inputs[1], weighted.inputs[1]]
    if bias is not None:
        views["bias"] = strided.contiguous(graph.values[bias].physical_shape)   # stride 0 where broadcast
        if len(views["bias"].shape) != len(views["y"].shape):
            return None
        inputs.append(bias)
    scale = math.prod(a["params"]["factor"] for a in scores.attrs.get("activations", []))
    return Node("attention", inputs, list(weighted.outputs),
                {"scale": scale, "activations": weighted.attrs.get("activations", []),
                 "views": {role: view.to_json() for role, view in views.items()}},
                name=weighted.name)


def _adds_a_bias(node: Node) -> bool:
    """A plain ``binary add`` of two different tensors, or of a tensor and a constant."""
    return (node.op == "binary" and node.attrs["fn"] == "add" and not node.attrs["activations"]
            and len(set(node.inputs)) == len(node.inputs))


def fuse_attention(graph: Graph) -> Graph:
    producers, users = graph.producers(), graph.consumers()
    values, constants, layouts = dict(graph.values), dict(graph.constants), dict(graph.layouts)

    def sole_reader(name: str, node: Node) -> bool:
        return name not in graph.outputs and users.get(name) == [node]

    def constant_op(name: str, weight: str) -> Node:
        """The op writing the stored ``weight`` as the tensor ``name`` (a bias the op reads)."""
        values[name] = Value(name, constants[weight].shape)
        return Node("constant", [], [name], {}, name, {"value": weight})

    def scores_and_bias(name: str, reader: Node) -> tuple[Node, list[Node], Node | None, str | None] | None:
        """(scores matmul, the nodes between it and the softmax, a constant op to add, the bias)."""
        node = producers.get(name)
        if node is None or not sole_reader(name, reader):
            return None
        if node.op == "matmul":
            return node, [], None, None
        if not _adds_a_bias(node):
            return None
        for slot, tensor in enumerate(node.inputs):   # scores + bias, or bias + scores
            scores = producers.get(tensor)
            if scores is None or scores.op != "matmul" or not sole_reader(tensor, node):
                continue
            if node.attrs["constant_operand"] is None:
                return scores, [node], None, node.inputs[1 - slot]
            bias = f"{node.name}/bias"                # a stored bias: a constant op writes it
            return scores, [node], constant_op(bias, node.weights["operand"]), bias
        return None

    def stored_bias(add: Node) -> np.ndarray | None:
        """The constant a sole-reader ``binary add`` of a constant adds."""
        if not _adds_a_bias(add) or add.attrs["constant_operand"] is None or not sole_reader(add.inputs[0], add):
            return None
        return graph.constants[add.weights["operand"]]

    def shifted_windows(name: str, reader: Node) -> tuple[Node, list[Node], Node, str, tuple] | None:
        """Swin's shifted windows: scores [+ a relative position bias] → Reshape [B, heads, …] to
        [B/nW, nW, heads, …] → + the windows' mask → Reshape back. The attention is computed over
        the split batch axes, with the two stored biases as one."""
        back = producers.get(name)
        if back is None or back.op != "reshape" or not sole_reader(name, reader):
            return None
        mask_add = producers.get(back.inputs[0])
        mask = stored_bias(mask_add) if mask_add is not None else None
        split = producers.get(mask_add.inputs[0]) if mask is not None else None
        if split is None or split.op != "reshape" or not sole_reader(split.outputs[0], mask_add):
            return None
        scores, between, first = producers.get(split.inputs[0]), [back, mask_add, split], None
        if scores is not None and scores.op == "binary" and sole_reader(scores.outputs[0], split):
            first, between = stored_bias(scores), [*between, scores]
            scores = producers.get(scores.inputs[0]) if first is not None else None
        if scores is None or scores.op != "matmul" or not sole_reader(scores.outputs[0], between[-1]):
            return None
        shape = graph.values[scores.outputs[0]].physical_shape
        windows = graph.values[split.outputs[0]].physical_shape
        # Only the first batch axis is split, and nothing but the mask varies along it.
        if tuple(windows[2:]) != tuple(shape[1:]) or len(mask.shape) != len(windows):
            return None
        if first is not None and first.shape[0] != 1:
            return None
        combined = mask + (first.reshape((1, *first.shape)) if first is not None else 0.0)
        weight = f"{mask_add.name}/windows"
        constants[weight] = np.ascontiguousarray(combined, np.float32)
        layouts[weight] = "broadcast"
        bias = f"{mask_add.name}/bias"
        return scores, between, constant_op(bias, weight), bias, tuple(windows[:-2])

    fused: dict[int, list[Node]] = {}
    gone: set[int] = set()
    for weighted in graph.nodes:
        if weighted.op != "matmul":
            continue
        softmax = producers.get(weighted.inputs[0])
        if softmax is None or softmax.op != "softmax" or not sole_reader(softmax.outputs[0], weighted):
            continue
        found = scores_and_bias(softmax.inputs[0], softmax)
        windows = None
        if found is None:
            found = shifted_windows(softmax.inputs[0], softmax)
            if found is None:
                continue
            *found, windows = found
        scores, between, constant, bias = found
        node = _fused(graph.replace(values=values), scores, softmax, weighted, bias, windows)
        if node is not None:
            fused[id(weighted)] = [constant, node] if constant else [node]
            gone.update(id(n) for n in (scores, softmax, *between))
    if not fused:
        return graph
    return graph.replace(values=values, constants=constants, layouts=layouts,
                         nodes=[m for n in graph.nodes if id(n) not in gone for m in fused.get(id(n), [n])])
