"""The compiler's oracle: executes a model package (manifest + fp32 or fp16 weights) with
numpy, op by op, exactly as docs/model-package.md defines the ops.

Feeds and results are in logical (ONNX) order; inside, every tensor is in its physical
layout, as on the GPU. Feeds are rounded to float32 (what the engine is given), the weights
are the stored fp32 or fp16 values, and the arithmetic runs in float64 (COMPUTE): the oracle
adds no rounding of its own, so its distance to onnxruntime is onnxruntime's float32 error
(plus, for fp16 packages, the weights' rounding). Results come back as float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tessera.compiler import dims
from tessera.compiler import numpy_kernels as k
from tessera.compiler.package import read_package

COMPUTE = np.float64


def bind_symbols(manifest: dict, feeds: dict[str, np.ndarray]) -> dict[str, int]:
    bindings: dict[str, int] = {}
    for spec in manifest["inputs"]:
        shape = np.shape(feeds[spec["name"]])
        if len(shape) != len(spec["shape"]):
            raise ValueError(f"input {spec['name']} has rank {len(shape)}, expected {len(spec['shape'])}")
        for d, actual in zip(spec["shape"], shape):
            if isinstance(d, str) and d.isidentifier():
                if bindings.setdefault(d, actual) != actual:
                    raise ValueError(f"{d} is bound to both {bindings[d]} and {actual}")
            elif dims.evaluate(d, bindings) != actual:
                raise ValueError(f"input {spec['name']} has shape {shape}, expected {spec['shape']}")
    return bindings


def _run_op(op: dict, args: list[np.ndarray], w: dict[str, np.ndarray], out_shape: tuple,
            bindings: dict[str, int]):
    a, kind = op["attrs"], op["op"]
    if kind == "conv2d":
        return k.conv2d(args[0], w["weight"], w["bias"], a, out_shape[3], args[1] if a["residual"] else None,
                        args[-1] if a.get("input_scale") else None,
                        (w["in_scale"], w["in_shift"]) if a.get("input_affine") else None)
    if kind == "conv_transpose2d":
        return k.conv_transpose2d(args[0], w["weight"], w["bias"], a, out_shape)
    if kind == "gemm":
        return k.gemm(args[0], w["weight"], w["bias"], a, out_shape, *args[1:])
    if kind == "matmul":
        return k.matmul(args[0], args[1], a, out_shape, lambda d: dims.evaluate(d, bindings))
    if kind == "attention":
        return k.attention(args, a, out_shape, lambda d: dims.evaluate(d, bindings))
    if kind == "expand":
        return np.broadcast_to(args[0], out_shape).copy()
    if kind == "constant":
        return w["value"].reshape(out_shape)
    if kind == "unary":
        return k.apply_activation(args[0], a["fn"], a["params"])
    if kind == "binary":
        operands = list(args)
        if a["constant_operand"] is not None:
            operands.insert(a["constant_operand"], w["operand"])
        return k.binary(operands[0], operands[1], a)
    if kind == "pool":
        return k.pool(args[0], a, out_shape)
    if kind == "global_pool":
        return k.global_pool(args[0], a)
    if kind == "pad":
        return k.pad(args[0], a)
    if kind == "resize":
        return k.resize(args[0], a, out_shape)
    if kind == "layer_norm":
        return k.layer_norm(args[0], w["scale"], w["bias"], a)
    if kind == "instance_norm":
        given = {**w, **dict(zip(a.get("affine_inputs", []), args[1:]))}
        return k.instance_norm(args[0], given["scale"], given["bias"], a)
    if kind == "softmax":
        return k.softmax(args[0], a)
    if kind == "reduce":
        return k.reduce(args[0], a)
    if kind == "concat":
        return np.concatenate(args, axis=a["axis"])
    if kind == "reshape":
        return args[0].reshape(out_shape)
    if kind == "transpose":
        return np.ascontiguousarray(args[0].transpose(a["perm"]))
    if kind == "slice":
        return k.slice_(args[0], a, out_shape)
    if kind == "squeeze_excite":
        return k.squeeze_excite(args[0], w, a)
    if kind == "squeeze_excite_gate":
        return k.squeeze_excite_gate(args[0], w, a)
    raise ValueError(f"unknown package op {kind!r}")


def run_ops(manifest: dict, weights: dict[str, np.ndarray], feeds: dict[str, np.ndarray],
            given: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Every op's output (physical, COMPUTE dtype). An op reads a tensor from ``given``
    (physical arrays) where it is there, else what the op producing it computed: given a
    reference's intermediate tensors, each op is checked on its own, from the same inputs."""
    bindings = bind_symbols(manifest, feeds)
    given = {name: np.asarray(a, COMPUTE) for name, a in (given or {}).items()}
    env = {}
    for spec in manifest["inputs"]:
        env[spec["name"]] = np.ascontiguousarray(
            np.asarray(feeds[spec["name"]], np.float32).astype(COMPUTE).transpose(spec["perm"]))
    tensors = manifest["tensors"]
    for op in manifest["ops"]:
        args = [given[i] if i in given else env[i] for i in op["inputs"]]
        w = {role: weights[name].astype(COMPUTE) for role, name in op["weights"].items()}
        out = op["outputs"][0]
        shape = tuple(dims.evaluate(d, bindings) for d in tensors[out]["shape"])
        result = _run_op(op, args, w, shape, bindings)
        if result.shape != shape:
            raise AssertionError(f"{op['op']} {op['name']} produced {result.shape}, manifest says {shape}")
        env[out] = result
    return env


def run(manifest: dict, weights: dict[str, np.ndarray], feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    env = run_ops(manifest, weights, feeds)
    return {spec["name"]: env[spec["name"]].transpose(np.argsort(spec["perm"])).astype(np.float32)
            for spec in manifest["outputs"]}


def run_package(folder: Path, feeds: dict[str, np.ndarray], precision: str = "fp32") -> dict[str, np.ndarray]:
    manifest, weights = read_package(folder, precision)
    return run(manifest, weights, feeds)
