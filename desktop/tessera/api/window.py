"""The hosting window: which shell it is, and bringing it forward for a second launch."""

from __future__ import annotations

from tessera import __version__
from tessera.api.http import ApiError, json_reply, route


@route("GET", r"/api/shell")
def shell_info(api, request):
    return json_reply({"shell": api.shell, "version": __version__})


@route("POST", r"/api/window/raise")
def raise_window(api, request):
    if api.raise_window is None:
        raise ApiError(501, "This Tessera has no window to bring forward.")
    api.raise_window()
    return json_reply({"ok": True})
