"""Weight packing: ONNX weight tensors -> the layouts the WebGPU kernels read.

Every layout pads the innermost (output-channel) axis with zeros to a multiple of 4, so a
kernel can always read 4 output channels with one vec4 load. Names are written into each
weight slice of the manifest; docs/model-package.md defines them.
"""

from __future__ import annotations

import numpy as np


def pad4(n: int) -> int:
    return (n + 3) // 4 * 4


def _pad_last(a: np.ndarray) -> np.ndarray:
    extra = pad4(a.shape[-1]) - a.shape[-1]
    return np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, extra)]) if extra else a


def conv(w: np.ndarray) -> tuple[np.ndarray, str]:
    """[Cout, Cin, KH, KW] -> "khkwci_co4": [KH*KW*Cin, pad4(Cout)], row (ky*KW+kx)*Cin+ci."""
    co, ci, kh, kw = w.shape
    return _pad_last(w.transpose(2, 3, 1, 0).reshape(kh * kw * ci, co)), "khkwci_co4"


def depthwise(w: np.ndarray) -> tuple[np.ndarray, str]:
    """[C, 1, KH, KW] -> "khkw_c4": [KH*KW, pad4(C)]."""
    c, _, kh, kw = w.shape
    return _pad_last(w.reshape(c, kh * kw).T), "khkw_c4"


def grouped(w: np.ndarray, groups: int) -> tuple[np.ndarray, str]:
    """[Cout, Cin/G, KH, KW] -> "g_khkwci_co4": [G, KH*KW*Cin/G, pad4(Cout/G)]."""
    co, cig, kh, kw = w.shape
    per = w.reshape(groups, co // groups, cig, kh, kw).transpose(0, 3, 4, 2, 1)
    return _pad_last(per.reshape(groups, kh * kw * cig, co // groups)), "g_khkwci_co4"


def conv_transpose(w: np.ndarray) -> tuple[np.ndarray, str]:
    """[Cin, Cout, KH, KW] -> "khkwci_co4" (same indexing as conv): [KH*KW*Cin, pad4(Cout)]."""
    ci, co, kh, kw = w.shape
    return _pad_last(w.transpose(2, 3, 0, 1).reshape(kh * kw * ci, co)), "khkwci_co4"


def gemm(b: np.ndarray) -> tuple[np.ndarray, str]:
    """[K, N] -> "k_n4": [K, pad4(N)]."""
    return _pad_last(b), "k_n4"


def vector(v: np.ndarray) -> tuple[np.ndarray, str]:
    """[C] -> "c4": [pad4(C)] (biases, per-channel scales)."""
    return _pad_last(v.reshape(-1)), "c4"


def broadcast(a: np.ndarray) -> tuple[np.ndarray, str]:
    """A constant operand already in the other operand's physical order, numpy-broadcastable."""
    return a, "broadcast"
