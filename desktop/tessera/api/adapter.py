"""The page reports the WebGPU adapter it got; the shell's banner follows from that report."""

from __future__ import annotations

from tessera.api.http import json_reply, route
from tessera.shells.banner import wasm_banner


@route("POST", r"/api/adapter")
def report_adapter(api, request):
    api.adapter_report = request.json()
    api.adapter_reported.set()
    return json_reply({"banner": wasm_banner(api.shell, api.adapter_report)})


@route("GET", r"/api/adapter")
def last_report(api, request):
    report = api.adapter_report
    return json_reply({"shell": api.shell, "report": report,
                       "banner": wasm_banner(api.shell, report) if report else None})
