"""Int8 convs: marks the convs of a QDQ-quantised network that a GPU may run in integers.

A QDQ network (onnxruntime's ``quantize_static``, or any exporter's) dequantises its weights,
which constant folding turns into float constants that are exactly an int8 number times one
scale per output channel, and rounds its activations with QuantizeLinear → DequantizeLinear
pairs, which fold_qdq turns into ``fake_quant`` epilogues. A conv whose input comes straight
out of a ``fake_quant`` and whose weights are per-channel int8 computes, in exact arithmetic,

    y[c] = s_x · s_w[c] · Σ_k qx[k] · qw[k, c] + bias[c]

with integers qx, qw: what int8 matrix units compute (engine: kernels/conv2d_int8.ts). The mark
changes no result: the op is still the float conv, and an engine without such units (and the
numpy executor) runs it as one. It adds

- ``attrs["int8"]``: the input's ``scale``, ``zero_point``, ``qmin`` and ``qmax``;
- weights ``int8_scale`` (s_w per output channel), ``int8_dequant`` (s_x · s_w, what the sums
  are scaled by: as a weight, not a constant in the kernel, so that convs of one shape share
  one kernel) and ``int8_bias``. The engine stores each input value as the int8
  ``q - qmin - 128`` (uint8 inputs shifted into int8's range), so the sum it computes is off by
  ``(128 + qmin - zero_point) · Σ_k qw[k, c]``; ``int8_bias`` is the bias with that taken back
  out, so the engine's epilogue is ``int8_dequant[c] · acc + int8_bias[c]``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tessera.compiler import weight_layouts
from tessera.compiler.ir import Graph, Node

INT8_MAX = 127
# |w / s_w - round(w / s_w)| above which a weight is not taken for an int8 number: float32
# dequantisation is exact to a few ulps, so anything near this is a float network's weight.
INTEGRAL_TOLERANCE = 1e-3
# Epilogue functions that keep values on the fake_quant's grid when they come after it.
GRID_PRESERVING = {"relu"}


def mark_int8_convs(graph: Graph) -> Graph:
    producers = graph.producers()
    constants = dict(graph.constants)
    layouts = dict(graph.layouts)
    nodes = []
    for node in graph.nodes:
        quant = _input_quantisation(node, producers) if _is_candidate(node) else None
        weight = graph.constants[node.weights["weight"]] if quant else None
        scales = _weight_scales(weight) if quant else None
        if scales is None:
            nodes.append(node)
            continue
        bias = graph.constants[node.weights["bias"]]
        offset = 128 + quant["qmin"] - quant["zero_point"]
        column_sums = np.rint(weight / scales).sum(axis=0)
        int8_bias = bias.astype(np.float64) + quant["scale"] * scales.astype(np.float64) * offset * column_sums
        weights = dict(node.weights)
        dequant = (quant["scale"] * scales.astype(np.float64)).astype(np.float32)
        for role, array in (("int8_scale", scales), ("int8_dequant", dequant), ("int8_bias", int8_bias.astype(np.float32))):
            name = f"{node.name}/{role}"
            constants[name], layouts[name] = weight_layouts.vector(array)
            weights[role] = name
        nodes.append(replace(node, attrs={**node.attrs, "int8": quant}, weights=weights))
    return graph.replace(nodes=nodes, constants=constants, layouts=layouts)


def _is_candidate(node: Node) -> bool:
    """Plain convs (one group) whose input is read as it is: a squeeze-excite gate scales it off
    the grid."""
    return node.op == "conv2d" and node.attrs["groups"] == 1 and not node.attrs.get("input_scale")


def _input_quantisation(node: Node, producers: dict[str, Node]) -> dict | None:
    """The fake_quant parameters of the conv's input, when every value of it is on that grid:
    the producer's epilogue ends in a fake_quant (then at most a ReLU), the producer is a
    fake_quant itself, or a max pool of such."""
    producer = producers.get(node.inputs[0])
    while producer is not None and producer.op == "pool" and producer.attrs["kind"] == "max":
        producer = producers.get(producer.inputs[0])
    if producer is None:
        return None
    if producer.op == "unary":
        chain = [{"fn": producer.attrs["fn"], "params": producer.attrs["params"]}]
    else:
        chain = list(producer.attrs.get("activations", []))
    while chain and chain[-1]["fn"] in GRID_PRESERVING:
        chain.pop()
    if not chain or chain[-1]["fn"] != "fake_quant":
        return None
    p = chain[-1]["params"]
    if not (-128 <= p["qmin"] and p["qmax"] - p["qmin"] <= 255 and p["qmin"] <= p["zero_point"] <= p["qmax"]):
        return None
    return {"scale": float(p["scale"]), "zero_point": int(p["zero_point"]),
            "qmin": int(p["qmin"]), "qmax": int(p["qmax"])}


def _weight_scales(weight: np.ndarray) -> np.ndarray | None:
    """s_w per output column of a packed [K, pad4(Cout)] weight when every column is an int8
    number times it, else None: per channel (each column's largest magnitude taken for ±127, as
    symmetric quantisers map it; all-zero columns, the padding, get 1), or else one scale for
    the whole tensor (a per-tensor quantiser's)."""
    peak = np.abs(weight).max(axis=0)
    per_channel = np.where(peak > 0, peak / INT8_MAX, 1.0).astype(np.float32)
    per_tensor = np.full_like(per_channel, max(float(peak.max(initial=0.0)), 1e-30) / INT8_MAX)
    for scales in (per_channel, per_tensor):
        ratio = weight / scales
        if np.abs(ratio - np.rint(ratio)).max(initial=0.0) <= INTEGRAL_TOLERANCE:
            return scales
    return None
