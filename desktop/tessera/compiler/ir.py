"""The compiler's intermediate representation: a graph of nodes over named values.

The same dataclasses carry the graph at both levels: right after import the nodes are ONNX
ops (NCHW semantics, ONNX attributes); after lowering they are package ops (see
docs/model-package.md) over tensors with a physical layout. Constants (weights, folded
tensors) live in ``Graph.constants`` and are referred to by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tessera.compiler.dims import Dim


@dataclass
class Value:
    """An activation tensor. ``shape`` is logical (ONNX order); the buffer holds
    ``logical.transpose(perm)``, so perm (0, 2, 3, 1) on an NCHW tensor means NHWC memory."""

    name: str
    shape: tuple[Dim, ...]
    perm: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.perm is None:
            self.perm = tuple(range(len(self.shape)))

    @property
    def physical_shape(self) -> tuple[Dim, ...]:
        return tuple(self.shape[p] for p in self.perm)


@dataclass
class Node:
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = field(default_factory=dict)
    name: str = ""
    weights: dict[str, str] = field(default_factory=dict)  # role -> constant name


@dataclass
class Graph:
    name: str
    nodes: list[Node]
    inputs: list[str]
    outputs: list[str]
    values: dict[str, Value] = field(default_factory=dict)
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    opset: int = 17
    layouts: dict[str, str] = field(default_factory=dict)  # constant name -> weight layout

    def producers(self) -> dict[str, Node]:
        return {out: n for n in self.nodes for out in n.outputs}

    def consumers(self) -> dict[str, list[Node]]:
        users: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                users.setdefault(i, []).append(n)
        return users

    def replace(self, **changes) -> "Graph":
        """A copy with some fields replaced (passes return new graphs, never mutate)."""
        fields = dict(name=self.name, nodes=self.nodes, inputs=self.inputs, outputs=self.outputs,
                      values=self.values, constants=self.constants, opset=self.opset,
                      layouts=self.layouts)
        fields.update(changes)
        return Graph(**fields)
