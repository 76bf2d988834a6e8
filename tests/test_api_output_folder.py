"""The remembered output folder: only a folder the user chose as an output folder can be it."""

from __future__ import annotations

import json

from tests.api_client import api_server, call, grant_folder  # noqa: F401 (fixture)


def test_the_chosen_output_folder_is_remembered_in_settings(api_server, tmp_path):
    assert call(api_server, "GET", "/api/output-folder")[1] == {"folder": None}
    out = tmp_path / "out"
    out.mkdir()
    folder = grant_folder(api_server, out, role="output")
    status, body, _ = call(api_server, "POST", "/api/output-folder", {"id": folder["id"]})
    assert status == 200 and body["folder"]["name"] == "out"
    settings = json.loads((tmp_path / "userdata" / "settings.json").read_text())
    assert settings["output_folder"] == folder["id"]
    out.rmdir()
    assert call(api_server, "GET", "/api/output-folder")[1]["folder"]["missing"] is True


def test_an_images_folder_or_an_unknown_id_cannot_become_the_output_folder(api_server, tmp_path):
    photos = grant_folder(api_server, tmp_path, role="images")
    for body in ({"id": photos["id"]}, {"id": "made-up"}, {"id": 7}, {}):
        status, _, _ = call(api_server, "POST", "/api/output-folder", body)
        assert status == 403
    assert call(api_server, "GET", "/api/output-folder")[1] == {"folder": None}
