"""A classification job that the web page runs and reports back on, item by item.

The CLI creates the job and waits on `events`; the server feeds it what the page posts.
"""

from __future__ import annotations

import queue
import secrets
import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PageItem:
    index: int
    name: str
    url: str            # server path of the image bytes, relative to the app


@dataclass
class PageJob:
    model_name: str
    model_url: str
    top: int
    backend: str
    items: list[PageItem]
    id: str = field(default_factory=lambda: secrets.token_urlsafe(9))
    events: "queue.Queue[tuple[str, dict]]" = field(default_factory=queue.Queue)

    def spec(self) -> dict:
        return {
            "id": self.id,
            "model": {"name": self.model_name, "url": self.model_url},
            "top": self.top,
            "backend": self.backend,
            "items": [{"index": i.index, "name": i.name, "url": i.url} for i in self.items],
        }


class JobBoard:
    """Jobs the page may fetch and report on, by id."""

    def __init__(self) -> None:
        self._jobs: dict[str, PageJob] = {}
        self._lock = threading.Lock()

    def add(self, job: PageJob) -> PageJob:
        with self._lock:
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> PageJob | None:
        with self._lock:
            return self._jobs.get(job_id)
