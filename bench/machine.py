"""The machine a run measured on, described the same way at the top of every results file."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text(encoding="utf-8").splitlines() if cpuinfo.is_file() else []
    return next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )


def machine_line(load_before: tuple[float, float, float]) -> str:
    """CPU, cores, OS, Python, and the load average before the run and now (after it)."""
    load_after = os.getloadavg()
    return (
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.release()} "
        f"{platform.machine()}, Python {sys.version.split()[0]}; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after."
    )
