"""ONNX conformance of the WebGPU engine: every ONNX backend node test of an op the compiler
claims that the compiler accepts (tests/onnx_conformance.py: the same cases, compiled the same
way as tests/test_compiler_conformance.py) is loaded by the engine with fp32 weights and run
on the test's inputs, all in one browser page, every buffer poisoned (NaN) first. Each case
must either give every expected output (rtol 1e-4, atol 1e-5) or be refused at load with an
UnsupportedOpError whose sentence names the op (or the output) the engine can't take; never a
wrong answer, a crash or an uncaught WebGPU error. A case the compiler accepted with its
operands as run-time inputs that the engine refuses is tried once more with every input after
the first frozen, as real models hold Gemm's and MatMul's weights (what the engine's gemm
takes). The per-op table is printed (and kept in
docs/engine.md). Cases the compiler rejects are its own test's business and are not counted.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.engine_harness import PACKAGES_MOUNT
from tests.onnx_conformance import (Case, Compiled, can_freeze, check_outputs, claimed_cases, compile_case,
                                    summary)

PASSED, REFUSED = "passed", "refused"


def run_on_engine(page, case: Case, compiled: Compiled) -> tuple[str, str]:
    """-> (PASSED or REFUSED, detail). AssertionError on a wrong answer or an unclear refusal;
    anything else raised (a load or run failing otherwise) is a crash."""
    manifest = json.loads((compiled.package / "manifest.json").read_text())
    url = f"{PACKAGES_MOUNT}/{compiled.package.relative_to(page.packages_dir).as_posix()}/"
    loaded = page.page.evaluate("([u, p]) => tesseraEngine.loadOrRefusal(u, p)", [url, "fp32"])
    if "refused" in loaded:
        message = loaded["refused"]
        named = {op["op"] for op in manifest["ops"]} | {"output", "input"}
        assert any(re.search(rf"\b{re.escape(w)}s?\b", message) for w in named), \
            f"{case.name}: the refusal names no op, input or output: {message}"
        return REFUSED, message
    first, *others = manifest["inputs"]
    try:
        outs = page.run_all(loaded["id"], np.asarray(compiled.feeds[first["name"]]),
                            {o["name"]: compiled.feeds[o["name"]] for o in others})
    finally:
        page.dispose(loaded["id"])
    assert len(outs) == len(case.outputs), f"{case.name}: {len(outs)} outputs, expected {len(case.outputs)}"
    wants = [np.asarray(w) for w in case.outputs]
    for out, want in zip(outs, wants):
        assert out.size == want.size, f"{case.name}: {out.size} values, expected {want.size}"
    check_outputs(case, [out.reshape(want.shape) for out, want in zip(outs, wants)])
    return PASSED, ""


def test_claimed_ops_pass_on_the_engine_or_are_refused_at_load(page):
    results, failures = {}, []
    for case in claimed_cases():
        folder = page.packages_dir / re.sub(r"[^\w.-]", "_", case.name)
        compiled = compile_case(case, folder)
        if not isinstance(compiled, Compiled):
            continue
        try:
            outcome, _ = run_on_engine(page, case, compiled)
            # Operands real models hold as weights (Gemm's B, MatMul's, Concat's others) are
            # what the engine's kernels expect as weights: a refusal is retried frozen.
            if outcome == REFUSED and "try0" in compiled.package.parts and can_freeze(case):
                frozen = compile_case(case, folder / "frozen", frozen=True)
                if isinstance(frozen, Compiled):
                    outcome, _ = run_on_engine(page, case, frozen)
            results[case.name] = (case, outcome)
        except AssertionError as exc:
            failures.append(" ".join(str(exc).split())[:300])
        except Exception as exc:  # a crash: what the engine must never do
            failures.append(f"{case.name}: crash: {type(exc).__name__}: {str(exc).splitlines()[0]}"[:300])
    print("\n" + summary(results, (PASSED, REFUSED)))
    assert not failures, f"{len(failures)} cases failed:\n" + "\n".join(failures)
