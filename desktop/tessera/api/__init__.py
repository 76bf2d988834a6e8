"""The JSON API the page uses, whichever window hosts it (and the tests, over plain HTTP).

`Api` holds the per-launch state the endpoints share; each concern's endpoints live in their
own module (folders, images, outputs, dialogs, models, adapter, window, batch jobs, style export), registered on import.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Callable

from tessera.api import adapter, batch, batch_jobs, dialogs, folders, images, models, outputs, style_export, stylize, window  # noqa: F401 (routes)
from tessera.api.http import ApiError, Reply, Request, find_route
from tessera.jobs.page_job import JobBoard
from tessera.library.folders import GrantedFolders
from tessera.library.grants import Grants
from tessera.library.json_store import JsonStore
from tessera.paths import user_data_dir
from tessera.shells.dialogs import Dialogs


class Api:
    def __init__(self, grants: Grants):
        self.grants = grants
        self.shell = "browser"          # the window provider hosting the page (set by the shell)
        self.dialogs: Dialogs | None = None   # None: the system's dialogs, looked up on use
        self.raise_window: Callable[[], None] | None = None
        self.adapter_report: dict | None = None
        self.adapter_reported = threading.Event()
        self.jobs = JobBoard()          # the page's jobs (CLI classify, bench), by id

    # User data is touched only when an endpoint needs it: a CLI run never reads it.
    @cached_property
    def folders(self) -> GrantedFolders:
        return GrantedFolders(self.grants, JsonStore(user_data_dir() / "folders.json"))

    @cached_property
    def thumbnails(self):
        from tessera.library.thumbnails import Thumbnails   # Pillow only when asked

        return Thumbnails(user_data_dir() / "thumbnails")

    @cached_property
    def batch_jobs(self):
        from tessera.jobs.app_batch import AppBatchJobs   # Pillow and SQLite only when asked

        return AppBatchJobs(self.jobs)

    def close(self) -> None:
        """The server is stopping: a running batch job ends after its batch in flight (exports
        written), rather than waiting for its page to be missed."""
        jobs = self.__dict__.get("batch_jobs")      # only if a batch endpoint was ever used
        if jobs is not None and jobs.latest is not None and jobs.latest.running:
            jobs.latest.close()

    def handle(self, request: Request) -> Reply | None:
        """The reply for an API request, or None when no endpoint here matches."""
        found = find_route(request.method, request.path)
        if found is None:
            return None
        handler, groups = found
        try:
            return handler(self, request, *groups)
        except ApiError as e:
            return Reply(e.status, e.message.encode(), "text/plain; charset=utf-8")
