"""The model package on disk: manifest.json, weight shards in fp32 and fp16, the source ONNX.

``write_package`` is deterministic: the same compiled graph and metadata give byte-identical
files. It writes into the target folder, which callers create fresh (see library.py for the
atomic install). ``read_package`` loads a package back for the numpy executor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tessera.compiler import weight_shards
from tessera.compiler.ir import Graph
from tessera.compiler.memory_plan import MemoryPlan

FORMAT = "tessera-model-package"
# 2: the squeeze_excite_gate op and conv2d's input_scale; a residual add only of the sum's shape.
# 4: matmul's views and activations, the scale activation (docs/model-package.md).
# 5: the attention op (docs/model-package.md).
# 6: conv2d's pre_activations (before its residual) and int8 marks (docs/model-package.md).
# 7: conv2d's input_affine (a pre-activation BatchNorm folded into its loads), sin and cos,
#    cubic resize (docs/model-package.md).
VERSION = 7
MANIFEST = "manifest.json"
LAYOUT_NAMES = {(0, 2, 3, 1): "NHWC", (0, 1, 2, 3): "NCHW"}


@dataclass
class PackageMeta:
    """What the graph doesn't say: how the app presents and feeds the model."""

    name: str
    title: str = ""
    task: str = "classify"                  # classify | stylize | other
    source: str = "source.onnx"             # the ONNX file kept for the wasm fallback
    labels: str | None = None               # file name of a JSON list of class names
    preprocess: dict | None = None          # see docs/model-package.md
    extra: dict = field(default_factory=dict)


def _io(graph: Graph, name: str) -> dict:
    v = graph.values[name]
    return {"name": name, "dtype": "float32", "shape": list(v.shape), "perm": list(v.perm),
            "layout": LAYOUT_NAMES.get(tuple(v.perm), "plain") if len(v.shape) == 4 else "plain",
            "physical_shape": list(v.physical_shape)}


# torchvision's convention, which most exported classifiers follow: RGB, ImageNet mean and std
# (0..255 units), the short side resized to 8/7 of the input size, then a centre crop.
IMAGENET = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]}
SYMBOLIC_INPUT_SIDE = 224     # the crop for a classifier whose H and W are free


def default_preprocess(shape: list) -> dict | None:
    """The preprocessing assumed for a classifier whose file says none (an imported ONNX file):
    for a square RGB image input, NCHW or NHWC, of a fixed side or free H and W; None for any
    other input (the model then takes tensors only)."""
    if len(shape) != 4 or 3 not in (shape[1], shape[3]):
        return None
    h, w = shape[2:] if shape[1] == 3 else shape[1:3]
    if isinstance(h, str) and isinstance(w, str):
        side = SYMBOLIC_INPUT_SIDE
    elif isinstance(h, int) and h == w:
        side = h
    else:
        return None
    return {"resize": side * 8 // 7, "crop": side, **IMAGENET}


def build_manifest(graph: Graph, plan: MemoryPlan, meta: PackageMeta, slices: dict) -> dict:
    symbols = sorted({s for n in graph.inputs for d in graph.values[n].shape
                      if isinstance(d, str) for s in [d]})
    preprocess = meta.preprocess
    if preprocess is None and meta.task == "classify":
        preprocess = default_preprocess(list(graph.values[graph.inputs[0]].shape))
    return {
        "format": FORMAT, "version": VERSION,
        "name": meta.name, "title": meta.title or meta.name, "task": meta.task,
        "source": meta.source, "labels": meta.labels, "preprocess": preprocess,
        **meta.extra,
        "symbols": symbols,
        "inputs": [_io(graph, n) for n in graph.inputs],
        "outputs": [_io(graph, n) for n in graph.outputs],
        "ops": [{"op": n.op, "name": n.name, "inputs": n.inputs, "outputs": n.outputs,
                 "attrs": n.attrs, "weights": n.weights} for n in graph.nodes],
        "tensors": {t: {"shape": list(graph.values[t].physical_shape), "buffer": plan.buffer_of[t]}
                    for t in plan.buffer_of},
        "memory": {"buffers": len(plan.buffers), "reference_bindings": plan.bindings,
                   "peak_activation_bytes": plan.peak_bytes,
                   "unplanned_activation_bytes": plan.naive_bytes},
        "weights": slices,
    }


def shard_weights(graph: Graph) -> tuple[dict, dict[str, list[bytes]]]:
    """-> (manifest "weights" section, {precision: shard bytes})."""
    used = [w for n in graph.nodes for w in n.weights.values()]
    arrays = {w: graph.constants[w] for w in dict.fromkeys(used)}
    files, slices = {}, {w: {"layout": graph.layouts[w], "shape": list(arrays[w].shape)} for w in arrays}
    shard_names = {}
    for precision in weight_shards.PRECISIONS:
        data, where = weight_shards.shard(arrays, precision)
        files[precision] = data
        shard_names[precision] = [f"weights-{precision}-{i:03d}.bin" for i in range(len(data))]
        for w, loc in where.items():
            slices[w][precision] = loc
    return {"shards": shard_names, "slices": slices}, files


def write_package(folder: Path, manifest: dict, shard_files: dict[str, list[bytes]],
                  source_bytes: bytes, labels: list[str] | None) -> None:
    folder = Path(folder)
    for precision, names in manifest["weights"]["shards"].items():
        for name, data in zip(names, shard_files[precision]):
            (folder / name).write_bytes(data)
    (folder / manifest["source"]).write_bytes(source_bytes)
    if labels is not None:
        (folder / manifest["labels"]).write_text(json.dumps(labels, indent=0) + "\n", encoding="utf-8")
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def read_package(folder: Path, precision: str = "fp32") -> tuple[dict, dict[str, np.ndarray]]:
    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    w = manifest["weights"]
    shards = [(folder / name).read_bytes() for name in w["shards"][precision]]
    where = {name: s[precision] for name, s in w["slices"].items()}
    shapes = {name: s["shape"] for name, s in w["slices"].items()}
    return manifest, weight_shards.unshard(shards, where, shapes, precision)
