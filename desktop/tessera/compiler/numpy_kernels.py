"""Numpy reference of every package op, on physical (NHWC where 4-D) arrays.

Slow and plain on purpose: each function is the definition the WebGPU kernels must match,
reading weights in exactly the packed layouts of weight_layouts.py. Every function keeps its
input's float dtype: the executor runs them in float64 so that, compared with onnxruntime's
float32, the difference measured is onnxruntime's own rounding (attribute constants are still
rounded to float32 first, as the ONNX ops define them).
"""

from __future__ import annotations

import math

import numpy as np

F32 = np.float32


def apply_activation(x: np.ndarray, fn: str, p: dict) -> np.ndarray:
    if fn == "relu":
        return np.maximum(x, F32(0))
    if fn == "clip":
        lo, hi = (None if p[b] is None else F32(p[b]) for b in ("min", "max"))
        return x if lo is None and hi is None else np.clip(x, lo, hi)
    if fn == "sigmoid":
        return F32(1) / (F32(1) + np.exp(-x))
    if fn == "tanh":
        return np.tanh(x)
    if fn == "scale":
        return x * F32(p["factor"])
    if fn == "hard_sigmoid":
        return np.clip(F32(p["alpha"]) * x + F32(p["beta"]), F32(0), F32(1))
    if fn == "hard_swish":
        return x * np.clip(x / F32(6) + F32(0.5), F32(0), F32(1))
    if fn == "silu":
        return x / (F32(1) + np.exp(-x))
    if fn == "leaky_relu":
        return np.where(x >= 0, x, x * F32(p["alpha"]))
    if fn == "sqrt":
        return np.sqrt(x)
    if fn == "reciprocal":
        # 1/0 = +inf, as IEEE and ONNX say; models rely on it (the int8 arbitrary-style
        # network's flat channels quantise variance + eps to 0, and fake_quant saturates inf)
        with np.errstate(divide="ignore"):
            return F32(1) / x
    if fn in SIMPLE_UNARY:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return SIMPLE_UNARY[fn](x)
    if fn == "elu":
        return np.where(x > 0, x, F32(p["alpha"]) * np.expm1(np.minimum(x, 0)))
    if fn == "celu":
        alpha = F32(p["alpha"])
        return np.maximum(x, 0) + np.minimum(0, alpha * np.expm1(np.minimum(x, 0) / alpha))
    if fn == "selu":
        return F32(p["gamma"]) * np.where(x > 0, x, F32(p["alpha"]) * np.expm1(np.minimum(x, 0)))
    if fn == "gelu":
        if p["approximate"] == "tanh":
            return F32(0.5) * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + F32(0.044715) * x ** 3)))
        return (F32(0.5) * x * (1 + _erf(x / np.sqrt(2)))).astype(x.dtype)
    if fn == "fake_quant":
        # x / scale rounded in float32, as QuantizeLinear computes it, so ties round alike
        q = np.clip(np.rint(x.astype(F32) / F32(p["scale"])) + p["zero_point"], p["qmin"], p["qmax"])
        return ((q - p["zero_point"]) * F32(p["scale"])).astype(x.dtype)
    raise ValueError(f"unknown activation {fn!r}")


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


SIMPLE_UNARY = {
    "exp": np.exp, "log": np.log, "neg": np.negative, "abs": np.abs, "sin": np.sin, "cos": np.cos,
    "erf": lambda x: _erf(x).astype(x.dtype),
    "softplus": _softplus, "softsign": lambda x: x / (1 + np.abs(x)),
    "mish": lambda x: x * np.tanh(_softplus(x)),
}


def epilogue(y: np.ndarray, activations: list[dict]) -> np.ndarray:
    for a in activations:
        y = apply_activation(y, a["fn"], a.get("params", {}))
    return y


def _strided(flat: np.ndarray, view: dict, dim) -> np.ndarray:
    """The strided view (compiler/strided.py) ``view`` of the buffer ``flat``."""
    shape = tuple(dim(d) for d in view["shape"])
    return np.lib.stride_tricks.as_strided(flat[dim(view["offset"]):], shape,
                                           tuple(dim(s) * flat.itemsize for s in view["strides"]))


def matmul(a, b, attrs: dict, out_shape: tuple, dim) -> np.ndarray:
    """Operands and output through their ``views`` where given (dim evaluates their sizes)."""
    views = attrs.get("views", {})
    a, b = (_strided(np.ascontiguousarray(t).reshape(-1), views[r], dim) if r in views else t
            for t, r in ((a, "a"), (b, "b")))
    return _written(epilogue(np.matmul(a, b), attrs.get("activations", [])), views.get("y"), out_shape, dim)


def attention(tensors: list, attrs: dict, out_shape: tuple, dim) -> np.ndarray:
    """softmax(Q·Kᵀ · scale [+ bias]) · V, then activations; Q, K ([..., keys, d]), V, the bias
    (a fourth tensor, broadcast) and the output through their views."""
    views = attrs["views"]
    q, k, v, *bias = (_strided(np.ascontiguousarray(t).reshape(-1), views[r], dim)
                      for t, r in zip(tensors, ("q", "k", "v", "bias")))
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * attrs["scale"] + (bias[0] if bias else 0.0)
    probabilities = softmax(scores, {"axes": [-1]})
    return _written(epilogue(np.matmul(probabilities, v), attrs["activations"]), views["y"], out_shape, dim)


def _written(y: np.ndarray, view: dict | None, out_shape: tuple, dim) -> np.ndarray:
    """``y`` as the output tensor it is written through ``view`` into. An element the view
    doesn't reach stays NaN, so a wrong view can't pass unseen."""
    if view is None:
        return y
    out = np.full(int(np.prod(out_shape)), np.nan, y.dtype)
    _strided(out, view, dim)[...] = y
    return out.reshape(out_shape)


def _taps(xp: np.ndarray, kernel, stride, dilation, out_hw=None) -> list[np.ndarray]:
    """xp [N, H, W, C] (already padded) -> one [N, OH, OW, C] strided view per kernel tap, in
    tap order ky*KW+kx (the weight layouts' row order). OH, OW: every window that fits, or
    out_hw."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh, ow = out_hw or ((xp.shape[1] - dh * (kh - 1) - 1) // sh + 1,
                        (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1)
    return [xp[:, ky * dh:ky * dh + (oh - 1) * sh + 1:sh, kx * dw:kx * dw + (ow - 1) * sw + 1:sw]
            for ky in range(kh) for kx in range(kw)]


def conv2d(x, weight, bias, a, co: int, residual=None, input_scale=None, input_affine=None):
    """co: the true output channel count (weights and bias are padded to a multiple of 4).
    im2col (the taps side by side, channels innermost) times the packed weight. input_scale
    [N, Cin] (a squeeze-excite gate) multiplies the input's channels first; input_affine
    (in_scale, in_shift) maps them through x · s + t and the input activations, before padding."""
    if input_scale is not None:
        x = x * input_scale[:, None, None, :]
    if input_affine is not None:
        c = x.shape[3]
        x = epilogue(x * input_affine[0][:c] + input_affine[1][:c], a["input_activations"])
    groups = a["groups"]
    t, l, b, r = a["pads"]
    taps = _taps(np.pad(x, [(0, 0), (t, b), (l, r), (0, 0)]), a["kernel"], a["stride"], a["dilation"])
    c = x.shape[3]
    if weight.ndim == 2 and groups > 1:  # depthwise: [KH*KW, C4]
        y = sum(tap * weight[i, :c] for i, tap in enumerate(taps))
    else:  # [G, KH*KW*Cin/G, Cout/G padded]; groups == 1 is the [KH*KW*Cin, Cout4] case
        per_group = weight.reshape((1,) + weight.shape) if weight.ndim == 2 else weight
        cig, cog = c // groups, co // groups
        parts = []
        for g in range(groups):
            cols = np.concatenate([tap[..., g * cig:(g + 1) * cig] for tap in taps], axis=-1)
            parts.append(cols @ per_group[g][:, :cog])
        y = np.concatenate(parts, axis=-1)
    y = y + bias[:co]
    if residual is not None:
        y = epilogue(y, a.get("pre_activations", [])) + residual
    return epilogue(y, a["activations"])


def conv_transpose2d(x, weight, bias, a, out_shape):
    (kh, kw), (sh, sw), (dh, dw) = a["kernel"], a["stride"], a["dilation"]
    n, h, w, ci = x.shape
    co = out_shape[3]
    t, l = a["pads"][0], a["pads"][1]
    full_h = max(sh * (h - 1) + dh * (kh - 1) + 1, t + out_shape[1])
    full_w = max(sw * (w - 1) + dw * (kw - 1) + 1, l + out_shape[2])
    full = np.zeros((n, full_h, full_w, co), x.dtype)
    taps = weight.reshape(kh, kw, ci, -1)[..., :co]
    for ky in range(kh):
        for kx in range(kw):
            oy, ox = ky * dh, kx * dw
            full[:, oy:oy + sh * (h - 1) + 1:sh, ox:ox + sw * (w - 1) + 1:sw] += x @ taps[ky, kx]
    y = full[:, t:t + out_shape[1], l:l + out_shape[2]] + bias[:co]
    return epilogue(y, a["activations"])


def gemm(x, weight, bias, a, out_shape, residual=None):
    """Rows of x times the weights, as out_shape: the output (and the residual, of its shape)
    may group the same rows differently from x."""
    y = (x @ weight[:, :out_shape[-1]] + bias[:out_shape[-1]]).reshape(out_shape)
    if residual is not None:
        y = y + residual
    return epilogue(y, a["activations"])


BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
          "max": np.maximum, "min": np.minimum, "prelu": lambda x, slope: np.where(x < 0, x * slope, x)}


def binary(a_in, b_in, a):
    return epilogue(BINARY[a["fn"]](a_in, b_in), a["activations"])


def pool(x, a, out_shape):
    (t, l, b, r), s, d = a["pads"], a["stride"], a["dilation"]
    spans = [dl * (k - 1) + 1 for k, dl in zip(a["kernel"], d)]
    need = [(o - 1) * st + sp for o, st, sp in zip(out_shape[1:3], s, spans)]
    extra = [max(0, nd - (x.shape[1 + i] + [t + b, l + r][i])) for i, nd in enumerate(need)]
    pad = [(0, 0), (t, b + extra[0]), (l, r + extra[1]), (0, 0)]
    out_hw = out_shape[1:3]
    if a["kind"] == "max":
        return np.maximum.reduce(_taps(np.pad(x, pad, constant_values=-np.inf), a["kernel"], s, d, out_hw))
    sums = sum(_taps(np.pad(x, pad), a["kernel"], s, d, out_hw))
    ones = np.pad(np.ones((1,) + x.shape[1:3] + (1,), F32), pad)
    if a["count_include_pad"]:  # padding counts, the ceil-mode overhang beyond it does not
        ones = np.pad(np.ones((1, x.shape[1] + t + b, x.shape[2] + l + r, 1), F32),
                      [(0, 0), (0, extra[0]), (0, extra[1]), (0, 0)])
    counts = sum(_taps(ones, a["kernel"], s, d, out_hw))
    return (sums / counts).astype(x.dtype)


def global_pool(x, a):
    return (x.mean if a["kind"] == "avg" else x.max)(axis=(1, 2), keepdims=True)


def pad(x, a):
    widths = list(zip(a["begin"], a["end"]))
    if a["mode"] == "constant":
        return np.pad(x, widths, constant_values=F32(a["value"]))
    return np.pad(x, widths, mode="reflect" if a["mode"] == "reflect" else "edge")


def _source_coords(out_len: int, in_len: int, scale: float, mode: str) -> np.ndarray:
    o = np.arange(out_len, dtype=np.float64)
    if mode == "asymmetric":
        return o / scale
    if mode == "align_corners":  # ONNX scales the unrounded output length in_len * scale
        return o * (in_len - 1) / (in_len * scale - 1) if out_len > 1 else np.zeros(out_len)
    if mode == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if out_len > 1 else np.zeros(out_len)
    if mode == "half_pixel_symmetric":
        adjust = out_len / (scale * in_len)
        return in_len / 2 * (1 - adjust) + (o + 0.5) / scale - 0.5
    return (o + 0.5) / scale - 0.5  # half_pixel


_ROUND = {"round_prefer_floor": lambda v: np.ceil(v - 0.5), "round_prefer_ceil": lambda v: np.floor(v + 0.5),
          "floor": np.floor, "ceil": np.ceil}


def resize(x, a, out_shape):
    y = x
    for axis, (out_len, scale) in zip((1, 2), zip(out_shape[1:3], a["scales"])):
        in_len = y.shape[axis]
        src = _source_coords(out_len, in_len, float(scale), a["coordinate_transformation_mode"])
        if a["mode"] == "nearest":
            idx = np.clip(_ROUND[a["nearest_mode"]](src), 0, in_len - 1).astype(np.int64)
            y = np.take(y, idx, axis=axis)
        elif a["mode"] == "cubic":
            y = _cubic_axis(y, axis, src, a["cubic_coeff_a"], a["exclude_outside"])
        else:
            src = np.clip(src, 0, in_len - 1)
            lo = np.floor(src).astype(np.int64)
            hi = np.minimum(lo + 1, in_len - 1)
            frac = (src - lo).astype(x.dtype)
            shape = [1] * y.ndim
            shape[axis] = out_len
            frac = frac.reshape(shape)
            y = np.take(y, lo, axis=axis) * (F32(1) - frac) + np.take(y, hi, axis=axis) * frac
    return y.astype(x.dtype)


def cubic_weights(t: np.ndarray, a: float) -> list[np.ndarray]:
    """Keys' cubic convolution weights of the taps at floor(s) − 1 … floor(s) + 2 for
    t = s − floor(s), as ONNX Resize defines them (``a``: cubic_coeff_a)."""
    def near(d):     # |d| ≤ 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):      # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _cubic_axis(y: np.ndarray, axis: int, src: np.ndarray, a: float, exclude_outside: bool) -> np.ndarray:
    """Bicubic along one axis: 4 taps, clamped to the edge (or, with exclude_outside, taps past
    it weighted 0 and the rest renormalised)."""
    in_len = y.shape[axis]
    base = np.floor(src)
    weights = np.stack(cubic_weights(src - base, a)).astype(np.float64)     # [4, out]
    taps = base.astype(np.int64)[None, :] + np.arange(-1, 3)[:, None]
    if exclude_outside:
        weights = np.where((taps >= 0) & (taps < in_len), weights, 0.0)
        weights /= weights.sum(axis=0, keepdims=True)
    shape = [1] * y.ndim
    shape[axis] = len(src)
    out = sum(np.take(y, np.clip(taps[i], 0, in_len - 1), axis=axis).astype(np.float64)
              * weights[i].reshape(shape) for i in range(4))
    return out.astype(y.dtype)


def _per_channel(p: np.ndarray, c: int) -> np.ndarray:
    """A scale or bias against [N, H, W, C]: [pad4(C)] weights or a [C] input per channel,
    an [N, C] input per image and channel."""
    return p[:c] if p.ndim == 1 else p[:, None, None, :c]


def layer_norm(x, scale, bias, a):
    """Over rows of ``length`` contiguous elements; scale, bias: c4 weights of that length."""
    n = a["length"]
    rows = x.reshape(-1, n)
    mean = rows.mean(axis=1, keepdims=True)
    var = ((rows - mean) ** 2).mean(axis=1, keepdims=True)
    y = (rows - mean) / np.sqrt(var + F32(a["epsilon"])) * scale[:n] + bias[:n]
    return y.reshape(x.shape)


def instance_norm(x, scale, bias, a):
    """scale, bias: the c4 weights, or the inputs named in ``affine_inputs``."""
    c = x.shape[3]
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(1, 2), keepdims=True)
    y = (x - mean) / np.sqrt(var + F32(a["epsilon"])) * _per_channel(scale, c) + _per_channel(bias, c)
    return epilogue(y, a["activations"])


def softmax(x, a):
    """softmax over ``axes``, or its log (LogSoftmax) when ``log``."""
    axes = tuple(a["axes"])
    shifted = x - x.max(axis=axes, keepdims=True)
    total = np.exp(shifted).sum(axis=axes, keepdims=True)
    return shifted - np.log(total) if a.get("log") else np.exp(shifted) / total


REDUCE = {"mean": np.mean, "sum": np.sum, "max": np.max, "min": np.min}


def reduce(x, a):
    return REDUCE[a["fn"]](x, axis=tuple(a["axes"]), keepdims=a["keepdims"])


def slice_(x, a, out_shape):
    index = tuple(slice(s, s + n * st if s + n * st >= 0 else None, st) if n else slice(0, 0)
                  for s, st, n in zip(a["starts"], a["steps"], out_shape))
    return x[index]


def squeeze_excite_gate(x, w: dict, a):
    """x [N, H, W, C] -> the gate [N, C]: act2(act1(mean_hw(x) @ Wr + br) @ We + be)."""
    c = x.shape[3]
    s = x.mean(axis=(1, 2))
    cr = a["squeeze_channels"]
    s = epilogue(s @ w["reduce_weight"][:, :cr] + w["reduce_bias"][:cr], a["reduce_activations"])
    return epilogue(s @ w["expand_weight"][:, :c] + w["expand_bias"][:c], a["expand_activations"])


def squeeze_excite(x, w: dict, a):
    return x * squeeze_excite_gate(x, w, a)[:, None, None, :]
