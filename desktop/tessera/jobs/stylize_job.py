"""A style-transfer job that the web page runs: a batch job whose answers are pixels.

The pixels go to the page as for classification (`BatchPageJob.offer`, pulled through
`GET /api/jobs/<id>/batch`); the page posts each batch's stylised pixels back as raw RGB bytes
(`POST /api/jobs/<id>/stylized`, `api/stylize.py`), which land on `events` as
("stylized", {"seq", "results", "stages_ms", "body"}). With style images, the first batch
offered is the style images (the page keeps their blended style vector) and its answer has
no pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tessera.jobs.page_job import BatchPageJob


@dataclass
class StylizePageJob(BatchPageJob):
    predictor_url: str | None = None
    weights: list[float] = field(default_factory=list)   # 26 style weights, or one per style image
    style_images: int = 0

    @classmethod
    def create(cls, network_url: str, predictor_url: str | None, weights: list[float],
               style_images: int, backend: str) -> "StylizePageJob":
        return cls(model_name=network_url.strip("/").rsplit("/", 1)[-1], model_url=network_url, top=0,
                   backend=backend, predictor_url=predictor_url, weights=weights, style_images=style_images)

    def spec(self) -> dict:
        return {"id": self.id, "kind": "stylize", "backend": self.backend, "network": self.model_url,
                "predictor": self.predictor_url, "weights": self.weights, "style_images": self.style_images}
