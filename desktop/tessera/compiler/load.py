"""Read an ONNX file and check, before any work, everything that can be checked up front:
a readable protobuf, external data present, opset in range, every op supported, float32
activations, and named or fixed input dims. Every problem is collected; any problem stops
the compile with one CompileError listing them all.
"""

from __future__ import annotations

import re
from pathlib import Path

import onnx
import onnx.version_converter
from onnx import TensorProto

from tessera.compiler.errors import CompileError, Problem
from tessera.compiler.support import MAX_OPSET, MIN_OPSET, SUPPORTED

ONNX_DOMAINS = ("", "ai.onnx")
# The newest ONNX IR version the wasm fallback's onnxruntime-web (webapp/package.json, 1.30)
# reads. A newer file (onnx ≥ 1.20 writes 14 by default even for a plain float model) is kept
# for it restamped at this version: the IR versions since changed nothing a float32 image
# model of opsets 11-21 uses, and onnxruntime-web would otherwise refuse the whole file.
WASM_MAX_IR_VERSION = 13


def read_model(path: Path) -> tuple[onnx.ModelProto, bytes]:
    """The model with its external data loaded, and a self-contained copy of the file's bytes
    (for the wasm fallback) at an IR version onnxruntime-web reads; CompileError if the file
    can't be read."""
    path = Path(path)
    label = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CompileError(label, [Problem(f"cannot read the file ({exc.strerror})")]) from None
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise CompileError(label, [Problem(f"not a valid ONNX file ({type(exc).__name__})")]) from None
    if not model.graph.node and not model.graph.output:
        raise CompileError(label, [Problem("not a valid ONNX file (it holds no graph)")])
    missing = sorted({_location(t) for t in _external_tensors(model)
                      if not (path.parent / _location(t)).is_file()})
    if missing:
        raise CompileError(label, [Problem(f"external data file {m!r} is missing (expected beside "
                                           f"{label})") for m in missing])
    restamp = model.ir_version > WASM_MAX_IR_VERSION
    if any(True for _ in _external_tensors(model)):
        onnx.external_data_helper.load_external_data_for_model(model, str(path.parent))
        restamp = True
    if restamp:
        kept = onnx.ModelProto()
        kept.CopyFrom(model)
        kept.ir_version = min(kept.ir_version, WASM_MAX_IR_VERSION)
        data = kept.SerializeToString()
    return model, data


def _external_tensors(model: onnx.ModelProto):
    for t in model.graph.initializer:
        if t.data_location == TensorProto.EXTERNAL:
            yield t


def _location(t: TensorProto) -> str:
    return next((e.value for e in t.external_data if e.key == "location"), "?")


def opset_of(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ONNX_DOMAINS), 0)


def validate(model: onnx.ModelProto, label: str) -> onnx.ModelProto:
    """The model after ONNX shape inference; CompileError listing every problem found."""
    problems: list[Problem] = []
    model, problem = _at_supported_opset(model)
    if problem:
        problems.append(problem)
    opset = opset_of(model)
    for node in model.graph.node:
        name = node.name or (node.output[0] if node.output else "")
        if node.domain not in ONNX_DOMAINS:
            problems.append(Problem(f"op domain {node.domain!r} is not supported", name,
                                    f"{node.domain}.{node.op_type}", opset))
        elif node.op_type not in SUPPORTED:
            problems.append(Problem("unsupported op", name, node.op_type, opset))
    constant = {t.name for t in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in constant:
            continue
        tt = vi.type.tensor_type
        if tt.elem_type != TensorProto.FLOAT:
            problems.append(Problem(f"input {vi.name!r} has element type "
                                    f"{TensorProto.DataType.Name(tt.elem_type)}; only FLOAT "
                                    "inputs are supported"))
        if not tt.HasField("shape"):
            problems.append(Problem(f"input {vi.name!r} has no declared shape"))
        for i, d in enumerate(tt.shape.dim):
            if not d.HasField("dim_value") and not d.dim_param:
                problems.append(Problem(f"input {vi.name!r} dimension {i} is dynamic without a "
                                        "name, so it can't be bound at load; give it a name or a size"))
    for vi in model.graph.output:
        if vi.type.tensor_type.elem_type not in (TensorProto.FLOAT, TensorProto.UNDEFINED):
            problems.append(Problem(f"output {vi.name!r} has element type "
                                    f"{TensorProto.DataType.Name(vi.type.tensor_type.elem_type)}; "
                                    "only FLOAT outputs are supported"))
    if problems:
        raise CompileError(label, problems)
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as exc:
        raise CompileError(label, [_inference_problem(str(exc), model, opset)]) from None


def _at_supported_opset(model: onnx.ModelProto) -> tuple[onnx.ModelProto, Problem | None]:
    """The model at an opset the compiler reads: as it is, or converted by ONNX's version
    converter to the nearest one (opset 7-10 models of the older model zoos come up to 11, with
    Upsample becoming Resize and so on; a newer export comes down to 21 where its ops allow)."""
    opset = opset_of(model)
    if MIN_OPSET <= opset <= MAX_OPSET:
        return model, None
    target = MIN_OPSET if opset < MIN_OPSET else MAX_OPSET
    try:
        return onnx.version_converter.convert_version(model, target), None
    except Exception as exc:  # the converter raises bare RuntimeErrors/ValueErrors naming the op
        reason = " ".join(str(exc).split()).rsplit("failed: ", 1)[-1][:200] or type(exc).__name__
        return model, Problem(f"the model uses ONNX opset {opset}; supported are opsets {MIN_OPSET} "
                              f"to {MAX_OPSET}, and converting it to {target} failed ({reason}); "
                              "re-export it with one of those")


def _inference_problem(message: str, model: onnx.ModelProto, opset: int) -> Problem:
    """Shape inference's complaint as a Problem naming the node and op it reports (an unnamed
    node by its first output, when it is the only node of that op)."""
    first = message.strip().splitlines()[0] if message.strip() else "no details"
    op = re.search(r"op_type:\s*(\w+)", message)
    node = re.search(r"node name:\s*([^)]*)\)", message)
    name = node[1].strip() if node else ""
    if op and not name:
        same_op = [n for n in model.graph.node if n.op_type == op[1]]
        name = same_op[0].name or same_op[0].output[0] if len(same_op) == 1 else ""
    return Problem(f"the graph is inconsistent (ONNX shape inference: {first[:300]})",
                   name, op[1] if op else "", opset)
