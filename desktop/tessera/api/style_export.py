"""The style editor's export: the stylised pixels the page rendered at full resolution, finished
and written into an output folder the user chose, with the source photo's EXIF.

POST /api/style-export/<output folder id>?meta={"name", "width", "height", "strength",
     "preserve_colours", "style", "source"}
     body: the network's RGB bytes, then the original's RGB bytes at the same size

The finishing (colour preservation, strength) and the encoding (format by suffix, EXIF with its
orientation normalised, the style in ImageDescription) are `tessera stylize`'s own, so a photo
exported from the window and one from the command line are made the same way. `source` is the
photo's `files/<grant>[/<path>]` URL when it came from a dialog; a dropped photo has no EXIF to
keep. The file is never written over an existing one (write_output picks a free name).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tessera.api.folders import granted_folder
from tessera.api.http import ApiError, json_reply, route
from tessera.library.grants import NotGranted
from tessera.library.outputs import OutputRefused, check_name, write_output

MAX_PIXELS = 40_000_000


def _meta(request) -> dict:
    try:
        meta = json.loads(request.query.get("meta", ""))
    except ValueError:
        meta = None
    ok = (isinstance(meta, dict) and isinstance(meta.get("name"), str) and isinstance(meta.get("style"), str)
          and all(isinstance(meta.get(k), int) and meta[k] > 0 for k in ("width", "height"))
          and isinstance(meta.get("strength"), (int, float)) and 0 <= meta["strength"] <= 1)
    if not ok:
        raise ApiError(400, "an export needs meta with name, width, height, strength (0 to 1) and style.")
    if meta["width"] * meta["height"] > MAX_PIXELS:
        raise ApiError(413, f"the image is over {MAX_PIXELS // 1_000_000} megapixels.")
    return meta


def _source_path(api, source: str | None):
    """The granted photo behind a `files/<grant>[/<rel>]` URL, or None."""
    if not source:
        return None
    grant_id, _, rel = source.removeprefix("files/").partition("/")
    try:
        return api.grants.resolve(grant_id, rel)
    except NotGranted:
        raise ApiError(403, "The photo is no longer granted to Tessera; open it again, then export.") from None


@route("POST", r"/api/style-export/([\w-]+)")
def export_styled(api, request, folder_id):
    from PIL import Image

    from tessera.stylize.export import FORMATS, encode, source_exif
    from tessera.stylize.pixels import finish

    folder = granted_folder(api, folder_id, role="output")
    meta = _meta(request)
    try:
        check_name(meta["name"])
    except OutputRefused as e:
        raise ApiError(403, str(e)) from None
    suffix = Path(meta["name"]).suffix.lower()
    if suffix not in FORMATS:
        raise ApiError(400, "an image is exported as .png, .jpg or .webp.")
    w, h = meta["width"], meta["height"]
    size = w * h * 3
    body = request.body(2 * size)
    if len(body) != 2 * size:
        raise ApiError(400, f"{len(body)} bytes of pixels came for {2 * size} expected.")
    stylised = np.frombuffer(body, np.uint8, size).reshape(h, w, 3)
    original = np.frombuffer(body, np.uint8, size, size).reshape(h, w, 3)
    source = _source_path(api, meta.get("source"))
    exif = source_exif(source) if source else Image.Exif()
    description = f"Stylized by Tessera: {meta['style']}"
    if meta["strength"] < 1:
        description += f", strength {meta['strength']:g}"
    if meta.get("preserve_colours"):
        description += ", original colours"
    pixels = finish(stylised, original, float(meta["strength"]), bool(meta.get("preserve_colours")))
    try:
        written = write_output(folder.root, meta["name"], encode(pixels, suffix, exif, description))
    except OutputRefused as e:
        raise ApiError(403, str(e)) from None
    except OSError as e:
        raise ApiError(500, f"Could not write the file ({e.strerror or e}).") from None
    return json_reply({"name": written.name}, 201)
