"""Finding an installed Chromium-family browser, and the flags that give it WebGPU."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from tessera.errors import TesseraError

# Names on PATH, most specific first; Chromium-family browsers all take the same flags.
PATH_NAMES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
              "microsoft-edge", "microsoft-edge-stable", "brave-browser", "brave"]
STANDARD_LOCATIONS = {
    "linux": ["/usr/lib/chromium/chromium", "/opt/google/chrome/chrome",
              "/opt/microsoft/msedge/msedge", "/opt/brave.com/brave/brave",
              "/snap/bin/chromium"],
    "darwin": ["/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
               "/Applications/Chromium.app/Contents/MacOS/Chromium",
               "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
               "/Applications/Brave Browser.app/Contents/MacOS/Brave Browser"],
    "win32": [r"%ProgramFiles%\Google\Chrome\Application\chrome.exe",
              r"%ProgramFiles(x86)%\Microsoft\Edge\Application\msedge.exe",
              r"%ProgramFiles%\BraveSoftware\Brave-Browser\Application\brave.exe",
              r"%LocalAppData%\Google\Chrome\Application\chrome.exe"],
}
# Quiet, private, WebGPU on: no first-run UI, no phoning home (there may be no network).
COMMON_FLAGS = [
    "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
    "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
    "--enable-unsafe-webgpu",
    # Lets a machine with no GPU still offer a (software) adapter; `auto` then picks wasm.
    "--enable-unsafe-swiftshader",
]
if sys.platform.startswith("linux"):
    COMMON_FLAGS.append("--enable-features=Vulkan")  # Chromium's WebGPU on Linux runs on Vulkan


def find_browser() -> Path:
    """The browser to use: $TESSERA_BROWSER, else the first one found."""
    override = os.environ.get("TESSERA_BROWSER")
    if override:
        path = Path(shutil.which(override) or override)
        if not path.is_file():
            raise TesseraError(f"TESSERA_BROWSER is set to {override!r}, which is not a browser "
                               "executable; fix or unset it.")
        return path
    for name in PATH_NAMES:
        if found := shutil.which(name):
            return Path(found)
    platform = "win32" if sys.platform == "win32" else sys.platform if sys.platform == "darwin" else "linux"
    for loc in STANDARD_LOCATIONS[platform]:
        path = Path(os.path.expandvars(loc))
        if path.is_file():
            return path
    raise TesseraError("No Chromium-family browser was found: install Chromium, Chrome, Edge or "
                       "Brave (on Debian/Ubuntu: apt install chromium), or set TESSERA_BROWSER "
                       "to its executable.")


def user_flags() -> list[str]:
    """The flags $TESSERA_BROWSER_FLAGS adds to Tessera's own."""
    return os.environ.get("TESSERA_BROWSER_FLAGS", "").split()


def launch_flags(profile_dir: Path, *, headless: bool) -> list[str]:
    flags = [*COMMON_FLAGS, f"--user-data-dir={profile_dir}"]
    if headless:
        flags.append("--headless=new")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--no-sandbox")    # Chromium refuses to run as root with its sandbox
    flags.extend(user_flags())
    return flags
