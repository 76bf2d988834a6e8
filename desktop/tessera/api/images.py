"""Thumbnails of granted images (the image bytes themselves are served at /files/)."""

from __future__ import annotations

from tessera.api.http import ApiError, Reply, query_int, route
from tessera.library.grants import NotGranted


@route("GET", r"/api/thumbs/([\w-]+)(?:/(.+))?")
def thumbnail(api, request, grant_id, rel):
    from tessera.library.images import ImageRejected
    from tessera.library.thumbnails import SIDES

    side = query_int(request.query, "side", 256, min(SIDES), max(SIDES))
    if side not in SIDES:
        raise ApiError(400, f"side must be one of {', '.join(map(str, SIDES))}.")
    try:
        image = api.grants.resolve(grant_id, rel or "")
    except NotGranted:
        raise ApiError(403, "not a granted file") from None
    try:
        data = api.thumbnails.get(image, side)
    except ImageRejected as e:
        raise ApiError(422, str(e)) from None
    # The URL names the file, not its version: let the page cache it only briefly.
    return Reply(200, data, "image/jpeg", {"Cache-Control": "private, max-age=60"})
