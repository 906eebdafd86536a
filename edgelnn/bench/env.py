"""Environment fingerprint carried by every result row."""
from __future__ import annotations

import os
import platform
import socket
import sys

import numpy as np

from ..runtime import available_runtimes
from ..probe import cpu_model, memory_mb  # stdlib-only: also what a device probe reads


def fingerprint() -> dict:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "mem_total_mb": memory_mb(),
            "os": platform.platform(), "machine": platform.machine(),
            "python": platform.python_version(), "numpy": np.__version__,
            "runtimes": available_runtimes(), "executable": sys.executable}


def hostname() -> str:
    return socket.gethostname()
