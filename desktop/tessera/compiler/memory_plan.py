"""Static memory plan: activation tensors share GPU buffers by liveness.

A ``reshape`` op is a view: its output lives in its input's storage. Every other op's output
gets a buffer that no live tensor holds, preferring the free buffer whose size fits best at
the reference bindings (the engine sizes each buffer at load as the largest of its tensors
under the real bindings). Graph inputs and outputs get buffers of their own. A 1×1 conv's input
stays live until the depthwise conv reading the 1×1 conv's output has run: the engine may
compute the two in one dispatch (webapp/src/engine/kernels/expand_depthwise.ts), which reads the
first's input while writing the second's output, so those may not share a buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

from tessera.compiler import dims
from tessera.compiler.ir import Graph, Node

VIEW_OPS = {"reshape"}


@dataclass(frozen=True)
class MemoryPlan:
    buffer_of: dict[str, int]        # tensor -> buffer id
    buffers: list[list[str]]         # buffer id -> tensors stored in it
    peak_bytes: int                  # sum of buffer sizes at the reference bindings
    naive_bytes: int                 # one buffer per tensor, for comparison
    bindings: dict[str, int]


def tensor_bytes(graph: Graph, name: str, bindings: dict[str, int]) -> int:
    size = 4
    for d in graph.values[name].shape:
        size *= dims.evaluate(d, bindings)
    return size


def _expansions_before_depthwise(graph: Graph) -> list[tuple[int, Node]]:
    """(index of the depthwise conv, the 1×1 conv whose output it reads) for every such pair."""
    producers = graph.producers()
    layout = lambda node: graph.layouts.get(node.weights.get("weight", ""))  # noqa: E731
    pairs = []
    for i, node in enumerate(graph.nodes):
        if node.op != "conv2d" or layout(node) != "khkw_c4":
            continue
        source = producers.get(node.inputs[0])
        if (source is not None and source.op == "conv2d" and layout(source) == "khkwci_co4"
                and list(source.attrs["kernel"]) == [1, 1] and list(source.attrs["stride"]) == [1, 1]
                and not any(source.attrs["pads"])):
            pairs.append((i, source))
    return pairs


def plan_memory(graph: Graph, bindings: dict[str, int]) -> MemoryPlan:
    storage = {n: n for n in graph.inputs}           # tensor -> the tensor owning its storage
    for node in graph.nodes:
        for out in node.outputs:
            storage[out] = storage[node.inputs[0]] if node.op in VIEW_OPS else out
    last_use: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        for name in node.inputs:
            last_use[storage[name]] = i
    for i, expansion in _expansions_before_depthwise(graph):
        last_use[storage[expansion.inputs[0]]] = max(last_use[storage[expansion.inputs[0]]], i)
    pinned = {storage[n] for n in graph.inputs + graph.outputs}
    size = {s: 0 for s in set(storage.values())}
    for t, s in storage.items():
        size[s] = max(size[s], tensor_bytes(graph, t, bindings))
    buffers: list[list[str]] = []
    capacity: list[int] = []
    free: list[int] = []
    home: dict[str, int] = {}

    def place(owner: str, reuse: bool) -> None:
        need = size[owner]
        fits = [b for b in free if capacity[b] >= need] if reuse else []
        if fits:
            b = min(fits, key=lambda k: (capacity[k], k))
        elif reuse and free:
            b = max(free, key=lambda k: (capacity[k], -k))
        else:
            buffers.append([])
            capacity.append(0)
            b = len(buffers) - 1
        if b in free:
            free.remove(b)
        capacity[b] = max(capacity[b], need)
        home[owner] = b

    for name in graph.inputs:
        place(name, reuse=False)
    for i, node in enumerate(graph.nodes):
        for out in node.outputs:
            if storage[out] == out:
                place(out, reuse=out not in pinned)
        for owner in {storage[n] for n in node.inputs} | {storage[o] for o in node.outputs}:
            if last_use.get(owner, -1) <= i and owner not in pinned and home[owner] not in free:
                free.append(home[owner])
    buffer_of = {t: home[s] for t, s in storage.items()}
    for t, b in buffer_of.items():
        buffers[b].append(t)
    naive = sum(tensor_bytes(graph, t, bindings) for t, s in storage.items() if s == t)
    return MemoryPlan(buffer_of, buffers, sum(capacity), naive, dict(bindings))
