"""The page's answer to a style-transfer batch: the stylised pixels, raw.

POST /api/jobs/<id>/stylized?meta={"seq", "results": [{"ok", "width", "height"} |
     {"ok": false, "error", "too_large"}], "stages_ms": {…}}
     body: the RGB bytes of each stylised image, back to back (application/octet-stream)
"""

from __future__ import annotations

import json

from tessera.api.http import ApiError, Reply, json_reply, route
from tessera.jobs.stylize_job import StylizePageJob

MAX_OUTPUT_BYTES = 40_000_000 * 3     # a 40-megapixel result; the CLI offers one image at a time


@route("POST", r"/api/jobs/([\w-]+)/stylized")
def stylized(api, request, job_id: str) -> Reply:
    job = api.jobs.get(job_id)
    if not isinstance(job, StylizePageJob):
        raise ApiError(404, "there is no such style-transfer job.")
    try:
        meta = json.loads(request.query.get("meta", ""))
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or not isinstance(meta.get("seq"), int) or not isinstance(meta.get("results"), list):
        raise ApiError(400, "stylised pixels need a meta parameter with a sequence number and results.")
    body = request.body(MAX_OUTPUT_BYTES)
    expected = sum(r["width"] * r["height"] * 3 for r in meta["results"] if r.get("ok"))
    if len(body) != expected:
        raise ApiError(400, f"{len(body)} bytes of pixels came for {expected} expected.")
    job.events.put(("stylized", {**meta, "body": body}))
    return json_reply({"ok": True})
