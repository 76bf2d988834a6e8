"""The loopback HTTP server between the web page and the Python shell.

It serves the built web app, model files, the images the user granted, and a small JSON API.
Security, in order of checks: binds 127.0.0.1 only; the Host header must name this server (so
a DNS-rebinding page can't talk to it); every request must carry the per-launch secret, either
as the `X-Tessera-Token` header or as the cookie the server sets when the page is first opened
with `?token=`; POSTs from another origin are refused. Responses carry a strict CSP and
COOP/COEP, which also makes the page cross-origin isolated so wasm can use threads.
"""

from __future__ import annotations

import hmac
import json
import mimetypes
import os
import queue
import re
import secrets
import shutil
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from tessera.api import Api
from tessera.api.http import Reply, Request
from tessera.library.grants import Grants, NotGranted
from tessera.local_http import LocalHttpServer
from tessera.models import list_models

CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "img-src 'self' blob: data:",
    "media-src 'self' blob:",
    "style-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The camera view needs the camera, for this origin only; nothing else is ever asked for.
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), display-capture=(), usb=(), serial=(), hid=(), "
                          "payment=()",
}
MAX_POST_BYTES = 1 << 20
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/wasm", ".wasm")


class TesseraServer(LocalHttpServer):
    """One server per launch; start() it, hand app_url() to a browser, stop() when done."""

    def __init__(self, web_dir: Path):
        self.web_dir = Path(os.path.realpath(web_dir))
        self.secret = secrets.token_urlsafe(32)
        self.grants = Grants()
        self.api = Api(self.grants)
        self.jobs = self.api.jobs
        self.doctor_reports: "queue.Queue[dict]" = queue.Queue()
        self.mounts: dict[str, Path] = {}
        super().__init__(_make_handler(self))

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def allowed_hosts(self) -> set[str]:
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    @property
    def cookie_name(self) -> str:
        return f"tessera-{self.port}"   # per port: two launches on one host don't collide

    def app_url(self, **params: str) -> str:
        return f"{self.origin}/?{urlencode({'token': self.secret, **params})}"

    def mount(self, prefix: str, folder: Path) -> None:
        """Serve folder's files, read-only, under /<prefix>/ (with the web app's checks)."""
        if not re.fullmatch(r"[\w-]+", prefix):
            raise ValueError(f"bad mount prefix {prefix!r}")
        self.mounts[prefix] = Path(os.path.realpath(folder))

    def stop(self) -> None:
        self.api.close()
        super().stop()


def _make_handler(app: TesseraServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "Tessera"
        sys_version = ""

        def log_message(self, format: str, *args) -> None:  # quiet: the CLI owns the terminal
            pass

        # -- responses ------------------------------------------------------------------
        def _headers(self, status: int, content_type: str, length: int, extra: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(length))
            for k, v in {"Cache-Control": "no-store", **SECURITY_HEADERS, **(extra or {})}.items():
                self.send_header(k, v)
            self.end_headers()

        def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8"):
            self._headers(status, content_type, len(body))
            if self.command != "HEAD":
                self.wfile.write(body)

        def _reply(self, reply: Reply):
            self._headers(reply.status, reply.content_type, len(reply.body), reply.headers)
            if self.command != "HEAD":
                self.wfile.write(reply.body)

        def _api(self, path: str, query: dict) -> bool:
            """Answer from the JSON API if one of its endpoints matches; False otherwise."""
            length = int(self.headers.get("Content-Length") or 0)
            method = "GET" if self.command == "HEAD" else self.command
            try:
                reply = app.api.handle(Request(method, path, query, length, self.rfile))
            except Exception as e:   # a bug: one sentence for the page, never a traceback
                reply = Reply(500, f"Tessera hit an internal error: {type(e).__name__}: {e}".encode(),
                              "text/plain; charset=utf-8")
            if reply is None:
                return False
            self._reply(reply)
            return True

        def _json(self, obj, status: int = 200):
            self._send(status, json.dumps(obj).encode(), "application/json")

        def _error(self, status: int, message: str):
            self._send(status, message.encode())

        def _file(self, path: Path):
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            with open(path, "rb") as f:
                self._headers(200, ctype, os.fstat(f.fileno()).st_size)
                if self.command != "HEAD":
                    shutil.copyfileobj(f, self.wfile, 1 << 20)

        # -- checks ---------------------------------------------------------------------
        def _authorised(self) -> bool:
            token = self.headers.get("X-Tessera-Token")
            if token is None:
                cookie = SimpleCookie(self.headers.get("Cookie", ""))
                token = cookie[app.cookie_name].value if app.cookie_name in cookie else None
            return token is not None and hmac.compare_digest(token, app.secret)

        def _gate(self) -> tuple[str, dict] | None:
            """Common checks; returns (path, query) when the request may proceed."""
            allowed_hosts = app.allowed_hosts
            if self.headers.get("Host") not in allowed_hosts:
                self._error(HTTPStatus.FORBIDDEN, "bad Host header")
                return None
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            token = query.pop("token", None)
            if token is not None and self.command in ("GET", "HEAD"):
                if not hmac.compare_digest(token, app.secret):
                    self._error(HTTPStatus.FORBIDDEN, "bad token")
                    return None
                # Trade the token in the URL for a cookie, and drop it from the address bar.
                location = parts.path + (f"?{urlencode(query)}" if query else "")
                self.send_response(HTTPStatus.SEE_OTHER)
                self.send_header("Location", location)
                self.send_header("Set-Cookie", f"{app.cookie_name}={app.secret}; Path=/; "
                                 "HttpOnly; SameSite=Strict")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if not self._authorised():
                self._error(HTTPStatus.FORBIDDEN, "missing or wrong launch secret")
                return None
            origin = self.headers.get("Origin")
            if self.command == "POST" and origin not in (None, *(f"http://{h}" for h in allowed_hosts)):
                self._error(HTTPStatus.FORBIDDEN, "cross-origin request refused")
                return None
            return unquote(parts.path), query

        # -- verbs ----------------------------------------------------------------------
        def do_GET(self):
            gated = self._gate()
            if gated is None:
                return
            path, query = gated
            try:
                if not self._api(path, query):
                    self._route_get(path)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_HEAD = do_GET

        def do_POST(self):
            gated = self._gate()
            if gated is None:
                return
            path, query = gated
            if self._api(path, query):
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_POST_BYTES:
                return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request too large")
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self._error(HTTPStatus.BAD_REQUEST, "body is not JSON")
            self._route_post(path, body)

        # -- routes ---------------------------------------------------------------------
        def _route_get(self, path: str):
            if m := re.fullmatch(r"/api/jobs/([\w-]+)", path):
                job = app.jobs.get(m[1])
                return self._json(job.spec()) if job else self._error(404, "no such job")
            if m := re.fullmatch(r"/models/([\w.-]+)/([\w.-]+)", path):
                return self._model_file(m[1], m[2])
            if m := re.fullmatch(r"/files/([\w-]+)(?:/(.*))?", path):
                return self._granted_file(m[1], m[2] or "")
            if (m := re.fullmatch(r"/([\w-]+)/(.+)", path)) and m[1] in app.mounts:
                return self._file_under(app.mounts[m[1]], m[2])
            return self._file_under(app.web_dir, path.lstrip("/") or "index.html")

        def _route_post(self, path: str, body: dict):
            if m := re.fullmatch(r"/api/jobs/([\w-]+)/(status|results)", path):
                job = app.jobs.get(m[1])
                if job is None:
                    return self._error(404, "no such job")
                job.events.put((m[2], body))
                return self._json({"ok": True})
            if path == "/api/doctor":
                app.doctor_reports.put(body)
                return self._json({"ok": True})
            return self._error(404, "no such endpoint")

        def _model_file(self, name: str, filename: str):
            model = {m.name: m for m in list_models()}.get(name)
            if model is None or filename.startswith("."):
                return self._error(404, "no such model")
            target = model.folder / filename
            if not target.is_file():
                return self._error(404, "no such model file")
            self._file(target)

        def _granted_file(self, grant_id: str, relpath: str):
            # Pillow is needed only here; the benchmark host runs the server without it.
            from tessera.library.images import ImageRejected, prepare_for_browser

            try:
                target = app.grants.resolve(grant_id, relpath)
            except NotGranted:
                return self._error(HTTPStatus.FORBIDDEN, "not a granted file")
            try:
                image = prepare_for_browser(target)
            except ImageRejected as e:
                return self._error(HTTPStatus.UNPROCESSABLE_ENTITY, str(e))
            self._send(200, image.data, image.content_type)

        def _file_under(self, root: Path, rel: str):
            target = Path(os.path.realpath(root / rel))
            if os.path.commonpath([target, root]) != str(root) or not target.is_file():
                return self._error(404, "not found")
            self._file(target)

    return Handler
