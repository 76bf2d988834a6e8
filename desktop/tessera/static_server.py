"""A small static file server for trying a static build (`tessera serve --static OUT`).

It behaves like the static hosts the build is meant for, so the site can be tested as deployed:
it binds 127.0.0.1 only, answers GET and HEAD with byte ranges (206, or 416 when a range
can't be satisfied) and ETag revalidation (304), sends the MIME types the page needs (.wasm,
.webmanifest, .mjs), and sends the headers the build's `_headers` file lists, rule by rule,
as Netlify or Cloudflare Pages would (COOP/COEP, cache policy). Files are never listed.
"""

from __future__ import annotations

import mimetypes
import os
import re
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tessera.errors import TesseraError
from tessera.local_http import LocalHttpServer

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
}
# Files that configure the host and are never served (as on the hosts that read them).
HIDDEN = {"_headers", ".tessera-static"}


def parse_headers_file(text: str) -> list[tuple[re.Pattern, list[tuple[str, str]]]]:
    """The rules of a `_headers` file: an unindented path pattern (`*` matches anything,
    slashes included), then its indented `Name: value` lines; `#` starts a comment line."""
    rules: list[tuple[re.Pattern, list[tuple[str, str]]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            pattern = "".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", line.strip()))
            rules.append((re.compile(pattern), []))
        elif ":" in line and rules:
            name, value = line.split(":", 1)
            rules[-1][1].append((name.strip(), value.strip()))
        else:
            raise TesseraError(f"_headers line {number} is neither a path nor a 'Name: value' header: {line.strip()!r}")
    return rules


def parse_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """The one byte range of a `Range: bytes=...` header as (first, last) inclusive; None when the
    header asks for something else (several ranges, other units: the whole file is sent);
    False when it can't be satisfied (416)."""
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not m or m[1] == m[2] == "":
        return None
    if m[1] == "":                                   # the last N bytes
        n = int(m[2])
        return (max(0, size - n), size - 1) if n and size else False
    first = int(m[1])
    last = min(int(m[2]), size - 1) if m[2] else size - 1
    return (first, last) if first < size and first <= last else False


class StaticServer(LocalHttpServer):
    """Serves one folder on 127.0.0.1; start() it, stop() it (or use it as a context manager)."""

    thread_name = "tessera-static"

    def __init__(self, root: Path, port: int = 0):
        self.root = Path(os.path.realpath(root))
        if not (self.root / "index.html").is_file():
            raise TesseraError(f"{root} has no index.html: build the static site first "
                               "(python build_scripts/build_web.py --static OUT).")
        headers_file = self.root / "_headers"
        self.rules = parse_headers_file(headers_file.read_text(encoding="utf-8")) if headers_file.is_file() else []
        try:
            super().__init__(_make_handler(self), port)
        except OSError as e:
            raise TesseraError(f"Can't listen on 127.0.0.1:{port} ({e.strerror}); pick another --port.") from None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def headers_for(self, path: str) -> list[tuple[str, str]]:
        """Every header of every `_headers` rule whose pattern matches the request path."""
        return [h for pattern, headers in self.rules if pattern.fullmatch(path) for h in headers]


def _make_handler(site: StaticServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "Tessera-static"
        sys_version = ""
        protocol_version = "HTTP/1.1"     # keep-alive: the page fetches many files in parallel

        def log_message(self, format: str, *args) -> None:   # quiet: one line per request is noise
            pass

        def do_GET(self) -> None:
            try:
                self._answer()
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_HEAD = do_GET

        def _plain(self, status: int, text: str, extra: dict | None = None) -> None:
            body = text.encode()
            self.send_response(status)
            for k, v in {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body)),
                         **(extra or {})}.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _answer(self) -> None:
            path = unquote(urlsplit(self.path).path)
            rel = path.lstrip("/")
            target = Path(os.path.realpath(site.root / rel))
            if target.is_dir():
                target = target / "index.html"
            inside = os.path.commonpath([target, site.root]) == str(site.root)
            if not inside or not target.is_file() or target.name in HIDDEN:
                return self._plain(HTTPStatus.NOT_FOUND, "not found")
            stat = target.stat()
            size = stat.st_size
            etag = f'"{stat.st_mtime_ns:x}-{size:x}"'
            common = [("Content-Type", TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
                       or "application/octet-stream"),
                      ("Accept-Ranges", "bytes"), ("ETag", etag),
                      ("Last-Modified", formatdate(stat.st_mtime, usegmt=True)),
                      *site.headers_for(path)]
            if etag in (self.headers.get("If-None-Match") or ""):
                self.send_response(HTTPStatus.NOT_MODIFIED)
                for k, v in common:
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            wanted = parse_range(self.headers["Range"], size) if self.headers.get("Range") else None
            if wanted is False:
                return self._plain(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, "range not satisfiable",
                                   {"Content-Range": f"bytes */{size}"})
            first, last = wanted or (0, size - 1)
            self.send_response(HTTPStatus.PARTIAL_CONTENT if wanted else HTTPStatus.OK)
            for k, v in common:
                self.send_header(k, v)
            if wanted:
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            self.send_header("Content-Length", str(last - first + 1))
            self.end_headers()
            if self.command == "HEAD":
                return
            with open(target, "rb") as f:
                f.seek(first)
                _copy(f, self.wfile, last - first + 1)

    return Handler


def _copy(src, dst, n: int) -> None:
    while n > 0:
        chunk = src.read(min(n, 1 << 20))
        if not chunk:
            break
        dst.write(chunk)
        n -= len(chunk)

