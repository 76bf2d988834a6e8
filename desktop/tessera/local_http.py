"""A threaded HTTP server on 127.0.0.1 only, run in a daemon thread: the one way Tessera
listens (the app's server and the static-site server both build on it)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalHttpServer:
    """Binds 127.0.0.1:`port` (0: any free port) at construction, so `port` is known before
    start(); start() serves in a daemon thread, stop() (or leaving a `with`) shuts it down."""

    thread_name = "tessera-http"

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0):
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self.port: int = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self):
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.1,), name=self.thread_name,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
