"""Einsum as the batched matrix product it usually is in vision models (MaxViT's attention:
``BGHID,BGHJD->BGHIJ`` and ``BGHIJ,BGHJD->BGHID``), rewritten on the ONNX-level graph into
Transpose → MatMul → Transpose, which the matmul's views then read in place
(passes/matmul_views.py). Two operands, each letter once per term, no ellipsis, one summed
letter and exactly one kept letter of each operand's own; any other equation is left to the
lowering, which refuses it saying so.
"""

from __future__ import annotations

from tessera.compiler.ir import Graph, Node, Value


def _plan(equation: str) -> tuple[list[int], list[int], list[int]] | None:
    """(perm of a to [batch, i, k], perm of b to [batch, k, j], perm of [batch, i, j] to the
    output) for a batched matrix product; None otherwise."""
    terms = equation.replace(" ", "").split("->")
    if len(terms) != 2 or "." in equation:
        return None
    ins, out = terms[0].split(","), terms[1]
    if len(ins) != 2 or any(len(set(t)) != len(t) for t in (*ins, out)):
        return None
    a, b = ins
    batch = [c for c in out if c in a and c in b]
    summed = [c for c in a if c in b and c not in out]
    own_a = [c for c in a if c not in b]
    own_b = [c for c in b if c not in a]
    if (len(summed) != 1 or len(own_a) != 1 or len(own_b) != 1 or set(out) != set(batch + own_a + own_b)
            or set(a) != set(batch + summed + own_a) or set(b) != set(batch + summed + own_b)):
        return None
    product = batch + own_a + own_b
    return ([a.index(c) for c in batch + own_a + summed], [b.index(c) for c in batch + summed + own_b],
            [product.index(c) for c in out])


def rewrite_einsum(graph: Graph) -> Graph:
    nodes, values = [], dict(graph.values)

    def transposed(name: str, perm: list[int], tag: str) -> str:
        if perm == sorted(perm):
            return name
        out = f"{tag}:{name}"
        values[out] = Value(out, tuple(values[name].shape[p] for p in perm))
        nodes.append(Node("Transpose", [name], [out], {"perm": perm}, out))
        return out

    for node in graph.nodes:
        plan = _plan(node.attrs.get("equation", "")) if node.op == "Einsum" and len(node.inputs) == 2 else None
        if plan is None or any(i not in values for i in node.inputs):
            nodes.append(node)
            continue
        pa, pb, po = plan
        a = transposed(node.inputs[0], pa, f"{node.name}:a")
        b = transposed(node.inputs[1], pb, f"{node.name}:b")
        sa, sb = values[a].shape, values[b].shape
        product = f"{node.name}:product" if po != sorted(po) else node.outputs[0]
        values[product] = Value(product, tuple(sa[:-1]) + (sb[-1],))
        nodes.append(Node("MatMul", [a, b], [product], {}, node.name))
        if product != node.outputs[0]:
            nodes.append(Node("Transpose", [product], list(node.outputs), {"perm": po}, f"{node.name}:out"))
    return graph.replace(nodes=nodes, values=values)
