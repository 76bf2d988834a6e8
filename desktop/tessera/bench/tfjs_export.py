"""ONNX -> a plain compute graph (JSON) + float32 weights (.bin) for the page's tfjs interpreter.

TensorFlow.js has no ONNX importer, so the benchmark rebuilds each network from tfjs ops. The
device-independent work happens here, once, so the TypeScript side only sees compute ops:

- input shapes are fixed to the benchmarked shape and every subgraph that depends only on
  constants and static shapes is evaluated (with onnx's reference evaluator) and dropped;
- ONNX inputs that are really parameters (Reshape's shape, Pad's pads, Clip's bounds, ...) become
  attributes, so no integer tensors reach the page;
- BatchNormalization after a Conv is folded into the conv's weights and bias, and a following
  Relu / Relu6 / Sigmoid is fused into it: what TensorFlow's own converter does for tfjs models;
- Identity nodes are removed.

A graph the page cannot run still exports: its `unsupported` list names why, and the page
reports "unsupported: ..." for that model instead of failing half-way.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

FORMAT = 1
# ONNX inputs (by position) that the page needs as plain numbers, and their attribute names.
PARAMETER_INPUTS = {
    "Reshape": {1: "shape"}, "Expand": {1: "shape"}, "Tile": {1: "repeats"},
    "Unsqueeze": {1: "axes"}, "Squeeze": {1: "axes"}, "Split": {1: "split"},
    "ReduceSum": {1: "axes"}, "ReduceMean": {1: "axes"}, "ReduceMax": {1: "axes"},
    "Pad": {1: "pads", 2: "value", 3: "axes"},
    "Resize": {1: "roi", 2: "scales", 3: "sizes"},
    "Clip": {1: "min", 2: "max"}, "Pow": {1: "exponent"},
    "Slice": {1: "starts", 2: "ends", 3: "axes", 4: "steps"},
}
SCALAR_PARAMETERS = {"min", "max", "value", "exponent"}   # some exporters write these as [1]-shaped
FUSABLE_ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid"}


@dataclass
class Node:
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"op": self.op, "inputs": self.inputs, "outputs": self.outputs, "attrs": self.attrs}


def _attr_value(attr: onnx.AttributeProto):
    value = helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value).tolist()
    if isinstance(value, (list, tuple)):
        return [v.decode() if isinstance(v, bytes) else v for v in value]
    if isinstance(value, (int, float, str)):
        return value
    raise ValueError(f"attribute {attr.name} of type {attr.type} has no JSON form")


def _fix_input_shapes(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> None:
    for vi in model.graph.input:
        if vi.name not in shapes:
            continue
        dims = vi.type.tensor_type.shape.dim
        for dim, size in zip(dims, shapes[vi.name], strict=True):
            dim.Clear()
            dim.dim_value = size


def _static_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    out = {}
    for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        if vi.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            out[vi.name] = tuple(d.dim_value for d in dims)
    return out


class _Folder:
    """Walks the graph in order, evaluating what is constant and keeping what is compute."""

    def __init__(self, model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]):
        self.opsets = {o.domain or "": o.version for o in model.opset_import}
        self.shapes = shapes
        self.consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.alias: dict[str, str] = {}
        self.nodes: list[Node] = []
        self.unsupported: list[str] = []

    def name(self, tensor: str) -> str:
        return self.alias.get(tensor, tensor)

    def _evaluate(self, node: onnx.NodeProto) -> None:
        from onnx.reference import ReferenceEvaluator

        single = helper.make_model(
            helper.make_graph([node], "fold", [helper.make_tensor_value_info(i, 0, None)
                                               for i in node.input if i],
                              [helper.make_tensor_value_info(o, 0, None) for o in node.output]),
            opset_imports=[helper.make_opsetid(d, v) for d, v in self.opsets.items()])
        feeds = {i: self.consts[self.name(i)] for i in node.input if i}
        for out, value in zip(node.output, ReferenceEvaluator(single).run(None, feeds)):
            self.consts[out] = np.asarray(value)

    def visit(self, node: onnx.NodeProto) -> None:
        inputs = [self.name(i) for i in node.input]
        if node.op_type == "Identity":
            self.alias[node.output[0]] = inputs[0]
        elif node.op_type == "Shape" and inputs[0] in self.shapes:
            attrs = {a.name: a.i for a in node.attribute}
            shape = self.shapes[inputs[0]][attrs.get("start", 0):attrs.get("end")]
            self.consts[node.output[0]] = np.array(shape, np.int64)
        elif all(i in self.consts for i in inputs if i):
            self._evaluate(node)
        else:
            self._keep(node, inputs)

    def _keep(self, node: onnx.NodeProto, inputs: list[str]) -> None:
        attrs = {a.name: _attr_value(a) for a in node.attribute}
        kept = []
        for index, tensor in enumerate(inputs):
            param = PARAMETER_INPUTS.get(node.op_type, {}).get(index)
            if param is None:
                kept.append(tensor)
            elif tensor and tensor in self.consts:
                value = self.consts[tensor]
                attrs[param] = (float(value.reshape(-1)[0]) if param in SCALAR_PARAMETERS
                                else value.tolist())
            elif tensor:
                self.unsupported.append(f"{node.op_type} with a computed {param} ({node.name})")
        while kept and not kept[-1]:
            kept.pop()
        self.nodes.append(Node(node.op_type, kept, list(node.output), attrs))


def _consumers(nodes: list[Node], outputs: list[str]) -> dict[str, int]:
    count: dict[str, int] = {name: 1 for name in outputs}
    for node in nodes:
        for tensor in node.inputs:
            count[tensor] = count.get(tensor, 0) + 1
    return count


def _fold_batch_norm(nodes: list[Node], consts: dict, outputs: list[str]) -> list[Node]:
    """Conv -> BatchNormalization (inference) becomes one Conv with rescaled weights and bias."""
    uses = _consumers(nodes, outputs)
    producer = {n.outputs[0]: n for n in nodes if n.op == "Conv"}
    kept = []
    for node in nodes:
        conv = producer.get(node.inputs[0]) if node.op == "BatchNormalization" and node.inputs else None
        if conv is None or uses[conv.outputs[0]] != 1 or not all(t in consts for t in node.inputs[1:]) \
                or not all(t in consts for t in conv.inputs[1:]):
            kept.append(node)
            continue
        gamma, beta, mean, var = (consts[t].astype(np.float64) for t in node.inputs[1:5])
        scale = gamma / np.sqrt(var + node.attrs.get("epsilon", 1e-5))
        weight = consts[conv.inputs[1]].astype(np.float64)
        bias = consts[conv.inputs[2]].astype(np.float64) if len(conv.inputs) > 2 else 0.0
        w_name, b_name = f"{conv.outputs[0]}/folded_w", f"{conv.outputs[0]}/folded_b"
        consts[w_name] = (weight * scale[:, None, None, None]).astype(np.float32)
        consts[b_name] = ((bias - mean) * scale + beta).astype(np.float32)
        conv.inputs = [conv.inputs[0], w_name, b_name]
        conv.outputs = list(node.outputs)
    return kept


def _activation_of(node: Node) -> str | None:
    if node.op in FUSABLE_ACTIVATIONS:
        return FUSABLE_ACTIVATIONS[node.op]
    if node.op == "Clip" and node.attrs.get("min") == 0 and node.attrs.get("max") == 6:
        return "relu6"
    return None


def _fuse_activations(nodes: list[Node], outputs: list[str]) -> list[Node]:
    uses = _consumers(nodes, outputs)
    producer = {n.outputs[0]: n for n in nodes if n.op == "Conv"}
    kept = []
    for node in nodes:
        conv = producer.get(node.inputs[0]) if node.inputs else None
        activation = _activation_of(node)
        if conv is None or activation is None or "activation" in conv.attrs \
                or uses[conv.outputs[0]] != 1:
            kept.append(node)
            continue
        conv.attrs["activation"] = activation
        conv.outputs = list(node.outputs)
    return kept


@dataclass
class ExportedGraph:
    graph: dict          # JSON-ready; graph["weights"]["file"] names the weights file
    weights: bytes


def export_graph(model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]) -> ExportedGraph:
    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    _fix_input_shapes(model_copy, input_shapes)
    folder = _Folder(model_copy, _static_shapes(model_copy))
    for node in model_copy.graph.node:
        folder.visit(node)
    outputs = [folder.name(o.name) for o in model_copy.graph.output]
    nodes = _fuse_activations(_fold_batch_norm(folder.nodes, folder.consts, outputs), outputs)

    used = sorted({t for n in nodes for t in n.inputs if t in folder.consts} |
                  {o for o in outputs if o in folder.consts})
    tensors, chunks, offset = {}, [], 0
    for name in used:
        value = folder.consts[name]
        dtype = "float32" if value.dtype.kind == "f" else "int32"
        data = np.ascontiguousarray(value, dtype=np.float32 if dtype == "float32" else np.int32)
        tensors[name] = {"offset": offset, "shape": list(value.shape), "dtype": dtype}
        chunks.append(data.tobytes())
        offset += data.nbytes
    weights = b"".join(chunks)
    graph = {
        "format": FORMAT,
        "inputs": [{"name": vi.name, "shape": list(input_shapes[vi.name])}
                   for vi in model_copy.graph.input if vi.name not in folder.consts],
        "outputs": outputs,
        "weights": {"file": f"tfjs-weights-{hashlib.sha256(weights).hexdigest()[:16]}.bin",
                    "bytes": len(weights)},
        "tensors": tensors,
        "nodes": [n.to_json() for n in nodes],
        "unsupported": folder.unsupported,
    }
    return ExportedGraph(graph, weights)


def write_export(exported: ExportedGraph, graph_path: Path, weights_dir: Path) -> None:
    """Write the graph, and its weights unless an identical file (another shape) is there."""
    weights_path = weights_dir / exported.graph["weights"]["file"]
    if not weights_path.is_file():
        tmp = weights_path.with_suffix(".tmp")
        tmp.write_bytes(exported.weights)
        tmp.replace(weights_path)
    graph_path.write_text(json.dumps(exported.graph))
