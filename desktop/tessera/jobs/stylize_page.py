"""Style transfer answered by the web page in headless Chromium, one image at a time.

`PageStylizer.start()` opens the page on a `StylizePageJob` (the browser and server of
`shells/page_session.py`), waits until its network(s) are loaded and, with image styles,
hands it the style images first. `render(pixels)` offers one padded photo and waits for its
stylised pixels. A dead browser or a page that stops answering is a TesseraError; a photo the
page could not stylise is a `RenderFailed` with the page's sentence.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from tessera.errors import TesseraError
from tessera.jobs.page_classifier import BATCH_TIMEOUT_S, PageInfo, open_page_job
from tessera.jobs.stylize_job import StylizePageJob
from tessera.server import TesseraServer
from tessera.shells.page_session import PageSession


class RenderFailed(Exception):
    """The page could not stylise this image; str(e) is its reason, `too_large` whether the
    image exceeds the GPU's buffer limits."""

    def __init__(self, message: str, too_large: bool = False):
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class Rendered:
    pixels: np.ndarray            # height × width × 3 uint8, the size that was offered
    wall_s: float                 # offer to answer
    stages_ms: dict               # what the page says it spent: unpack, render, pack

    @property
    def transfer_s(self) -> float:
        """Pixels to the page and back, and waiting: the wall time the page's stages don't cover."""
        return max(0.0, self.wall_s - sum(self.stages_ms.values()) / 1000)


class PageStylizer:
    def __init__(self, server: TesseraServer, job: StylizePageJob, style_images: list[np.ndarray]):
        self.server, self.job, self.style_images = server, job, style_images
        self.info = PageInfo()
        self._page: PageSession | None = None
        self._stack = ExitStack()

    def __enter__(self) -> "PageStylizer":
        return self

    def __exit__(self, *exc) -> None:
        self.job.finish()
        self._stack.close()

    def start(self) -> PageInfo:
        self.server.jobs.add(self.job)
        self._page, self.info = open_page_job(self._stack, self.server, self.job, "style network", mode="stylize")
        if self.style_images:
            answer = self._answer(self.job.offer(self.style_images), "reading the style images")
            if failed := [r for r in answer["results"] if not r.get("ok")]:
                raise TesseraError(f"The style image could not be read by the network: {failed[0].get('error')}")
        return self.info

    def render(self, pixels: np.ndarray) -> Rendered:
        offered = time.monotonic()
        answer = self._answer(self.job.offer([pixels]), "stylising an image")
        (result,) = answer["results"]
        if not result.get("ok"):
            raise RenderFailed(str(result.get("error") or "the page could not stylise this image"),
                               bool(result.get("too_large")))
        out = np.frombuffer(answer["body"], np.uint8).reshape(result["height"], result["width"], 3)
        return Rendered(out, time.monotonic() - offered, answer.get("stages_ms") or {})

    def _answer(self, seq: int, what: str) -> dict:
        while True:
            kind, body = self._page.wait(self.job.events, BATCH_TIMEOUT_S, what)
            if kind == "status" and body.get("state") == "failed":
                raise TesseraError(f"The browser page failed while {what}: {body.get('error')}")
            if kind == "stylized" and body.get("seq") == seq:
                return body
