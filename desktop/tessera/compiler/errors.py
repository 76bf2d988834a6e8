"""Compiler errors: one message that lists every problem found, never a partial package."""

from __future__ import annotations

from dataclasses import dataclass

from tessera.errors import TesseraError


@dataclass(frozen=True)
class Problem:
    """One offending node (or the file itself when node is empty)."""

    what: str
    node: str = ""
    op_type: str = ""
    opset: int | None = None

    def __str__(self) -> str:
        if not self.node and not self.op_type:
            return self.what
        where = f"node {self.node!r}" if self.node else "a node"
        if self.op_type:
            where += f" ({self.op_type}"
            where += f", opset {self.opset})" if self.opset is not None else ")"
        return f"{where}: {self.what}"


class CompileError(TesseraError):
    """The model cannot be compiled; ``problems`` lists every reason, the message all of them."""

    def __init__(self, model: str, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        count = len(self.problems)
        super().__init__(f"cannot compile {model}: {count} problem{'s' * (count != 1)}:\n{lines}")
