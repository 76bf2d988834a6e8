"""`tessera doctor`: what browser and WebGPU adapter this machine offers, and what `auto` picks."""

from __future__ import annotations

from tessera.shells.browsers import find_browser
from tessera.shells.page_session import page_session, running_server

DOCTOR_TIMEOUT_S = 90


def doctor_report() -> dict:
    browser = find_browser()
    with running_server() as server:
        with page_session(server, mode="doctor") as page:
            report = page.wait(server.doctor_reports, DOCTOR_TIMEOUT_S, "probing WebGPU")
    report["browser"] = str(browser)
    report["auto_backend"] = "webgpu" if report.get("adapter") and not report.get("software") else "wasm"
    return report


def _subgroups(r: dict) -> str:
    """As the Diagnostics view says it (adapter.ts describeSubgroups), in ASCII."""
    sizes = r.get("subgroupSizes")
    if not sizes:
        return "no"
    return f"yes, size {sizes['min']}" if sizes["min"] == sizes["max"] else f"yes, sizes {sizes['min']}-{sizes['max']}"


def format_report(r: dict) -> str:
    lines = [f"browser:    {r['browser']}", f"user agent: {r.get('userAgent', '?')}"]
    if not r.get("webgpu"):
        lines.append("WebGPU:     not available in this browser (navigator.gpu is missing)")
    elif not r.get("adapter"):
        lines.append("WebGPU:     no adapter (requestAdapter() returned null"
                     + (f": {r['error']})" if r.get("error") else ")"))
    else:
        kind = "software" if r.get("software") else "hardware"
        lines += [
            f"adapter:    {r.get('vendor') or '?'} / {r.get('architecture') or '?'} "
            f"({kind}{', fallback' if r.get('fallback') else ''})",
            f"            {r.get('description') or ''}".rstrip(),
            f"shader-f16: {'yes' if 'shader-f16' in r.get('features', []) else 'no'}    "
            f"subgroups: {_subgroups(r)}    int8 matrix units: {'yes' if r.get('int8Matrices') else 'no'}",
        ]
        lines += [f"{k}: {v}" for k, v in (r.get("limits") or {}).items()]
    lines.append(f"cross-origin isolated: {r.get('crossOriginIsolated')}  "
                 f"(wasm threads: {r.get('hardwareConcurrency') if r.get('crossOriginIsolated') else 1})")
    why = "" if r["auto_backend"] == "webgpu" else (
        " (software adapter only: wasm is faster)" if r.get("adapter") else " (no WebGPU adapter)")
    lines.append(f"auto backend: {r['auto_backend']}{why}")
    return "\n".join(l for l in lines if l.strip())
