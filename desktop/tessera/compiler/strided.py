"""Strided views: a tensor's elements as (offset + Σ index·stride) into another tensor's buffer.

A chain of package ``slice``, ``transpose`` and ``reshape`` ops only rearranges elements, so a
kernel that reads (or writes) through strides can take the chain's source tensor instead of
its result, and the chain's copies disappear (passes/matmul_views.py). Strides and offsets are
dims (dims.py): a free batch behind another axis (torch's sequence-first attention, [T, N, E])
gives strides such as ``96*N``, which the engine binds at load like any size.
"""

from __future__ import annotations

from dataclasses import dataclass

from tessera.compiler import dims
from tessera.compiler.dims import Dim


@dataclass(frozen=True)
class View:
    shape: tuple[Dim, ...]
    strides: tuple[Dim, ...]
    offset: Dim = 0

    def to_json(self) -> dict:
        return {"shape": list(self.shape), "strides": list(self.strides), "offset": self.offset}


def contiguous(shape: tuple[Dim, ...]) -> View:
    """Row-major over ``shape``."""
    strides: list[Dim] = []
    step: Dim = 1
    for d in reversed(shape):
        strides.append(step if d != 1 else 0)
        step = dims.product([step, d])
    return View(tuple(shape), tuple(reversed(strides)))


def transpose(v: View, perm) -> View:
    """Output axis i = input axis perm[i]."""
    return View(tuple(v.shape[p] for p in perm), tuple(v.strides[p] for p in perm), v.offset)


def slice_(v: View, starts, steps, out_shape) -> View | None:
    """Elements starts[i] + j·steps[i] along each axis, out_shape[i] of them."""
    if any(not isinstance(s, int) for s in starts) or any(s <= 0 for s in steps):
        return None
    offset = v.offset
    for start, stride in zip(starts, v.strides):
        offset = dims.plus(offset, dims.mul(stride, start)) if start else offset
    return View(tuple(out_shape), tuple(dims.mul(stride, step) for stride, step in zip(v.strides, steps)), offset)


def reshape(v: View, shape) -> View | None:
    """The same elements in row-major order under ``shape``, where that is still a strided
    view: axes of size 1 come and go freely, equal sizes map one to one, and runs of sizes with
    equal products (N·32 as 2N·16) regroup where the old run is contiguous in memory. None
    otherwise."""
    old = [(d, s) for d, s in zip(v.shape, v.strides) if d != 1]
    new = [(i, d) for i, d in enumerate(shape) if d != 1]
    strides: list[Dim] = [0] * len(shape)
    i = j = 0
    while i < len(old) and j < len(new):
        if old[i][0] == new[j][1]:
            strides[new[j][0]] = old[i][1]
            i, j = i + 1, j + 1
            continue
        found = _matching_runs(old, new, i, j)
        if found is None:
            return None
        i_end, j_end = found
        run = old[i:i_end]
        if any(run[k][1] != dims.product([run[k + 1][1], run[k + 1][0]]) for k in range(len(run) - 1)):
            return None
        step = run[-1][1]
        for axis, d in reversed(new[j:j_end]):
            strides[axis] = step
            step = dims.product([step, d])
        i, j = i_end, j_end
    if i != len(old) or j != len(new):
        return None
    return View(tuple(shape), tuple(strides), v.offset)


def _matching_runs(old: list, new: list, i: int, j: int) -> tuple[int, int] | None:
    """The shortest runs old[i:a], new[j:b] (sizes at [0], [1]) with equal products."""
    for length in range(2, len(old) - i + len(new) - j + 1):
        for a in range(i + 1, min(len(old), i + length - 1) + 1):
            b = j + length - (a - i)
            if j < b <= len(new) and dims.product([d for d, _ in old[i:a]]) == dims.product([d for _, d in new[j:b]]):
                return a, b
    return None
