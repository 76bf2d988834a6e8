"""The window's banner: what the page's own adapter report means for this shell.

The choice of backend is made by probing (the page reports the adapter it got), not by
guessing from the platform; this only turns that report into words for the user.
"""

from __future__ import annotations

import sys


def wasm_banner(shell: str, report: dict, platform: str = sys.platform) -> str | None:
    """One or two sentences when the page can't use the GPU, else None."""
    if report.get("adapter") and not report.get("software"):
        return None
    if shell == "pywebview" and platform.startswith("linux"):
        why = ("This window (Qt WebEngine from PyPI) is built without WebGPU, so models run on "
               "the CPU (WebAssembly).")
        how = ("For GPU speed, install Chromium, Chrome, Edge or Brave and start Tessera again "
               "(it opens them in app mode), or run `tessera --shell chromium-app`.")
    elif report.get("adapter"):
        why = "Only a software GPU adapter is available, so models run on the CPU (WebAssembly), which is faster here."
        how = "Check the graphics driver, and run `tessera doctor` to see what the browser offers."
    else:
        why = "This browser offers no WebGPU adapter, so models run on the CPU (WebAssembly)."
        how = ("Update the browser and graphics driver, make sure WebGPU is not disabled "
               "(chrome://gpu), and run `tessera doctor` for details.")
    return f"{why} {how}"
