"""Writing a result file into an output folder the user chose."""

from __future__ import annotations

from tessera.api.folders import granted_folder
from tessera.api.http import ApiError, json_reply, route
from tessera.library.outputs import OutputRefused, write_output

MAX_OUTPUT_BYTES = 256 << 20


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
