"""Strided views: a tensor's elements as (offset + Σ index·stride) into another tensor's buffer.

A chain of package ``slice``, ``transpose`` and ``reshape`` ops only rearranges elements, so a
kernel that reads (or writes) through strides can take the chain's source tensor instead of
its result, and the chain's copies disappear (passes/matmul_views.py). Strides and offsets are
plain ints: a view is only made where no symbol sits behind an axis that has more than one
element (the batch axis leads, so a free batch stays possible).
"""

from __future__ import annotations

from dataclasses import dataclass

from tessera.compiler.dims import Dim


@dataclass(frozen=True)
class View:
    shape: tuple[Dim, ...]
    strides: tuple[int, ...]
    offset: int = 0

    def to_json(self) -> dict:
        return {"shape": list(self.shape), "strides": list(self.strides), "offset": self.offset}


def contiguous(shape: tuple[Dim, ...]) -> View | None:
    """Row-major over ``shape``; None where a symbolic size would enter a stride."""
    strides: list[int | None] = []
    step: int | None = 1
    for d in reversed(shape):
        strides.append(step if d != 1 else 0)
        if d != 1 and step is not None:
            step = step * d if isinstance(d, int) else None
    if None in strides:
        return None
    return View(tuple(shape), tuple(reversed(strides)))


def transpose(v: View, perm) -> View:
    """Output axis i = input axis perm[i]."""
    return View(tuple(v.shape[p] for p in perm), tuple(v.strides[p] for p in perm), v.offset)


def slice_(v: View, starts, steps, out_shape) -> View | None:
    """Elements starts[i] + j·steps[i] along each axis, out_shape[i] of them."""
    if any(not isinstance(s, int) for s in starts) or any(s <= 0 for s in steps):
        return None
    offset = v.offset + sum(start * stride for start, stride in zip(starts, v.strides))
    return View(tuple(out_shape), tuple(stride * step for stride, step in zip(v.strides, steps)), offset)


def reshape(v: View, shape) -> View | None:
    """The same elements in row-major order under ``shape``, where that is still a strided
    view: axes of size 1 come and go freely, equal sizes map one to one, and runs of int sizes
    regroup where the old run is contiguous in memory. None otherwise."""
    old = [(d, s) for d, s in zip(v.shape, v.strides) if d != 1]
    new = [(i, d) for i, d in enumerate(shape) if d != 1]
    strides = [0] * len(shape)
    i = j = 0
    while i < len(old) and j < len(new):
        if old[i][0] == new[j][1]:
            strides[new[j][0]] = old[i][1]
            i, j = i + 1, j + 1
            continue
        if not isinstance(old[i][0], int) or not isinstance(new[j][1], int):
            return None
        # Grow both runs until their sizes agree.
        i_end, j_end, a, b = i + 1, j + 1, old[i][0], new[j][1]
        while a != b:
            if a < b and i_end < len(old) and isinstance(old[i_end][0], int):
                a, i_end = a * old[i_end][0], i_end + 1
            elif b < a and j_end < len(new) and isinstance(new[j_end][1], int):
                b, j_end = b * new[j_end][1], j_end + 1
            else:
                return None
        run = old[i:i_end]
        if any(run[k][1] != run[k + 1][1] * run[k + 1][0] for k in range(len(run) - 1)):
            return None
        step = run[-1][1]
        for axis, d in reversed(new[j:j_end]):
            strides[axis] = step
            step *= d
        i, j = i_end, j_end
    if i != len(old) or j != len(new):
        return None
    return View(tuple(shape), tuple(strides), v.offset)
