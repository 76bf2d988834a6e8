"""The page reports its adapter; the banner follows from that report and the shell hosting it."""

from __future__ import annotations

from tessera.shells.banner import wasm_banner
from tests.api_client import api_server, call  # noqa: F401 (fixture)

HARDWARE = {"webgpu": True, "adapter": True, "software": False, "vendor": "nvidia"}
SOFTWARE = {"webgpu": True, "adapter": True, "software": True, "vendor": "google"}
NONE = {"webgpu": True, "adapter": False}


def test_report_is_stored_and_answered_with_the_banner(api_server):
    api_server.api.shell = "pywebview"
    status, body, _ = call(api_server, "POST", "/api/adapter", NONE)
    assert status == 200 and body["banner"] == wasm_banner("pywebview", NONE)
    assert api_server.api.adapter_reported.is_set()
    status, body, _ = call(api_server, "GET", "/api/adapter")
    assert body["report"] == NONE and body["shell"] == "pywebview" and body["banner"]


def test_no_banner_on_a_hardware_adapter():
    assert wasm_banner("pywebview", HARDWARE, "linux") is None
    assert wasm_banner("chromium-app", HARDWARE, "linux") is None


def test_qt_window_on_linux_says_why_and_how_to_get_gpu_speed():
    text = wasm_banner("pywebview", NONE, "linux")
    assert "built without WebGPU" in text and "install Chromium" in text


def test_other_cases_name_the_cause():
    assert "software GPU adapter" in wasm_banner("chromium-app", SOFTWARE, "linux")
    assert "no WebGPU adapter" in wasm_banner("pywebview", NONE, "win32")


def test_api_requests_with_a_foreign_host_or_origin_are_refused(api_server):
    status, _, _ = call(api_server, "GET", "/api/folders", headers={"Host": "evil.example:80"})
    assert status == 403
    status, _, _ = call(api_server, "POST", "/api/adapter", HARDWARE, headers={"Origin": "http://evil.example"})
    assert status == 403 and api_server.api.adapter_report is None
