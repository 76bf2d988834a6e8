"""ONNX conformance: every ONNX backend node test of an op the compiler claims, compiled to a
package and run by the numpy executor. Each case must either match the test's expected
outputs or be rejected at compile time with a CompileError naming the node and the op;
never a wrong answer, never a crash. The per-op table is printed (and kept in
docs/model-package.md).

Which cases there are and how each is compiled (opset 21, operands frozen to initializers
when the compiler rejects them as run-time tensors): tests/onnx_conformance.py.
"""

from __future__ import annotations

import pytest

from tessera.compiler.numpy_executor import run
from tessera.compiler.package import read_package
from tests.onnx_conformance import Case, check_outputs, claimed_cases, compile_case, summary

PASSED, REJECTED = "passed", "rejected"


def run_case(case: Case, folder) -> tuple[str, str]:
    """-> (PASSED or REJECTED, detail). Raises AssertionError on a wrong answer or a
    rejection that doesn't name the offending node; anything else raised is a crash."""
    compiled = compile_case(case, folder)
    if isinstance(compiled, str):
        return REJECTED, compiled
    manifest, weights = read_package(compiled.package)
    results = run(manifest, weights, compiled.feeds)
    check_outputs(case, [results[o["name"]] for o in manifest["outputs"]])
    return PASSED, ""


def test_claimed_ops_pass_or_are_rejected_clearly(tmp_path):
    results, failures = {}, []
    for case in claimed_cases():
        try:
            outcome, _ = run_case(case, tmp_path / case.name)
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0][:300])
            continue
        except Exception as exc:  # a crash: what the compiler must never do
            failures.append(f"{case.name}: crash: {type(exc).__name__}: {exc}"[:300])
            continue
        results[case.name] = (case, outcome)
    print("\n" + summary(results, (PASSED, REJECTED)))
    assert not failures, f"{len(failures)} cases failed:\n" + "\n".join(failures)


@pytest.mark.parametrize("case_name, words", [
    ("test_maxpool_2d_uint8", ["only FLOAT inputs"]),
    ("test_resize_downsample_scales_cubic_antialias", ["node", "Resize", "antialias=1 is not supported"]),
])
def test_a_rejection_names_the_node_op_and_what_is_unsupported(case_name, words, tmp_path):
    case = next(c for c in claimed_cases() if c.name == case_name)
    outcome, detail = run_case(case, tmp_path)
    assert outcome == REJECTED
    for word in words:
        assert word in detail, detail
