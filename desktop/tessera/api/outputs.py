"""Output folders: which one exports go to (remembered in settings), and writing a result file
into one the user chose."""

from __future__ import annotations

from tessera import settings
from tessera.api.folders import granted_folder
from tessera.api.http import ApiError, json_reply, route
from tessera.library.outputs import OutputRefused, write_output

MAX_OUTPUT_BYTES = 256 << 20


def _listed(api, folder_id: str | None) -> dict | None:
    return next((f for f in api.folders.list() if f["id"] == folder_id and f["role"] == "output"), None)


@route("GET", r"/api/output-folder")
def get_output_folder(api, request):
    """The remembered output folder (marked missing if it has gone), or null."""
    return json_reply({"folder": _listed(api, settings.output_folder_id())})


@route("POST", r"/api/output-folder")
def set_output_folder(api, request):
    """Body {"id"}: one of the output folders the user chose in a dialog, never a path."""
    folder_id = request.json().get("id")
    if not isinstance(folder_id, str) or _listed(api, folder_id) is None:
        raise ApiError(403, "That folder is not an output folder you chose for Tessera.")
    settings.set_output_folder_id(folder_id)
    return json_reply({"folder": _listed(api, folder_id)})


@route("POST", r"/api/outputs/([\w-]+)")
def write(api, request, folder_id):
    grant = granted_folder(api, folder_id, role="output")
    name = request.query.get("name", "")
    try:
        written = write_output(grant.root, name, request.body(MAX_OUTPUT_BYTES))
    except OutputRefused as e:
        raise ApiError(403, str(e)) from None
    except OSError as e:
        raise ApiError(500, f"Could not write the file ({e.strerror or e}).") from None
    return json_reply({"name": written.name}, 201)
