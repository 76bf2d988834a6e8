"""The Batch view's jobs: start one over granted folders, follow it, pause, resume, cancel.

POST /api/batch-jobs     {"folders": [id, …], "model", "recursive", "watch", "xmp",
                          "sort": {"folder": id, "move": bool, "min_score": 0..1} | null,
                          "export": {"folder": id, "formats": ["csv", "jsonl"]} | null}
                         201: the job's state, whose "page_job" is the batch job the page answers
                         (GET/POST /api/jobs/<page_job>/batch); 409 while another job runs;
                         403 for a folder the user did not grant, or a destination not chosen
                         as an output folder. Only folder ids travel, never paths.
GET  /api/batch-jobs/current          {"job": state | null}: the running or the last job
GET  /api/batch-jobs/<id>?since=N     its state and the per-file outcomes from N on; the page
                                      that runs the job polls this, which tells the job the
                                      window is still open
POST /api/batch-jobs/<id>/pause | resume | cancel
POST /api/batch-jobs/<id>/give-up {"reason"}   the page can't go on (window closing, model switched)
"""

from __future__ import annotations

import os
from pathlib import Path

from tessera import models
from tessera.api.folders import granted_folder
from tessera.api.http import ApiError, json_reply, query_int, route
from tessera.errors import TesseraError

FORMATS = ("csv", "jsonl")


def _inside(path: Path, folder: Path) -> bool:
    return os.path.commonpath([path, folder]) == str(folder)


def _flag(body: dict, name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise ApiError(400, f"{name} must be true or false.")
    return value


def _output_folder(api, folder_id) -> Path:
    if not isinstance(folder_id, str):
        raise ApiError(400, "Choose an output folder first.")
    try:
        return granted_folder(api, folder_id, role="output").root
    except ApiError:
        raise ApiError(403, "That folder is not an output folder you chose for Tessera: "
                            "choose one with the folder button first.") from None


def _options(api, body: dict):
    from tessera.jobs.app_batch import AppBatchOptions   # Pillow and SQLite only when asked

    ids = body.get("folders")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "Add at least one folder of photos first.")
    folders = [granted_folder(api, i, role="images").root for i in dict.fromkeys(ids)]
    try:
        model = models.get_model(str(body.get("model", "")))
    except TesseraError as e:
        raise ApiError(400, str(e)) from None
    if model.task != "classify":
        raise ApiError(400, f"{model.title} is not a classification model; choose a classifier.")
    options = AppBatchOptions(folders, model, recursive=_flag(body, "recursive"), watch=_flag(body, "watch"),
                              xmp=_flag(body, "xmp"))
    if (sort := body.get("sort")) is not None:
        options.sort_into = _output_folder(api, sort.get("folder") if isinstance(sort, dict) else None)
        if any(_inside(options.sort_into, f) or _inside(f, options.sort_into) for f in folders):
            raise ApiError(400, "Choose a sort folder outside the photo folders (and not above them): "
                                "sorted photos inside them would be classified again.")
        options.move = _flag(sort, "move")
        score = sort.get("min_score", options.min_score)
        if not isinstance(score, (int, float)) or not 0 <= score <= 1:
            raise ApiError(400, "The minimum score must be between 0 and 1 (0 % and 100 %).")
        options.min_score = float(score)
    if (export := body.get("export")) is not None:
        formats = export.get("formats") if isinstance(export, dict) else None
        if not isinstance(formats, list) or not formats or not set(formats) <= set(FORMATS):
            raise ApiError(400, "Export formats must be csv and/or jsonl.")
        options.export_into = _output_folder(api, export.get("folder"))
        options.export_formats = [f for f in FORMATS if f in formats]
    return options


def _job(api, job_id: str):
    job = api.batch_jobs.get(job_id)
    if job is None:
        raise ApiError(404, "There is no such batch job (it may belong to an earlier launch).")
    return job


@route("POST", r"/api/batch-jobs")
def start_job(api, request):
    from tessera.jobs.app_batch import AlreadyRunning

    options = _options(api, request.json())
    try:
        job = api.batch_jobs.start(options)
    except AlreadyRunning as e:
        raise ApiError(409, str(e)) from None
    except TesseraError as e:
        raise ApiError(400, str(e)) from None
    except OSError as e:
        raise ApiError(403, f"Could not create the export files ({e.strerror or e}); "
                            "check that the output folder is writable.") from None
    return json_reply(job.snapshot(), 201)


@route("GET", r"/api/batch-jobs/current")
def current_job(api, request):
    job = api.batch_jobs.latest
    return json_reply({"job": job.snapshot(limit=0) if job else None})


@route("GET", r"/api/batch-jobs/([\w-]+)")
def job_state(api, request, job_id):
    job = _job(api, job_id)
    job.seen()
    return json_reply(job.snapshot(query_int(request.query, "since", 0, 0, 1 << 40)))


@route("POST", r"/api/batch-jobs/([\w-]+)/(pause|resume|cancel|give-up)")
def control_job(api, request, job_id, action):
    job = _job(api, job_id)
    if action == "give-up":
        reason = request.json().get("reason")
        job.give_up(str(reason) if reason else "The page stopped the batch job.")
    elif action == "cancel":
        job.cancel()
    else:
        job.pause(action == "pause")
    return json_reply(job.snapshot(limit=0))
