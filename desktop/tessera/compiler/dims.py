"""Tensor dimensions that may be symbolic: an int, or an integer expression over named symbols.

An expression is a string in a tiny grammar that both Python and the engine evaluate: integer
literals, symbol names (identifiers), ``+``, ``-``, ``*``, ``//`` (floor division) and
parentheses. Example: a stride-2 "valid" 3x3 conv over height ``H`` gives ``(H-3)//2+1``.
"""

from __future__ import annotations

import ast
import math
import re

Dim = int | str
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def symbol_name(raw: str) -> str:
    """A dim_param as a symbol of the expression grammar (non-word characters become ``_``)."""
    name = re.sub(r"\W", "_", raw)
    return name if _IDENT.fullmatch(name) else f"d_{name}"


def _wrap(d: Dim) -> str:
    return str(d) if isinstance(d, int) or _IDENT.fullmatch(d) else f"({d})"


def _split_offset(d: str) -> tuple[str, int]:
    """'X+3' -> ('X', 3) when the trailing constant is a top-level term; else (d, 0)."""
    m = re.search(r"([+-])(\d+)$", d)
    if m and d[:m.start()].count("(") == d[:m.start()].count(")") and m.start() > 0:
        return d[:m.start()], int(m[2]) * (1 if m[1] == "+" else -1)
    return d, 0


def add(d: Dim, c: int) -> Dim:
    """d + c, with constant offsets merged so equal sizes get equal expressions."""
    if isinstance(d, int):
        return d + c
    base, off = _split_offset(d)
    off += c
    return base if off == 0 else f"{base}{'+' if off > 0 else '-'}{abs(off)}"


def plus(a: Dim, b: Dim) -> Dim:
    """a + b for any two dims (add is the common case of a number)."""
    if isinstance(b, int):
        return add(a, b)
    if isinstance(a, int):
        return add(b, a)
    return f"{_wrap(a)}+{_wrap(b)}"


def mul(d: Dim, c: int) -> Dim:
    if isinstance(d, int):
        return d * c
    try:                              # one spelling per product: 64*N, however it was reached
        static, syms = factor(d)
        return product([static * c, *syms])
    except ValueError:
        return d if c == 1 else f"{_wrap(d)}*{c}"


def floordiv(d: Dim, c: int) -> Dim:
    if isinstance(d, int):
        return d // c
    try:                              # (k*c*X) // c == k*X
        static, syms = factor(d)
        if c and static % c == 0:
            return product([static // c, *syms])
    except ValueError:
        pass
    base, off = _split_offset(d)
    if off and off % c == 0:  # (X + k*c) // c == X // c + k
        return add(floordiv(base, c), off // c)
    return d if c == 1 else f"{_wrap(d)}//{c}"


def ceildiv(d: Dim, c: int) -> Dim:
    if isinstance(d, int):
        return -(-d // c)
    return d if c == 1 else f"({_wrap(d)}+{c - 1})//{c}"


def sliding_out(d: Dim, span: int, pad_total: int, stride: int, ceil: bool = False) -> Dim:
    """Output length of a window of ``span`` taps sliding with ``stride`` over ``d + pad_total``."""
    inner = add(d, pad_total - span)
    return add((ceildiv if ceil else floordiv)(inner, stride), 1)


def scaled(d: Dim, num: int, den: int) -> Dim:
    """floor(d * num / den)."""
    return floordiv(mul(d, num), den)


def product(dims) -> Dim:
    """One spelling per product: the number first, then its symbols sorted (21*(2*N) is 42*N)."""
    static, symbolic = 1, []
    for d in dims:
        try:
            k, syms = factor(d)
            static, symbolic = static * k, symbolic + list(syms)
        except ValueError:
            symbolic.append(_wrap(d))
    symbolic.sort()
    if not symbolic:
        return static
    if static == 0:
        return 0
    return "*".join(([str(static)] if static != 1 else []) + symbolic)


def factor(d: Dim) -> tuple[int, tuple[str, ...]]:
    """(static factor, sorted symbolic factors) of a plain product; raises ValueError otherwise."""
    if isinstance(d, int):
        return d, ()
    static, syms = 1, []
    for part in d.split("*"):
        if part.isdigit():
            static *= int(part)
        elif _IDENT.fullmatch(part):
            syms.append(part)
        else:
            raise ValueError(f"{d!r} is not a product of symbols")
    return static, tuple(sorted(syms))


def quotient(total: Dim, known: Dim) -> Dim:
    """total / known for products of symbols (Reshape's -1); ValueError when it is not exact."""
    (ts, tsym), (ks, ksym) = factor(total), factor(known)
    rest = list(tsym)
    for s in ksym:
        if s not in rest:
            raise ValueError(f"{total} is not divisible by {known}")
        rest.remove(s)
    if ks == 0 or ts % ks:
        raise ValueError(f"{total} is not divisible by {known}")
    return product([ts // ks, *rest])


def reshaped(shape, target, allowzero: bool = False) -> tuple[Dim, ...]:
    """ONNX Reshape's output shape for ``target``: a 0 copies the input's size there (unless
    allowzero), one -1 takes what is left; ValueError when the -1 can't be worked out."""
    out = [shape[i] if d == 0 and not allowzero else d for i, d in enumerate(target)]
    if out.count(-1) > 1:
        raise ValueError("more than one -1")
    if -1 in out:
        out[out.index(-1)] = quotient(product(shape), product([d for d in out if d != -1]))
    return tuple(out)


def symbols(d: Dim) -> set[str]:
    return set() if isinstance(d, int) else set(_IDENT.findall(d))


_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load, ast.Add,
            ast.Sub, ast.Mult, ast.FloorDiv, ast.USub)


def evaluate(d: Dim, bindings: dict[str, int]) -> int:
    if isinstance(d, int):
        return d
    tree = ast.parse(d, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ValueError(f"not a dimension expression: {d!r}")
    missing = symbols(d) - set(bindings)
    if missing:
        raise ValueError(f"no value bound for {', '.join(sorted(missing))} in {d!r}")
    return int(eval(compile(tree, "<dim>", "eval"), {"__builtins__": {}}, dict(bindings)))
