"""Per-case files the bench page fetches: inputs, the expected output, and the tfjs graph.

Inputs are drawn with a fixed numpy seed (classifiers: standard normal; fast-style: uniform
0..255; multistyle26: uniform 0..1 with style 0 one-hot), and the expected output is what
onnxruntime (CPU) computes from the same ONNX file on the same input, so every runtime in the
browser is checked against one oracle. All arrays are raw little-endian float32, NCHW.

A reference is only as good as its dependence on the input: case.json also records how far
onnxruntime's output moves on a second input (``input_sensitivity``, relative L2; null when the
reference is all zeros), so the report can say when the gate could not tell a runtime that
ignores its input from a correct one (random weights that saturate or zero a network do that).
It also records how far the output moves when the image moves by about 2 ulp
(``rounding_sensitivity``): a network that amplifies float32 rounding that much (random weights
can make one chaotic) fails any runtime whose summation order differs, correct or not.

Layout under the artifacts folder (cached; rebuilt when the model, onnxruntime or this code
changes):

    <model>/<shape>/case.json        what the page needs: input and output shapes and files
    <model>/<shape>/input-<i>.bin    one file per model input
    <model>/<shape>/expected.bin
    <model>/<shape>/tfjs-graph.json  see tfjs_export
    <model>/tfjs-weights-<hash>.bin  shared by the shapes whose folded weights are identical
    <model>/package/                 the Tessera model package (see packages.py)
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tessera.bench import packages, tfjs_export
from tessera.bench.cases import BenchCase

FORMAT = 3
# The relative change of the image for rounding_sensitivity: 2^-22, 2 ulp of a float32 in [1, 2).
NUDGE = 2.0 ** -22
SEED = 20240613
STYLE_INDEX = 0
# The image input's range where it is not a normalised classifier input (standard normal).
INPUT_RANGES = {"fast-style": (0.0, 255.0), "multistyle26": (0.0, 1.0)}


@dataclass(frozen=True)
class PreparedCase:
    case: BenchCase
    folder: Path           # <artifacts>/<model>/<shape>
    url: str               # the same folder as the page sees it, ending in "/"
    meta: dict             # case.json
    package_url: str       # the model's Tessera package folder as the page sees it


def _input_arrays(case: BenchCase, inputs, seed: int = SEED) -> dict[str, np.ndarray]:
    """Seeded inputs: the first is the image at the case's shape, others are style weights."""
    rng = np.random.default_rng(seed)
    image, *extra = inputs
    lo_hi = INPUT_RANGES.get(case.model.name)
    arrays = {image.name: (rng.uniform(*lo_hi, case.shape) if lo_hi
                           else rng.standard_normal(case.shape)).astype(np.float32)}
    for vi in extra:
        if any(not isinstance(d, int) for d in vi.shape):
            raise ValueError(f"{case.model.name}: extra input {vi.name} has no static shape")
        one_hot = np.zeros(vi.shape, np.float32)
        one_hot.reshape(-1)[STYLE_INDEX] = 1.0
        arrays[vi.name] = one_hot
    return arrays


def input_sensitivity(expected: np.ndarray, other: np.ndarray) -> float | None:
    """||other - expected|| / ||expected||: how far the reference moves with its input; None for
    an all-zero reference, which no relative measure can use."""
    norm = float(np.linalg.norm(expected.astype(np.float64)))
    if norm == 0.0:
        return None
    return float(np.linalg.norm(other.astype(np.float64) - expected)) / norm


class ArtifactBuilder:
    """Prepares cases into one folder; keeps one CPU session per model while it does."""

    def __init__(self, root: Path, url_prefix: str):
        self.root = root
        self.url_prefix = url_prefix
        self._sessions: dict[str, object] = {}

    def _session(self, case: BenchCase):
        import onnxruntime as ort

        name = case.model.name
        if name not in self._sessions:
            self._sessions[name] = ort.InferenceSession(
                str(case.model.onnx_path), providers=["CPUExecutionProvider"])
        return self._sessions[name]

    def _stamp(self, case: BenchCase) -> str:
        import onnxruntime as ort

        digest = hashlib.sha256(case.model.onnx_path.read_bytes())
        for source in (Path(__file__), Path(tfjs_export.__file__)):
            digest.update(source.read_bytes())
        return f"{FORMAT} seed {SEED} onnxruntime {ort.__version__} numpy {np.__version__} " \
               f"{digest.hexdigest()[:16]}"

    def prepare(self, case: BenchCase) -> PreparedCase:
        folder = self.root / case.model.name / case.shape_id
        url = f"{self.url_prefix}{case.model.name}/{case.shape_id}/"
        stamp = self._stamp(case)
        packages.ensure_package(case.model, self.root)
        package_url = f"{self.url_prefix}{case.model.name}/package/"
        meta_path = folder / "case.json"
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text())
            if meta.get("stamp") == stamp:
                return PreparedCase(case, folder, url, meta, package_url)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        session = self._session(case)
        arrays = _input_arrays(case, session.get_inputs())
        expected = session.run(None, arrays)[0].astype(np.float32)
        other = session.run(None, _input_arrays(case, session.get_inputs(), SEED + 1))[0]
        image = next(iter(arrays))
        nudged = session.run(None, {**arrays, image: arrays[image] * np.float32(1 + NUDGE)})[0]
        inputs = []
        for i, (name, array) in enumerate(arrays.items()):
            (folder / f"input-{i}.bin").write_bytes(array.tobytes())
            inputs.append({"name": name, "shape": list(array.shape), "file": f"input-{i}.bin"})
        (folder / "expected.bin").write_bytes(expected.tobytes())
        import onnx

        exported = tfjs_export.export_graph(onnx.load(case.model.onnx_path),
                                            {k: v.shape for k, v in arrays.items()})
        tfjs_export.write_export(exported, folder / "tfjs-graph.json", folder.parent)
        meta = {"stamp": stamp, "model": case.model.name, "shape": list(case.shape),
                "inputs": inputs, "expected": {"shape": list(expected.shape), "file": "expected.bin"},
                "input_sensitivity": input_sensitivity(expected, other),
                "rounding_sensitivity": input_sensitivity(expected, nudged),
                "tfjs_graph": "tfjs-graph.json", "tfjs_weights": f"../{exported.graph['weights']['file']}"}
        meta_path.write_text(json.dumps(meta, indent=1))   # last: its presence marks completion
        return PreparedCase(case, folder, url, meta, package_url)
