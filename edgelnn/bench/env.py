"""Environment fingerprint carried by every result row."""
from __future__ import annotations

import os
import platform
import socket
import sys

import numpy as np

from ..runtime import available_runtimes


def cpu_model() -> str:
    """CPU model from /proc/cpuinfo (x86 'model name', Arm 'Model'/'Hardware'), else platform."""
    try:
        with open("/proc/cpuinfo") as fh:
            info = {}
            for line in fh:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
        for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
            if info.get(key):
                return info[key]
    except OSError:
        pass
    return platform.processor() or platform.machine()


def mem_total_mb() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    return None


def fingerprint() -> dict:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "mem_total_mb": mem_total_mb(),
            "os": platform.platform(), "machine": platform.machine(),
            "python": platform.python_version(), "numpy": np.__version__,
            "runtimes": available_runtimes(), "executable": sys.executable}


def hostname() -> str:
    return socket.gethostname()
