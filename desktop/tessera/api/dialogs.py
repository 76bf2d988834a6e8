"""Open-file / open-folder dialogs shown by the shell; what the user picks becomes a grant."""

from __future__ import annotations

import os

from tessera.api.http import ApiError, json_reply, route
from tessera.library.folders import ROLES
from tessera.shells.dialogs import KINDS, DialogUnavailable, system_dialogs

TITLES = {("files", "images"): "Choose photos for Tessera",
          ("folder", "images"): "Choose a folder of photos for Tessera",
          ("folder", "output"): "Choose a folder for Tessera's results"}


def _dialogs(api):
    return api.dialogs or system_dialogs()


@route("GET", r"/api/dialog")
def dialog_available(api, request):
    """Whether a native dialog can be shown; the page picks its fallback from this."""
    try:
        return json_reply({"native": True, "provider": _dialogs(api).name})
    except DialogUnavailable as e:
        return json_reply({"native": False, "reason": str(e)})


@route("POST", r"/api/dialog")
def open_dialog(api, request):
    body = request.json()
    kind, role = body.get("kind"), body.get("role", "images")
    if kind not in KINDS or role not in ROLES or (kind, role) not in TITLES:
        raise ApiError(400, "kind must be files or folder, role images or output (files only for images).")
    try:
        chosen = _dialogs(api).choose(kind, TITLES[kind, role])
    except DialogUnavailable as e:
        # 501 tells the page to fall back to its own picker and drag-and-drop.
        raise ApiError(501, f"No file dialog here: {e}.") from None
    if kind == "folder":
        folders = [api.folders.add(p, role) for p in chosen if os.path.isdir(p)]
        return json_reply({"folders": folders, "files": []})
    files = []
    for path in chosen:
        if os.path.isfile(path):
            grant = api.grants.add(path)
            files.append({"name": os.path.basename(path), "url": f"files/{grant.id}",
                          "thumb": f"api/thumbs/{grant.id}"})
    return json_reply({"folders": [], "files": files})
