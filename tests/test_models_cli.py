"""`tessera models list | import | remove`: packages compiled into the user data directory,
atomically; bundled models listed beside them and never removed."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tessera import cli, models
from tessera.compiler.package import IMAGENET, default_preprocess


def tiny_classifier(path, classes: int = 3, last: str | None = None):
    """A 1x3x8x8 -> logits[classes] conv net; `last`: an op after the logits (Softmax, LogSoftmax)."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((classes, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["image", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["flat" if last else "logits"])]
    if last:
        nodes.append(helper.make_node(last, ["flat"], ["logits"], axis=1))
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.fixture
def data_dir(tmp_path, monkeypatch, bundled_models):
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_import_list_remove(tmp_path, data_dir, capsys):
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps(["cat", "dog", "fox"]))
    source = tiny_classifier(tmp_path / "tiny.onnx")
    assert cli.main(["models", "import", str(source), "--name", "tiny", "--labels", str(labels)]) == 0
    folder = data_dir / "models" / "tiny"
    assert {"manifest.json", "model.json", "source.onnx", "labels.json"} <= {f.name for f in folder.iterdir()}
    page = json.loads((folder / "model.json").read_text())
    assert page["source"] == "source.onnx" and page["input"]["shape"] == [1, 3, 8, 8]
    # The file says nothing of its preprocessing: the engine and wasm both get ImageNet's at 8×8.
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["preprocess"] == page["preprocess"] == {"resize": 9, "crop": 8, **IMAGENET}

    assert cli.main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    tiny = next(line for line in lines if line.startswith("tiny "))
    assert "imported" in tiny and "classify" in tiny and "8x8" in tiny and "3 labels" in tiny
    assert any(line.startswith("efficientnet-lite0 ") and "bundled" in line for line in lines)

    assert cli.main(["models", "remove", "tiny"]) == 0
    assert not folder.exists()
    assert "tiny" not in {m.name for m in models.list_models()}


def test_bundled_models_are_never_removed(data_dir, capsys):
    assert cli.main(["models", "remove", "mobilenet-v2"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bundled" in err and "can't be removed" in err


def test_a_failed_import_leaves_nothing_behind(tmp_path, data_dir, capsys):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf at all")
    assert cli.main(["models", "import", str(broken)]) == cli.EXIT_ERROR
    assert "not a valid ONNX file" in capsys.readouterr().err
    root = data_dir / "models"
    assert not root.exists() or not any(root.iterdir())


def test_labels_that_do_not_match_the_classes_are_refused_and_nothing_is_installed(tmp_path, data_dir, capsys):
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps([f"class {i}" for i in range(1000)]))
    source = tiny_classifier(tmp_path / "tiny.onnx")
    assert cli.main(["models", "import", str(source), "--name", "tiny", "--labels", str(labels)]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "1000 names" in err and "3 classes" in err
    assert "tiny" not in {m.name for m in models.list_models()}


def test_an_import_compiled_for_one_image_per_call_says_so(tmp_path, data_dir, capsys):
    from tests.test_compiler_passes import _cumulative_positions

    source = _cumulative_positions(tmp_path)
    assert cli.main(["models", "import", str(source), "--name", "tiled", "--task", "stylize"]) == 0
    out = capsys.readouterr().out
    assert "imported tiled" in out and "note: compiled for one image per call" in out
    assert models.get_model("tiled").meta["input"]["shape"] == [1, 3, 6, 6]


def test_a_taken_name_is_refused(tmp_path, data_dir, capsys):
    source = tiny_classifier(tmp_path / "tiny.onnx")
    assert cli.main(["models", "import", str(source), "--name", "mobilenet-v2"]) == cli.EXIT_ERROR
    assert "already installed" in capsys.readouterr().err


@pytest.mark.parametrize("shape, side", [
    ([1, 3, 224, 224], 224), (["N", 3, 96, 96], 96), (["N", 3, "H", "W"], 224),   # NCHW: fixed, free
    ([1, 160, 160, 3], 160), (["N", "H", "W", 3], 224),                           # NHWC
    ([1, 3, 224, 320], None), ([1, 1, 28, 28], None), ([1, 3, 224], None),        # can't take a photo
])
def test_an_imported_classifier_assumes_imagenet_preprocessing_for_a_square_rgb_input(shape, side):
    expected = None if side is None else {"resize": side * 8 // 7, "crop": side, **IMAGENET}
    assert default_preprocess(shape) == expected


@pytest.mark.parametrize("last, kind", [(None, "logits"), ("Softmax", "probabilities"), ("LogSoftmax", "logits")])
def test_a_classifier_ending_in_softmax_is_not_given_a_second_one(tmp_path, data_dir, last, kind):
    """The page applies softmax to logits only: a model's own softmax output is taken as it is
    (a log-softmax's is logits to it: softmax gives back the probabilities)."""
    source = tiny_classifier(tmp_path / "tiny.onnx", last=last)
    assert cli.main(["models", "import", str(source), "--name", "tiny"]) == 0
    page = json.loads((data_dir / "models" / "tiny" / "model.json").read_text())
    assert page["output"]["kind"] == kind


def test_an_int8_import_quantises_a_classifier_on_the_photos_and_it_classifies(tmp_path, data_dir, run_cli):
    """`models import --int8 PHOTOS`: the float file quantised to QDQ (calibrated on the photos,
    prepared as the app prepares them), its convs marked for the integer kernels, and the model
    classifying a photo end to end."""
    from tessera.bench.float_graph import is_quantized
    from tessera.paths import SAMPLES_DIR
    from tests import small_networks

    onnx.save(small_networks.residual_convnet(), tmp_path / "res.onnx")
    env = {"TESSERA_DATA_DIR": str(data_dir)}
    r = run_cli("models", "import", str(tmp_path / "res.onnx"), "--name", "res-int8", "--int8", str(SAMPLES_DIR), env=env)
    assert r.returncode == 0, r.stderr
    folder = data_dir / "models" / "res-int8"
    assert is_quantized(onnx.load(folder / "source.onnx"))
    manifest = json.loads((folder / "manifest.json").read_text())
    convs = [op for op in manifest["ops"] if op["op"] == "conv2d"]
    assert len(convs) == 5 and all("int8" in op["attrs"] for op in convs)
    assert manifest["preprocess"]["crop"] == small_networks.IMG
    out = run_cli("classify", str(SAMPLES_DIR / "coffee.jpg"), "--model", "res-int8", "--json", env=env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[0])
    assert result["ok"] and len(result["top"]) == 5


@pytest.mark.parametrize("case, message", [
    ("no photos", "No photo in"), ("a style network", "quantises classifiers"),
    ("already int8", "quantised already"), ("a file, not a folder", "is not a folder")])
def test_an_int8_import_that_cannot_be_done_says_why_and_leaves_nothing(tmp_path, data_dir, capsys, case, message):
    from tessera.paths import SAMPLES_DIR
    from tessera.zoo.quantize import quantize_qdq

    source = tiny_classifier(tmp_path / "tiny.onnx")
    photos, task = SAMPLES_DIR, "classify"
    if case == "no photos":
        photos = tmp_path / "empty"
        photos.mkdir()
        (photos / "notes.txt").write_text("not a photo")
    elif case == "a style network":
        task = "stylize"
    elif case == "already int8":
        calibration = [np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)]
        onnx.save(quantize_qdq(onnx.load(source), calibration), source)
    else:
        photos = SAMPLES_DIR / "coffee.jpg"
    args = ["models", "import", str(source), "--name", "t8", "--int8", str(photos), "--task", task]
    assert cli.main(args) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err
    assert not (data_dir / "models" / "t8").exists()
