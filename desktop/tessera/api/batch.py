"""The page's side of a batch job: pull the next batch of decoded pixels, post its results.

GET  /api/jobs/<id>/batch   200: the pixels (application/octet-stream, RGB rows of each image
                            back to back) with `X-Tessera-Batch: {"seq", "sizes": [[w, h], …]}`;
                            204: nothing yet, ask again (a long poll of up to LONG_POLL_S);
                            410: the job has no more batches.
POST /api/jobs/<id>/batch   {"seq", "results": [{"ok", "top", "backend", "ms"} | {"ok": false, "error"}]}
"""

from __future__ import annotations

from tessera.api.http import ApiError, Reply, json_reply, route
from tessera.jobs.page_job import FINISHED, BatchPageJob

LONG_POLL_S = 10.0


def _job(api, job_id: str) -> BatchPageJob:
    job = api.jobs.get(job_id)
    if not isinstance(job, BatchPageJob):
        raise ApiError(404, "there is no such batch job.")
    return job


@route("GET", r"/api/jobs/([\w-]+)/batch")
def next_batch(api, request, job_id: str) -> Reply:
    batch = _job(api, job_id).next_batch(LONG_POLL_S)
    if batch is None:
        return Reply(204, b"", "text/plain; charset=utf-8")
    if batch is FINISHED:
        return Reply(410, b"the job has no more batches.", "text/plain; charset=utf-8")
    return Reply(200, batch.body, "application/octet-stream", {"X-Tessera-Batch": batch.header()})


@route("POST", r"/api/jobs/([\w-]+)/batch")
def batch_results(api, request, job_id: str) -> Reply:
    job = _job(api, job_id)
    body = request.json()
    if not isinstance(body.get("seq"), int) or not isinstance(body.get("results"), list):
        raise ApiError(400, "batch results need a sequence number and a list of results.")
    job.events.put(("batch", body))
    return json_reply({"ok": True})
