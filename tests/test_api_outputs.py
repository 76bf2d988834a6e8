"""Writing results: only into an output folder the user chose, never overwriting."""

from __future__ import annotations

import os

import pytest

from tests.api_client import api_server, call, grant_folder  # noqa: F401 (fixture)


@pytest.fixture
def out_folder(api_server, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    return folder, grant_folder(api_server, folder, role="output")


def test_writes_a_new_file_and_never_overwrites(api_server, out_folder):
    folder, grant = out_folder
    status, body, _ = call(api_server, "POST", f"/api/outputs/{grant['id']}?name=labels.csv", b"a,b\n")
    assert status == 201 and body == {"name": "labels.csv"}
    status, body, _ = call(api_server, "POST", f"/api/outputs/{grant['id']}?name=labels.csv", b"c,d\n")
    assert status == 201 and body == {"name": "labels (2).csv"}
    assert (folder / "labels.csv").read_bytes() == b"a,b\n"
    assert (folder / "labels (2).csv").read_bytes() == b"c,d\n"


@pytest.mark.parametrize("name", ["../escape.png", "sub/x.png", "..", ".bashrc", "a\\b.png", "",
                                  "run.sh", "x.png\x00.txt", "C:evil.png"])
def test_names_that_are_not_plain_output_files_are_refused(api_server, out_folder, tmp_path, name):
    folder, grant = out_folder
    from urllib.parse import quote

    status, body, _ = call(api_server, "POST", f"/api/outputs/{grant['id']}?name={quote(name)}", b"data")
    assert status == 403, name
    assert list(folder.iterdir()) == [] and not (tmp_path / "escape.png").exists()


def test_a_folder_granted_for_reading_is_not_writable(api_server, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    grant = grant_folder(api_server, photos, role="images")
    status, body, _ = call(api_server, "POST", f"/api/outputs/{grant['id']}?name=x.png", b"data")
    assert status == 403 and list(photos.iterdir()) == []
    status, _, _ = call(api_server, "POST", "/api/outputs/unknown?name=x.png", b"data")
    assert status == 403


def test_a_planted_symlink_is_not_written_through(api_server, out_folder, tmp_path):
    folder, grant = out_folder
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"keep")
    os.symlink(victim, folder / "result.png")
    status, body, _ = call(api_server, "POST", f"/api/outputs/{grant['id']}?name=result.png", b"new")
    assert status == 201 and body == {"name": "result (2).png"}
    assert victim.read_bytes() == b"keep"


def test_an_output_folder_swapped_for_a_link_is_refused(api_server, out_folder, tmp_path):
    folder, grant = out_folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder.rmdir()
    os.symlink(elsewhere, folder)
    status, _, _ = call(api_server, "POST", f"/api/outputs/{grant['id']}?name=x.png", b"data")
    assert status == 403 and list(elsewhere.iterdir()) == []
