"""The passes that take copies and constant products out of transformer and ConvNeXt blocks:
matmuls reading and writing through strided views (passes/matmul_views.py, strided.py), the
scores, softmax and weighted sum made one attention op (passes/attention.py), and constant
scales folded into the layer before them (passes/fold_scale.py). Each package is
also run by the numpy oracle against onnxruntime, so a wrong stride or scale fails here."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tessera.compiler import compile_to_folder, strided
from tessera.compiler.errors import CompileError
from tessera.compiler.numpy_executor import run_package
from tessera.compiler.package import PackageMeta
from tests import small_networks

F = np.float32
rng = np.random.default_rng()


def _compile(tmp_path, model: onnx.ModelProto) -> tuple[list[dict], object]:
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    folder = tmp_path / "pkg"
    folder.mkdir()
    return compile_to_folder(path, folder, PackageMeta("m")).manifest["ops"], path


def _matches_onnxruntime(tmp_path, path, x: np.ndarray) -> None:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})[0]
    got = next(iter(run_package(tmp_path / "pkg", {session.get_inputs()[0].name: x}).values()))
    assert np.linalg.norm(got - expected) / np.linalg.norm(expected) <= 1e-5


def _model(nodes, x_shape, y_shape, inits) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(y_shape))],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("unbind", ["slice", "split"])
def test_attention_reads_heads_from_the_projection_and_writes_them_merged(tmp_path, unbind):
    """A ViT block as torch exports it: between the qkv gemm and the projection gemm only one
    attention op is left, reading Q, K and V out of the gemm's output with the 1/√d scale."""
    ops, path = _compile(tmp_path, small_networks.vit(depth=1, unbind=unbind))
    names = [op["op"] for op in ops]
    after_norm = names[names.index("layer_norm"):]
    assert not {"transpose", "binary", "matmul", "softmax"} & set(after_norm)
    assert names.count("slice") == 1            # the class token's row, after the last block
    (attention,) = (op for op in ops if op["op"] == "attention")
    assert set(attention["attrs"]["views"]) == {"q", "k", "v", "y"}
    assert len(set(attention["inputs"])) == 1    # the qkv gemm's output
    assert attention["attrs"]["scale"] == pytest.approx(16 ** -0.5)
    assert [op["op"] for op in ops if attention["outputs"][0] in op["inputs"]] == ["gemm"]
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((2, 3, 64, 64)).astype(F))


def _attention_model(*, bias=None, log=False, probabilities_out=False, head=8):
    """x [2, 5, head]: softmax(x·xᵀ · 0.5 [+ bias]) · x, with what may keep the ops apart.
    bias: "stored" ([5, 5] constant), "computed" ((x·W)ᵀ, [2, 5, 5]: transposed, as x·W alone
    would take the add as its residual), "itself" (the scores twice),
    "broadcasting up" ([3, 1, 5, 5]: the scores become [3, 2, 5, 5])."""
    make = helper.make_node
    nodes = [make("Transpose", ["x"], ["xt"], perm=[0, 2, 1]), make("MatMul", ["x", "xt"], ["s"]),
             make("Mul", ["s", "half"], ["ss"])]
    inits = {"half": np.array(0.5, F), "stored": rng.standard_normal((5, 5)).astype(F),
             "wide": rng.standard_normal((3, 1, 5, 5)).astype(F), "w": rng.standard_normal((head, 5)).astype(F)}
    scores = "ss"
    if bias is not None:
        other = {"stored": "stored", "itself": "ss", "broadcasting up": "wide", "computed": "xwt"}[bias]
        if bias == "computed":
            nodes += [make("MatMul", ["x", "w"], ["xw"]), make("Transpose", ["xw"], ["xwt"], perm=[0, 2, 1])]
        nodes.append(make("Add", ["ss", other], ["sb"]))
        scores = "sb"
    nodes += [make("LogSoftmax" if log else "Softmax", [scores], ["p"], axis=-1), make("MatMul", ["p", "x"], ["y"])]
    y_shape = [3, 2, 5, head] if bias == "broadcasting up" else [2, 5, head]
    model = _model(nodes, [2, 5, head], y_shape, inits)
    if probabilities_out:
        model.graph.output.append(helper.make_tensor_value_info("p", TensorProto.FLOAT, [2, 5, 5]))
    return model


@pytest.mark.parametrize("case, fused", [
    ({}, ["attention"]),
    ({"head": 128}, ["attention"]),
    ({"head": 132}, None),                       # a query row past MAX_HEAD floats of registers
    ({"bias": "stored"}, ["constant", "attention"]),   # a relative position bias
    ({"bias": "computed"}, ["gemm", "transpose", "attention"]),
    ({"bias": "itself"}, None),
    ({"bias": "broadcasting up"}, None),         # the bias would add batch axes to the scores
    ({"log": True}, None),
    ({"probabilities_out": True}, None),         # the probabilities are an output of their own
])
def test_scores_softmax_and_weighted_sum_fuse_only_when_nothing_else_needs_them(tmp_path, case, fused):
    ops, path = _compile(tmp_path, _attention_model(**case))
    names = [op["op"] for op in ops if op["op"] != "reshape"]
    if fused is None:
        assert "attention" not in names and "softmax" in names, names
    else:
        head = case.get("head", 8)
        assert names == fused
        attention = ops[-1]
        assert attention["attrs"]["scale"] == 0.5 and len(attention["inputs"]) == (4 if "bias" in case else 3)
        assert attention["attrs"]["views"]["k"] == {"shape": [2, 5, head], "strides": [5 * head, head, 1], "offset": 0}
        if case.get("bias") == "stored":             # broadcast over the batch: stride 0
            assert attention["attrs"]["views"]["bias"] == {"shape": [1, 5, 5], "strides": [0, 5, 1], "offset": 0}
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((2, 5, case.get("head", 8))).astype(F))


@pytest.mark.parametrize("relative", [True, False])
def test_shifted_windows_attend_over_the_split_batch_with_one_stored_bias(tmp_path, relative):
    """Swin's shifted block: the scores (plus a relative position bias) viewed as [N, windows,
    heads, T, T] for the mask and back. One attention op over those batch axes, Q, K and V read
    in place through them, the two biases one constant."""
    ops, path = _compile(tmp_path, small_networks.shifted_window_attention(windows=4, tokens=9, dim=12, heads=2,
                                                                           relative=relative))
    assert [op["op"] for op in ops if op["op"] not in ("reshape", "transpose")] == ["gemm", "constant", "attention"]
    views = ops[-1]["attrs"]["views"]
    assert views["q"]["shape"] == views["y"]["shape"] == ["N", 4, 2, 9, 6]
    assert views["bias"]["shape"] == [1, 4, 2 if relative else 1, 9, 9]
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((3, 4, 9, 12)).astype(F))


def test_linear_layers_keep_a_sequence_first_residual_stream_as_it_lies(tmp_path):
    """torch's sequence-first encoder ([T, N, E]): a LayerNorm computed in that order feeds two
    linear layers, the second adding the stream back. The rows are read and written in the
    order they lie, so no copy back to [N, T, E] and no add of its own."""
    make = helper.make_node
    inits = {"g": (1 + rng.standard_normal(8)).astype(F), "b": rng.standard_normal(8).astype(F),
             "w1": rng.standard_normal((8, 16)).astype(F), "w2": rng.standard_normal((16, 8)).astype(F)}
    nodes = [make("Transpose", ["x"], ["t"], perm=[1, 0, 2]), make("LayerNormalization", ["t", "g", "b"], ["h"]),
             make("MatMul", ["h", "w1"], ["m"]), make("Relu", ["m"], ["r"]), make("MatMul", ["r", "w2"], ["o"]),
             make("Add", ["o", "h"], ["s"]), make("Transpose", ["s"], ["y"], perm=[1, 0, 2])]
    ops, path = _compile(tmp_path, _model(nodes, [2, 3, 8], [2, 3, 8], inits))
    assert [op["op"] for op in ops if op["op"] != "reshape"] == ["layer_norm", "gemm", "gemm"]
    assert [op["attrs"]["residual"] for op in ops if op["op"] == "gemm"] == [False, True]
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((2, 3, 8)).astype(F))


def test_an_output_projection_over_regrouped_rows_takes_the_residual(tmp_path):
    """torch's attention output projection: a linear layer over [T·N, E] rows, viewed as
    [T, N, E], transposed to [N, T, E] and added to the stream: the add is the layer's
    residual (the same rows in the same memory), not a dispatch of its own."""
    make = helper.make_node
    inits = {"w": rng.standard_normal((8, 8)).astype(F), "bias": rng.standard_normal(8).astype(F),
             "rows": np.array([6, 8], np.int64), "grouped": np.array([3, 2, 8], np.int64)}
    nodes = [make("Transpose", ["x"], ["t"], perm=[1, 0, 2]), make("Reshape", ["t", "rows"], ["a"]),
             make("MatMul", ["a", "w"], ["m"]), make("Add", ["m", "bias"], ["p"]),
             make("Reshape", ["p", "grouped"], ["g"]), make("Transpose", ["g"], ["gt"], perm=[1, 0, 2]),
             make("Add", ["gt", "x"], ["y"])]
    ops, path = _compile(tmp_path, _model(nodes, [2, 3, 8], [2, 3, 8], inits))
    assert "binary" not in [op["op"] for op in ops]
    assert [op["attrs"]["residual"] for op in ops if op["op"] == "gemm"] == [True]
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((2, 3, 8)).astype(F))


def test_a_view_may_hold_a_free_size_in_its_strides(tmp_path):
    """x [N, T, D] with T free: the transposed operand's stride holds T (a dim expression the
    engine binds at load), and the transpose is no copy."""
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["xt", "x"], ["y"])]
    ops, path = _compile(tmp_path, _model(nodes, ["N", "T", 5], ["N", 5, 5], {}))
    assert [op["op"] for op in ops if op["op"] != "reshape"] == ["matmul"]
    assert ops[-1]["attrs"]["views"]["a"]["strides"] == ["5*T", 1, 5]
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((2, 7, 5)).astype(F))


def test_sequence_first_attention_reads_through_strides_that_hold_the_batch(tmp_path):
    """torch's MultiheadAttention ([T, N, E], heads by Reshape to [T, N·heads, d]; Q and K
    scaled by d^-¼ after the head split, K before its Transpose): both scales move into Q·Kᵀ
    as one, and the matmuls read the projections in place through strides of 12·N."""
    ops, path = _compile(tmp_path, small_networks.sequence_first_attention(tokens=7, dim=12, heads=2))
    assert [op["op"] for op in ops if op["op"] != "reshape"] == ["transpose", "gemm", "gemm", "gemm", "attention"]
    (attention,) = (op for op in ops if op["op"] == "attention")
    assert attention["attrs"]["scale"] == pytest.approx(6 ** -0.5)
    assert attention["attrs"]["views"]["q"]["strides"] == [6, "12*N", 1]
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((3, 7, 12)).astype(F))


def test_gram_matrix_reads_its_transpose_in_place(tmp_path):
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["x", "xt"], ["y"])]
    ops, path = _compile(tmp_path, _model(nodes, [6, 9, 5], [6, 9, 9], {}))
    assert [op["op"] for op in ops] == ["matmul"]
    assert ops[0]["attrs"]["views"] == {"b": {"shape": [6, 5, 9], "strides": [45, 1, 5], "offset": 0}}
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((6, 9, 5)).astype(F))


def test_strided_reshape_regroups_only_what_memory_keeps_together():
    v = strided.View((2, 3, 4), (12, 4, 1))
    assert strided.reshape(v, (6, 4)) == strided.View((6, 4), (4, 1))
    assert strided.reshape(v, (2, 1, 12)) == strided.View((2, 1, 12), (12, 0, 1))
    assert strided.reshape(v, (2, 3, 2, 2)) == strided.View((2, 3, 2, 2), (12, 4, 2, 1))
    swapped = strided.transpose(v, (0, 2, 1))                        # [2, 4, 3], rows not contiguous
    assert strided.reshape(swapped, (2, 12)) is None
    assert strided.reshape(swapped, (8, 3)) is None                  # 2 and 4 are 12 and 1 apart
    assert strided.reshape(swapped, (2, 4, 3, 1)) == strided.View((2, 4, 3, 1), (12, 1, 4, 0))
    assert strided.reshape(strided.View(("N", 3, 4), (12, 4, 1)), ("N", 12)) == strided.View(("N", 12), (12, 1))
    assert strided.contiguous(("N", 3, 4)) == strided.View(("N", 3, 4), (12, 4, 1))
    assert strided.contiguous((2, "T", 4)) == strided.View((2, "T", 4), ("4*T", 4, 1))
    batch_in_rows = strided.View((5, "N", 32), ("32*N", 32, 1))       # [T, N, E], E split in heads
    assert strided.reshape(batch_in_rows, (5, "2*N", 16)) == strided.View((5, "2*N", 16), ("32*N", 16, 1))
    q_of_qkv = strided.View((5, "N", 32), ("96*N", 96, 1))            # rows 96 apart: N·32 won't merge
    assert strided.reshape(q_of_qkv, (5, "2*N", 16)) is None


def _linear_then_scale_model(scale_shape, before_scale=()):
    """x [2, 6, 5] @ W + b, optional ops, times a constant of ``scale_shape``, + x's projection."""
    make = helper.make_node
    inits = {"w": rng.standard_normal((5, 8)).astype(F), "b": rng.standard_normal(8).astype(F),
             "gamma": (0.5 + rng.standard_normal(scale_shape)).astype(F), "wr": rng.standard_normal((5, 8)).astype(F)}
    nodes = [make("MatMul", ["x", "w"], ["m"]), make("Add", ["m", "b"], ["lin"])]
    last = "lin"
    for op in before_scale:
        nodes.append(make(op, [last], [f"{op}.out"]))
        last = f"{op}.out"
    nodes += [make("Mul", [last, "gamma"], ["scaled"]), make("MatMul", ["x", "wr"], ["r"]),
              make("Add", ["scaled", "r"], ["y"])]
    return _model(nodes, [2, 6, 5], [2, 6, 8], inits)


@pytest.mark.parametrize("scale_shape, before, fused", [
    ((8,), (), ["gemm", "gemm"]),                        # layer scale: into the weights, then the residual
    ((1,), (), ["gemm", "gemm"]),
    ((1,), ("Relu",), ["gemm", "gemm"]),                 # after relu: the scale activation
    ((8,), ("Relu",), ["gemm", "binary", "gemm"]),       # per channel after relu: stays a product
    ((6, 1), (), ["gemm", "binary", "gemm"]),            # varies along rows: no per-channel fold
])
def test_a_constant_scale_folds_into_the_layer_before_it(tmp_path, scale_shape, before, fused):
    ops, path = _compile(tmp_path, _linear_then_scale_model(scale_shape, before))
    assert sorted(op["op"] for op in ops) == sorted(fused), ops
    if before and scale_shape == (1,):
        assert [a["fn"] for op in ops for a in op["attrs"].get("activations", [])] == ["relu", "scale"]
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((2, 6, 5)).astype(F))


def test_convnext_block_is_four_dispatches(tmp_path):
    """Depthwise conv, layer_norm, the two gemms; the layer scale is in the second gemm's
    weights and the residual add (after the Transpose back to NCHW, free in NHWC) in its
    epilogue."""
    ops, path = _compile(tmp_path, small_networks.convnext(depth=1))
    block = [op["op"] for op in ops if op["op"] != "reshape"][1:-3]   # after the stem, before pool, norm, head
    assert block == ["conv2d", "layer_norm", "gemm", "gemm"]
    assert [op["attrs"]["residual"] for op in ops if op["op"] == "gemm"][:2] == [False, True]
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((2, 3, 64, 64)).astype(F))


def test_layer_scale_after_the_permute_back_folds_too(tmp_path):
    """torchvision's ConvNeXt block ends linear → Permute to NCHW → · γ (C,1,1) → + input: the
    scale goes into the linear's weights through the (free) permute, the add into its epilogue."""
    make = helper.make_node
    inits = {"w": rng.standard_normal((5, 5)).astype(F), "b": rng.standard_normal(5).astype(F),
             "gamma": rng.standard_normal((5, 1, 1)).astype(F)}
    nodes = [make("Transpose", ["x"], ["nhwc"], perm=[0, 2, 3, 1]), make("MatMul", ["nhwc", "w"], ["m"]),
             make("Add", ["m", "b"], ["lin"]), make("Transpose", ["lin"], ["nchw"], perm=[0, 3, 1, 2]),
             make("Mul", ["nchw", "gamma"], ["scaled"]), make("Add", ["scaled", "x"], ["y"])]
    ops, path = _compile(tmp_path, _model(nodes, [2, 5, 6, 7], [2, 5, 6, 7], inits))
    assert [op["op"] for op in ops if op["op"] != "reshape"] == ["gemm"]
    assert ops[-1]["attrs"]["residual"] is True
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((2, 5, 6, 7)).astype(F))


def test_einsum_attention_is_two_matmuls_reading_in_place(tmp_path):
    """MaxViT writes attention as Einsum: 'B G H I D, B G H J D -> B G H I J' and 'B G H I J, B G
    H J D -> B G H I D'. They become matmuls, the transposes that made them views, and then one
    attention op, reading K as the tensor it is."""
    make = helper.make_node
    nodes = [make("Einsum", ["x", "x"], ["s"], equation="B G H I D, B G H J D -> B G H I J"),
             make("Softmax", ["s"], ["p"], axis=-1),
             make("Einsum", ["p", "x"], ["y"], equation="bghij,bghjd->bghid")]
    ops, path = _compile(tmp_path, _model(nodes, [2, 3, 2, 7, 5], [2, 3, 2, 7, 5], {}))
    assert [op["op"] for op in ops if op["op"] != "reshape"] == ["attention"]
    assert ops[-1]["attrs"]["views"]["k"] == {"shape": [2, 3, 2, 7, 5], "strides": [210, 70, 35, 5, 1], "offset": 0}
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((2, 3, 2, 7, 5)).astype(F))


def test_an_einsum_that_is_no_matrix_product_is_refused_saying_so(tmp_path):
    nodes = [helper.make_node("Einsum", ["x", "x"], ["y"], equation="ij,ij->i")]
    with pytest.raises(CompileError, match="batched matrix product"):
        _compile(tmp_path, _model(nodes, [4, 5], [4], {}))


def test_operand_scales_that_multiply_to_one_leave_no_dangling_input(tmp_path):
    """(x · 2) @ (x · ½)ᵀ: both products leave, the matmul reads x itself, and no scale stays."""
    make = helper.make_node
    nodes = [make("Mul", ["x", "two"], ["a"]), make("Mul", ["x", "half"], ["b"]),
             make("Transpose", ["b"], ["bt"], perm=[0, 2, 1]), make("MatMul", ["a", "bt"], ["y"])]
    ops, path = _compile(tmp_path, _model(nodes, [2, 6, 5], [2, 6, 6], {"two": np.float32(2), "half": np.float32(0.5)}))
    assert [op["op"] for op in ops if op["op"] != "reshape"] == ["matmul"]
    assert ops[-1]["attrs"]["activations"] == []
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((2, 6, 5)).astype(F))
