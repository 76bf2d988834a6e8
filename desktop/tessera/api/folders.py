"""Granted folders: list, forget, and the images inside one (paged, sorted)."""

from __future__ import annotations

from urllib.parse import quote

from tessera.api.http import ApiError, json_reply, query_int, route
from tessera.library.grants import NotGranted
from tessera.library.listing import SORT_KEYS, list_images

MAX_PAGE = 1000


@route("GET", r"/api/folders")
def get_folders(api, request):
    return json_reply(api.folders.list())


@route("POST", r"/api/folders/([\w-]+)/forget")
def forget_folder(api, request, folder_id):
    api.folders.forget(folder_id)
    return json_reply({"ok": True})


def granted_folder(api, folder_id: str, role: str | None = None):
    try:
        return api.folders.folder(folder_id, role)
    except NotGranted:
        raise ApiError(403, "That folder is not one you granted to Tessera.") from None


@route("GET", r"/api/folders/([\w-]+)/images")
def folder_images(api, request, folder_id):
    grant = granted_folder(api, folder_id)
    q = request.query
    sort = q.get("sort", "name")
    if sort not in SORT_KEYS:
        raise ApiError(400, f"sort must be one of {', '.join(SORT_KEYS)}.")
    offset = query_int(q, "offset", 0, 0, 1 << 31)
    limit = query_int(q, "limit", 200, 1, MAX_PAGE)
    entries = list_images(grant.root, sort=sort, descending=q.get("order") == "desc",
                          recursive=q.get("recursive") == "1")
    items = []
    for e in entries[offset:offset + limit]:
        url_rel = quote(e.rel)
        items.append({**e.to_json(), "url": f"files/{folder_id}/{url_rel}",
                      "thumb": f"api/thumbs/{folder_id}/{url_rel}"})
    return json_reply({"total": len(entries), "offset": offset, "items": items})
