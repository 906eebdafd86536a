"""Training peak memory: how much resident memory one training run added at its peak.

Method (Linux): before the run, collect garbage and hand freed heap pages back to the OS
(glibc ``malloc_trim``), read the resident set (VmRSS) and reset the process's high-water mark
(writing ``5`` to ``/proc/self/clear_refs``); after the run, read the high-water mark (VmHWM).
``peak_mb`` = (VmHWM - VmRSS before) / 2**20: everything the run itself held at once -- model,
optimiser state, the autograd graph of a BPTT batch, data tensors, the best-state copy -- above
what the process already held. It is cheap (two /proc reads), works in a long-lived worker
that trains model after model, and sees torch's tensors (tracemalloc does not). What it cannot
separate: memory another thread of the same process allocates meanwhile. Elsewhere (no /proc,
or no reset permission) it is None rather than a number that would mean something else.

torch initialises itself lazily: once per process on the first forward, backward and optimiser
step (~85 MB resident here), then per kind and tensor shape (kernel and primitive caches, up to
1.2 MB here and 2.6 MB on another CPU). ``edgelnn.train.loop`` trains a tiny model once per
process and rehearses every shape of a run on a throwaway model, once per process and model
shape, so a figure does not depend on whether its run was the process's first (0.03-0.14 MB
apart here, 0.8 with the first alone).
"""
from __future__ import annotations

import ctypes
import gc
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """``with PeakMemory() as peak: ...``; then ``peak.mb`` (None where it cannot be measured)."""

    def __init__(self):
        self.base_kb: int | None = None
        self.peak_kb: int | None = None
        self._ok = False

    def __enter__(self) -> "PeakMemory":
        gc.collect()
        _trim()
        self.base_kb = _status_kb("VmRSS")
        self._ok = self.base_kb is not None and _reset_peak()
        if self._ok:  # the reset sets the mark to the current RSS: check it really did
            hwm = _status_kb("VmHWM")
            self._ok = hwm is not None and hwm <= self.base_kb + 1024
        return self

    def __exit__(self, *exc) -> None:
        self.peak_kb = _status_kb("VmHWM") if self._ok else None

    @property
    def mb(self) -> float | None:
        if self.peak_kb is None or self.base_kb is None:
            return None
        return round(max(0, self.peak_kb - self.base_kb) / 1024.0, 2)
