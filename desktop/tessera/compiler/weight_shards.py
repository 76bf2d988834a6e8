"""Weight shards: every weight slice packed into files of at most 16 MB, once in fp32 and once
in fp16. A slice never spans two shards and starts at a 256-byte boundary (WebGPU's
minStorageBufferOffsetAlignment), so the engine can bind it with an offset. A slice larger than
the limit (a wide fully-connected layer) gets a shard of its own: the engine binds each shard as
one buffer, and refuses a model whose shard is over the GPU's per-buffer limit."""

from __future__ import annotations

import numpy as np

SHARD_LIMIT = 16 * 1024 * 1024
ALIGN = 256
PRECISIONS = {"fp32": np.float32, "fp16": np.float16}
FP16_MAX = float(np.finfo(np.float16).max)


def as_precision(array: np.ndarray, precision: str) -> np.ndarray:
    if precision == "fp16":
        array = np.clip(array, -FP16_MAX, FP16_MAX)
    return np.ascontiguousarray(array, dtype=PRECISIONS[precision]).reshape(-1)


def shard(arrays: dict[str, np.ndarray], precision: str, limit: int = SHARD_LIMIT):
    """-> (list of shard bytes, {name: {"shard", "offset", "bytes"}})."""
    shards: list[bytearray] = []
    where = {}
    for name, array in arrays.items():
        data = as_precision(array, precision).tobytes()
        if not shards or len(shards[-1]) + (-len(shards[-1]) % ALIGN) + len(data) > limit:
            shards.append(bytearray())
        current = shards[-1]
        current.extend(b"\0" * (-len(current) % ALIGN))
        where[name] = {"shard": len(shards) - 1, "offset": len(current), "bytes": len(data)}
        current.extend(data)
    return [bytes(s) for s in shards], where


def unshard(shards: list[bytes], where: dict, shapes: dict[str, list[int]], precision: str):
    """The inverse: {name: float32 array of its packed shape}."""
    dtype = PRECISIONS[precision]
    out = {}
    for name, loc in where.items():
        raw = shards[loc["shard"]][loc["offset"]:loc["offset"] + loc["bytes"]]
        out[name] = np.frombuffer(raw, dtype).astype(np.float32).reshape(shapes[name])
    return out
