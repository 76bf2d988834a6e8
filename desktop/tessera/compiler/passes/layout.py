"""Physical layouts of activation tensors, as permutations of the logical (ONNX) axes.

A value with perm p holds ``logical.transpose(p)``. 4-D image tensors live in NHWC
(perm (0, 2, 3, 1)) so that channels are innermost and vec4 loads run along them; other
tensors are plain (identity perm) unless a free relabelling (Transpose) made them otherwise.
"""

from __future__ import annotations

NHWC = (0, 2, 3, 1)


def plain(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def inverse(perm) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def same_memory(shape, perm_a, perm_b) -> bool:
    """True when the two layouts put the elements in the same memory order (they differ only
    in where size-1 axes sit), so converting is a free reinterpretation."""
    order = lambda perm: [a for a in perm if shape[a] != 1]  # noqa: E731
    return order(perm_a) == order(perm_b)


def physical_axis(perm, logical_axis: int) -> int:
    return list(perm).index(logical_axis)


def relabelled(perm_in, transpose_perm) -> tuple[int, ...]:
    """The perm of Transpose(x, transpose_perm)'s output that keeps x's memory untouched."""
    inv = inverse(transpose_perm)
    return tuple(inv[q] for q in perm_in)
