"""The ONNX backend node tests of the ops the compiler claims, and how each is compiled to a
package: shared by the compiler's conformance test (numpy executor) and the engine's (WebGPU).

ONNX generates every node test at its newest opset (22 and up here); from 22 on, the ops the
compiler claims changed only their type lists (bfloat16, float8, int4, ...), so a case is
compiled at opset 21, the newest the compiler accepts. A case that relies on something newer
(an attribute added later) is then rejected by shape inference, with the node named.

The node tests feed every operand as a graph input. Real models hold weights, shapes, axes
and pads as initializers, which the compiler requires for some of them; so a case the
compiler rejects as given is compiled once more with every input after the first frozen
to its test value, and its outcome is that second compile's.
"""

from __future__ import annotations

import collections
import functools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from tessera.compiler.errors import CompileError
from tessera.compiler.package import PackageMeta
from tessera.compiler.pipeline import compile_to_folder
from tessera.compiler.support import LOWERED, MAX_OPSET

RTOL, ATOL = 1e-4, 1e-5


@dataclass
class Case:
    name: str
    ops: set[str]          # the claimed ops its graph uses
    model: onnx.ModelProto
    inputs: list[np.ndarray]
    outputs: list[np.ndarray]


@dataclass
class Compiled:
    """A case the compiler accepted: its package folder and the feeds it takes by name (the
    first input only, when the others were frozen)."""
    package: Path
    feeds: dict[str, np.ndarray]


@functools.cache
def claimed_cases() -> list[Case]:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generators' own overflow warnings
        found = collect_testcases(None)
    cases = []
    for tc in found:
        ops = {n.op_type for n in tc.model.graph.node} & LOWERED
        if ops:
            for i, (inputs, outputs) in enumerate(tc.data_sets):
                cases.append(Case(tc.name + (f"[{i}]" if i else ""), ops, _at_supported_opset(tc.model),
                                  list(inputs), list(outputs)))
    return cases


def _at_supported_opset(model: onnx.ModelProto) -> onnx.ModelProto:
    restamped = onnx.ModelProto()
    restamped.CopyFrom(model)
    for o in restamped.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = min(o.version, MAX_OPSET)
    return restamped


def _frozen(model: onnx.ModelProto, inputs: list) -> onnx.ModelProto | None:
    """The model with every graph input after the first turned into an initializer; None
    when one of them is not a tensor (sequence tests)."""
    frozen = onnx.ModelProto()
    frozen.CopyFrom(model)
    names = [vi.name for vi in model.graph.input]
    for name, value in zip(names[1:], inputs[1:]):
        if isinstance(value, onnx.TensorProto):  # the dtypes numpy lacks (float8, int4, ...)
            tensor = onnx.TensorProto()
            tensor.CopyFrom(value)
            tensor.name = name
        elif isinstance(value, (np.ndarray, np.generic)):
            tensor = numpy_helper.from_array(np.asarray(value), name)
        else:
            return None
        frozen.graph.initializer.append(tensor)
    del frozen.graph.input[1:]
    return frozen


def _compile(model: onnx.ModelProto, folder: Path) -> Path:
    folder.mkdir(parents=True)
    source = folder / "model.onnx"
    onnx.save(model, source)
    package = folder / "package"
    package.mkdir()
    compile_to_folder(source, package, PackageMeta(folder.parent.name))
    return package


def can_freeze(case: Case) -> bool:
    return len(case.model.graph.input) > 1 and _frozen(case.model, case.inputs) is not None


def compile_case(case: Case, folder: Path, frozen: bool = False) -> Compiled | str:
    """The case's package, or the compiler's rejection (str) after the frozen-inputs retry;
    `frozen`: only the frozen form. Raises AssertionError on a rejection that doesn't name the
    offending node; anything else raised is a crash."""
    names = [vi.name for vi in case.model.graph.input]
    attempts = [(case.model, dict(zip(names, case.inputs))),
                (_frozen(case.model, case.inputs), dict(zip(names[:1], case.inputs)))]
    for i, (model, feeds) in enumerate(attempts):
        if i and not can_freeze(case):  # nothing to freeze
            break
        if frozen and not i:
            continue
        try:
            return Compiled(_compile(model, folder / f"try{i}"), feeds)
        except CompileError as exc:
            assert exc.problems, exc
            named = [p for p in exc.problems if p.node or "input" in p.what or "output" in p.what
                     or "opset" in p.what]
            assert named, f"{case.name}: the rejection names no node: {exc}"
            rejection = str(exc)
    return rejection


def check_outputs(case: Case, got: list[np.ndarray]) -> None:
    """AssertionError unless `got` are the case's expected outputs (shape, rtol/atol)."""
    for want, have in zip(case.outputs, got):
        want = np.asarray(want)
        assert have.shape == want.shape, f"{case.name}: shape {have.shape}, expected {want.shape}"
        np.testing.assert_allclose(have, want.astype(np.float32), rtol=RTOL, atol=ATOL,
                                   err_msg=f"{case.name}: wrong answer")


def summary(results: dict[str, tuple[Case, str]], outcomes: tuple[str, str]) -> str:
    """Markdown: per claimed op, its own single-node cases; then the cases whose graphs hold
    several nodes (other ops' expansions into claimed ones), then all."""
    by_op: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for case, outcome in results.values():
        single = len(case.model.graph.node) == 1
        by_op[next(iter(case.ops)) if single else "(multi-node graphs)"][outcome] += 1
        by_op["(all)"][outcome] += 1
    good, bad = outcomes
    rows = [f"| op | cases | {good} | {bad} |", "|---|---|---|---|"]
    for op in sorted(by_op, key=lambda k: (k.startswith("("), k)):
        c = by_op[op]
        rows.append(f"| {op} | {c[good] + c[bad]} | {c[good]} | {c[bad]} |")
    return "\n".join(rows)
