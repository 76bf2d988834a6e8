"""Free views in lowered graphs. A package ``reshape`` is a view of the same bytes, so the
tensor a fused kernel should read can be found up a chain of them, or made by one more view."""

from __future__ import annotations

from tessera.compiler.ir import Node, Value
from tessera.compiler.passes.layout import plain


def view_as(values: dict[str, Value], producers: dict[str, Node], name: str,
            shape: tuple) -> tuple[str, Node | None]:
    """A tensor holding ``name``'s bytes with physical shape ``shape``: ``name`` or a tensor up
    its chain of reshape views when one has that shape, else a new view, which is added to
    ``values`` and returned for the caller to place before its first user."""
    shape = tuple(shape)
    current = name
    while True:
        if values[current].physical_shape == shape:
            return current, None
        producer = producers.get(current)
        if producer is None or producer.op != "reshape":
            break
        current = producer.inputs[0]
    out = f"{name}:as{'x'.join(map(str, shape))}"
    if out in values:  # made for an earlier user, already placed before it
        return out, None
    values[out] = Value(out, shape, plain(len(shape)))
    return out, Node("reshape", [name], [out], {"shape": list(shape)}, out)
