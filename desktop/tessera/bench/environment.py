"""What the figures were measured on: machine, browser and flags (the adapter comes from the page)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from tessera.shells.browsers import find_browser, launch_flags

NVIDIA_QUERY = "name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu"


def machine_info() -> dict:
    return {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor() or None, "cpu_count": os.cpu_count(),
            "python": platform.python_version()}


def browser_info() -> dict:
    """The executable and the flags every bench page is started with (minus its profile)."""
    flags = [f for f in launch_flags(Path("profile"), headless=True)
             if not f.startswith("--user-data-dir=")]
    return {"executable": str(find_browser()), "flags": flags, "user_agent": None}


def nvidia_gpus() -> list[dict] | None:
    """nvidia-smi's view (clocks matter: an idle H100 runs at a fraction of its speed), if any."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={NVIDIA_QUERY}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    keys = NVIDIA_QUERY.split(",")
    return [dict(zip(keys, (v.strip() for v in line.split(",")))) for line in out.splitlines() if line.strip()]


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
