"""Bare `tessera`: one running instance, its server, and the chosen window around the page."""

from __future__ import annotations

import sys

from tessera.shells.instance import InstanceLock, raise_running_window
from tessera.shells.page_session import running_server
from tessera.shells.window import choose_window


def launch_app(shell: str | None) -> int:
    lock = InstanceLock()
    if not lock.acquire():
        raise_running_window(lock)
        print("Tessera is already open; brought its window forward.", file=sys.stderr)
        return 0
    try:
        window = choose_window(shell)
        with running_server() as server:
            lock.publish(server.port, server.secret)
            return window.run(server)
    finally:
        lock.release()
