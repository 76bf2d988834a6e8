"""Thumbnails of the user's images, made on a small worker pool and cached on disk.

The cache key is the file's real path, mtime, size and the thumbnail side, so an edited photo
gets a fresh thumbnail and an untouched one is never decoded twice. JPEGs are decoded in draft
mode (the decoder scales by 1/2…1/8 itself), so a 50-megapixel photo costs a fraction of a
full decode. Requests for the same thumbnail at once share one piece of work.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageOps

from tessera.library.images import decode_checked, open_checked

SIDES = (128, 256, 512)
JPEG_QUALITY = 82


class Thumbnails:
    def __init__(self, cache_dir: Path, workers: int = 2):
        self.cache_dir = Path(cache_dir)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="tessera-thumb")
        self._pending: dict[Path, Future] = {}
        # Re-entrant: a job already done when its callback is attached runs _forget at once,
        # on this thread, inside the lock.
        self._lock = threading.RLock()

    def cache_path(self, image: Path, side: int) -> Path:
        st = image.stat()
        key = hashlib.sha256(f"{image}\0{st.st_mtime_ns}\0{st.st_size}\0{side}".encode()).hexdigest()
        return self.cache_dir / key[:2] / f"{key}.jpg"

    def get(self, image: Path, side: int) -> bytes:
        """JPEG bytes of image fitted into side×side; ImageRejected if it is not an image."""
        if side not in SIDES:
            raise ValueError(f"thumbnail side must be one of {SIDES}")
        target = self.cache_path(image, side)
        if target.is_file():
            return target.read_bytes()
        with self._lock:
            future = self._pending.get(target)
            if future is None:
                future = self._pool.submit(self._make, image, side, target)
                self._pending[target] = future
                future.add_done_callback(lambda _: self._forget(target))
        return future.result()

    def _forget(self, target: Path) -> None:
        with self._lock:
            self._pending.pop(target, None)

    def _make(self, image: Path, side: int, target: Path) -> bytes:
        with open_checked(image) as img:
            frame = ImageOps.exif_transpose(decode_checked(img, side)).convert("RGB")
        frame.thumbnail((side, side), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        frame.save(buf, "JPEG", quality=JPEG_QUALITY)
        data = buf.getvalue()
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".thumb-", dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
        return data

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
