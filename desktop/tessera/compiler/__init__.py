"""ONNX -> Tessera model package: validate, fold, fuse, lay out, plan memory, pack weights.

``compile_model`` is the whole pipeline; docs/model-package.md documents what it writes.
"""

from tessera.compiler.pipeline import CompiledModel, compile_model, compile_to_folder

__all__ = ["CompiledModel", "compile_model", "compile_to_folder"]
