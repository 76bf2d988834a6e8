"""The compile pipeline, pass by pass, from an ONNX file to the package's parts in memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx

from tessera.compiler import dims
from tessera.compiler.errors import CompileError, Problem
from tessera.compiler.importer import import_graph
from tessera.compiler.ir import Graph
from tessera.compiler.load import read_model, validate
from tessera.compiler.memory_plan import MemoryPlan, plan_memory
from tessera.compiler.package import PackageMeta, build_manifest, shard_weights, write_package
from tessera.compiler.passes.attention import fuse_attention
from tessera.compiler.passes.concat_chain import chain_concats
from tessera.compiler.passes.dead_nodes import remove_dead_nodes
from tessera.compiler.passes.einsum import rewrite_einsum
from tessera.compiler.passes.fold_batchnorm import fold_batchnorm
from tessera.compiler.passes.fold_constants import fold_constants
from tessera.compiler.passes.fold_qdq import fold_qdq
from tessera.compiler.passes.fold_scale import fold_channel_scale, fuse_scalar_scale, hoist_operand_scales
from tessera.compiler.passes.fuse_activation_patterns import fuse_activation_patterns
from tessera.compiler.passes.fuse import fuse_activations, fuse_bias_add, fuse_residual_add
from tessera.compiler.passes.fuse_instance_norm import fuse_instance_norm
from tessera.compiler.passes.fuse_se import fuse_squeeze_excite
from tessera.compiler.passes.fuse_weighted_sum import fuse_weighted_sum
from tessera.compiler.passes.global_pool import reduce_to_global_pool
from tessera.compiler.passes.int8_convs import mark_int8_convs
from tessera.compiler.passes.lower import lower
from tessera.compiler.passes.matmul_views import fold_matmul_views
from tessera.compiler.passes.preactivation import fold_preactivation
from tessera.errors import TesseraError

# Symbols are bound to these only to report the memory plan; the engine binds the real sizes.
REFERENCE_BATCH, REFERENCE_SIZE = 1, 224


@dataclass
class CompiledModel:
    graph: Graph
    plan: MemoryPlan
    manifest: dict
    shards: dict[str, list[bytes]]
    source: bytes


def reference_bindings(graph: Graph) -> dict[str, int]:
    out = {}
    for name in graph.inputs:
        for axis, d in enumerate(graph.values[name].shape):
            for s in dims.symbols(d):
                out.setdefault(s, REFERENCE_BATCH if axis == 0 else REFERENCE_SIZE)
    return out


def compile_graph(model: onnx.ModelProto, label: str) -> Graph:
    graph = rewrite_einsum(import_graph(validate(model, label), label))
    graph = fold_constants(graph)
    graph, problems = fold_qdq(graph)
    graph = fuse_activation_patterns(fold_batchnorm(fold_constants(graph)))
    lowered, more = lower(graph)
    if problems + more:
        raise CompileError(label, problems + more)
    graph = reduce_to_global_pool(fuse_instance_norm(fuse_weighted_sum(chain_concats(lowered))))
    graph = fuse_residual_add(fold_channel_scale(fuse_bias_add(graph)))
    graph = hoist_operand_scales(fuse_scalar_scale(fuse_activations(graph)))
    graph = remove_dead_nodes(fuse_attention(fold_matmul_views(fuse_squeeze_excite(graph))))
    graph = fold_preactivation(mark_int8_convs(graph))
    _refuse_unknown_sizes(graph, label)
    return graph


def _refuse_unknown_sizes(graph: Graph, label: str) -> None:
    """A size ONNX's shape inference named ``unk__…`` that folding could not work out would only
    fail later, at load, as a symbol nothing binds: say so now, naming the ops."""
    unknown = [Problem("the size of its output could not be worked out (ONNX's shape inference "
                       "left it unknown); export the model with a fixed input size", n.name, n.op)
               for n in graph.nodes for o in n.outputs
               if any(s.startswith("unk__") for d in graph.values[o].shape for s in dims.symbols(d))]
    if unknown:
        raise CompileError(label, unknown[:5])


def compile_model(path: Path, meta: PackageMeta, bindings: dict[str, int] | None = None) -> CompiledModel:
    path = Path(path)
    model, source = read_model(path)
    try:
        graph, notes = compile_graph(model, path.name), []
    except CompileError as free_batch_error:
        graph, notes = _compile_at_batch_one(model, path.name, free_batch_error)
    plan = plan_memory(graph, {**reference_bindings(graph), **(bindings or {})})
    slices, shards = shard_weights(graph)
    manifest = build_manifest(graph, plan, meta, slices)
    if notes:
        manifest["notes"] = notes
    return CompiledModel(graph, plan, manifest, shards, source)


def _compile_at_batch_one(model: onnx.ModelProto, label: str, error: CompileError) -> tuple[Graph, list[str]]:
    """Exporters sometimes build tables from the input's whole shape, batch included (EdgeNeXt's
    position embedding is a CumSum of ones shaped like the input), which can't fold while the
    batch is free. Bound to one image, the same graph often compiles; it then runs one image per
    call. ``error`` (the free batch's) is raised when that doesn't help either."""
    fixed = _with_batch_one(model)
    if fixed is None:
        raise error
    try:
        graph = compile_graph(fixed, label)
    except CompileError:
        raise error from None
    return graph, [f"compiled for one image per call: with a free batch size, {error.problems[0]}"]


def _with_batch_one(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """A copy of ``model`` whose inputs' free first axes are 1 (and its outputs' of the same
    name), without the exporter's intermediate shapes; None when no input has a free batch."""
    constant = {t.name for t in model.graph.initializer}

    def free_first_axis(vi):
        first = vi.type.tensor_type.shape.dim[:1]
        return first[0] if vi.name not in constant and first and not first[0].HasField("dim_value") else None

    free = {axis.dim_param for axis in map(free_first_axis, model.graph.input) if axis is not None}
    if not free:
        return None
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    del fixed.graph.value_info[:]
    for axis in map(free_first_axis, [*fixed.graph.input, *fixed.graph.output]):
        if axis is not None and axis.dim_param in free:
            axis.dim_value = 1
    return fixed


def compile_to_folder(path: Path, folder: Path, meta: PackageMeta, labels: list[str] | None = None,
                      bindings: dict[str, int] | None = None) -> CompiledModel:
    compiled = compile_model(path, meta, bindings)
    if labels is not None:
        _refuse_mismatched_labels(compiled.graph, labels, Path(path).name)
    write_package(folder, compiled.manifest, compiled.shards, compiled.source, labels)
    return compiled


def _refuse_mismatched_labels(graph: Graph, labels: list[str], label: str) -> None:
    """A labels list must name each class of the first output's last axis (what top-k ranks),
    or every result would be shown under another class's name."""
    classes = graph.values[graph.outputs[0]].shape[-1]
    if isinstance(classes, int) and classes != len(labels):
        raise TesseraError(f"The labels file lists {len(labels)} names but {label}'s output has "
                           f"{classes} classes: give one name per class, in the model's order.")
