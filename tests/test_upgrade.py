"""Installing a new version keeps the user's data: settings, granted folders, the results store
and imported models (rebuilt from their source ONNX when their package format is older)."""

from __future__ import annotations

import json

from tessera import upgrade
from tessera.batch.store import MIGRATIONS, NewResult, ResultStore
from tessera.cli import EXIT_ERROR
from tessera.compiler.package import VERSION
from tessera.library.folders import GrantedFolders
from tessera.library.grants import Grants
from tessera.library.json_store import JsonStore
from tests.test_api_models import tiny_classifier


def user_data_from_an_older_version(folder, photos, monkeypatch):
    """A data folder as an older Tessera left it: no data-version file, an imported model in an
    older package format, a default model and output folder chosen, a granted folder, results."""
    monkeypatch.setenv("TESSERA_DATA_DIR", str(folder))
    from tessera import models, settings

    onnx_file = folder.parent / "tiny.onnx"
    onnx_file.write_bytes(tiny_classifier())
    tiny = models.import_model(onnx_file, "tiny", None)
    manifest = json.loads((tiny.folder / "manifest.json").read_text())
    (tiny.folder / "manifest.json").write_text(json.dumps({**manifest, "version": VERSION - 1}))
    settings.set_default_model("tiny")
    folders = GrantedFolders(Grants(), JsonStore(folder / "folders.json"))
    granted = folders.add(photos, "output")
    settings.set_output_folder_id(granted["id"])
    with ResultStore() as store:
        run = store.begin_run("tiny")
        store.record_results([NewResult(str(photos / "a.jpg"), 3, 7, "hash-a",
                                        top=[{"index": 1, "label": "one", "score": 0.9}])], run)
    (folder / upgrade.DATA_VERSION_FILE).unlink(missing_ok=True)
    return manifest, granted


def test_a_new_version_keeps_settings_folders_results_and_rebuilds_older_imported_models(
        tmp_path, run_cli, monkeypatch):
    data, photos = tmp_path / "data", tmp_path / "photos"
    photos.mkdir()
    fresh_manifest, granted = user_data_from_an_older_version(data, photos, monkeypatch)

    r = run_cli("models", "list", env={"TESSERA_DATA_DIR": str(data)})
    assert r.returncode == 0, r.stderr
    assert "rebuilt the imported model 'tiny'" in r.stderr
    assert "tiny" in r.stdout and "imported" in r.stdout
    rebuilt = json.loads((data / "models" / "tiny" / "manifest.json").read_text())
    assert rebuilt == fresh_manifest            # the same package the new compiler makes
    assert json.loads((data / upgrade.DATA_VERSION_FILE).read_text())["data_version"] == upgrade.DATA_VERSION
    assert not [p for p in (data / "models").iterdir() if p.name.startswith(".")]   # no leftovers

    settings_kept = json.loads((data / "settings.json").read_text())
    assert settings_kept["default_model"] == "tiny" and settings_kept["output_folder"] == granted["id"]
    assert json.loads((data / "folders.json").read_text())["folders"][0]["path"] == str(photos.resolve())
    with ResultStore(data / "results.sqlite3") as store:
        assert store.is_done("hash-a", "tiny")
        assert store._query("SELECT version FROM schema_version", ())[0] == len(MIGRATIONS)

    again = run_cli("models", "list", env={"TESSERA_DATA_DIR": str(data)})
    assert again.returncode == 0 and "rebuilt" not in again.stderr    # once, not on every start


def test_a_model_that_cannot_be_rebuilt_is_kept_and_named(tmp_path, monkeypatch):
    data, photos = tmp_path / "data", tmp_path / "photos"
    photos.mkdir()
    user_data_from_an_older_version(data, photos, monkeypatch)
    (data / "models" / "tiny" / "source.onnx").unlink()
    report = upgrade.upgrade_user_data(data)
    assert report.recompiled == [] and "source ONNX" in report.failed["tiny"]
    assert json.loads((data / "models" / "tiny" / "manifest.json").read_text())["version"] == VERSION - 1


def test_data_from_a_newer_version_is_refused_in_one_sentence(tmp_path, run_cli):
    data = tmp_path / "data"
    data.mkdir()
    (data / upgrade.DATA_VERSION_FILE).write_text(json.dumps({"data_version": upgrade.DATA_VERSION + 1}))
    r = run_cli("models", "list", env={"TESSERA_DATA_DIR": str(data)})
    assert r.returncode == EXIT_ERROR
    assert r.stderr.count("\n") == 1 and "written by a newer version of Tessera" in r.stderr
    assert "Traceback" not in r.stderr
