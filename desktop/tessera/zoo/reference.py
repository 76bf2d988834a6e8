"""The reference classification pipeline in plain Pillow + numpy, with onnxruntime as the oracle.

This pins down what a model's ``preprocess`` block in model.json means, so the WebGPU
preprocessing can be checked against it: apply the EXIF orientation, convert to RGB, resize
the shorter side to ``resize`` (bilinear), centre-crop ``crop`` x ``crop`` (torchvision's
rounding), then ``(x - mean) / std`` per channel with x in 0..255, as an NCHW float32 batch of 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps


class Prediction(NamedTuple):
    index: int
    label: str
    score: float  # softmax probability


def preprocess(image: Image.Image | str | Path, spec: dict) -> np.ndarray:
    """Image (or path) -> float32 array of shape (1, 3, crop, crop), per ``spec`` (model.json's
    ``preprocess``)."""
    img = image if isinstance(image, Image.Image) else Image.open(image)
    img = ImageOps.exif_transpose(img).convert("RGB")
    resize, crop = int(spec["resize"]), int(spec["crop"])
    w, h = img.size
    scale = resize / min(w, h)
    size = (resize, int(h * scale)) if w <= h else (int(w * scale), resize)
    img = img.resize(size, Image.BILINEAR)
    left = int(round((size[0] - crop) / 2.0))
    top = int(round((size[1] - crop) / 2.0))
    img = img.crop((left, top, left + crop, top + crop))
    x = np.asarray(img, np.float32)
    x = (x - np.asarray(spec["mean"], np.float32)) / np.asarray(spec["std"], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def top_k(logits: np.ndarray, labels: list[str], k: int = 5) -> list[Prediction]:
    """The k most probable classes of one logits vector (any shape with 1 row), best first."""
    z = np.asarray(logits, np.float64).reshape(-1)
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")[:k]
    return [Prediction(int(i), labels[i], float(p[i])) for i in order]


def run_onnx(model_path: str | Path, x: np.ndarray) -> np.ndarray:
    """Run a single-input, single-output ONNX model on CPU with onnxruntime."""
    import onnxruntime  # test/oracle dependency only, never needed by the app at run time

    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def classify(model_dir: str | Path, image: Image.Image | str | Path, k: int = 5) -> list[Prediction]:
    """Classify an image with a built model folder (model.json, model.onnx, labels.json)."""
    model_dir = Path(model_dir)
    meta = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    labels = json.loads((model_dir / meta["labels"]).read_text(encoding="utf-8"))
    logits = run_onnx(model_dir / meta["source"], preprocess(image, meta["preprocess"]))
    return top_k(logits, labels, k)
