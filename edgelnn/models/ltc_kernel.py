"""The fast LTC's unfold loops in C (``ltc_kernel.c``), built on first use with the machine's C
compiler and cached, called through ctypes: one call per sequence forward and one backward.

In torch operations an unfold of a small LTC costs ~5 (forward) and ~10 (backward) operations of
a few microseconds each, more than their arithmetic; in C it costs the arithmetic. Where no
compiler is found or the build fails, ``get()`` returns None (with one warning saying why) and
``ltc_fast`` runs its torch form, which computes the same function. ``EDGELNN_LTC_KERNEL=0``
turns the C form off.

The build is ``cc -O3 -march=native``: the library is cached per source, compiler and CPU (its
flags), in ``$EDGELNN_CACHE`` or ``~/.cache/edgelnn``; several processes building it at once each
write their own file and rename it into place.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("ltc_kernel.c")
FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fPIC", "-shared")
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}
_P, _I = ctypes.c_void_p, ctypes.c_int64
_FORWARD = [_I, _I, _I, _I, ctypes.c_int] + [_P] * 15
_BACKWARD = [_I, _I, _I, _I] + [_P] * 19
_state: dict = {}


def _cache_dir() -> Path:
    root = os.environ.get("EDGELNN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "edgelnn")
    return Path(root)


def _cpu() -> str:
    """What -march=native depends on: the CPU's feature flags (Linux), else the processor name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()}"


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _build() -> ctypes.CDLL:
    cc = _compiler()
    if cc is None:
        raise RuntimeError("no C compiler (cc, gcc or clang) on PATH")
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60).stdout
    key = hashlib.sha256("\0".join([SOURCE.read_text(), version, _cpu(), *FLAGS]).encode()).hexdigest()[:16]
    lib = _cache_dir() / f"ltc_kernel-{key}.so"
    if not lib.is_file():
        lib.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=lib.parent)
        os.close(fd)
        try:
            # a compiler that does not know -march=native (some clang on arm64) builds without it
            for flags in (FLAGS, tuple(f for f in FLAGS if f != "-march=native")):
                done = subprocess.run([cc, *flags, "-o", tmp, str(SOURCE), "-lm"],
                                      capture_output=True, text=True, timeout=300)
                if done.returncode == 0:
                    break
            else:
                last = (done.stderr.strip().splitlines() or ["no message"])[-1]
                raise RuntimeError(f"{Path(cc).name} failed to build {SOURCE.name}: {last}")
            os.replace(tmp, lib)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    dll = ctypes.CDLL(str(lib))
    for suffix in _SUFFIX.values():
        getattr(dll, f"ltc_forward_{suffix}").argtypes = _FORWARD
        getattr(dll, f"ltc_backward_{suffix}").argtypes = _BACKWARD
    return dll


def get() -> ctypes.CDLL | None:
    """The built library, or None (C form off, or no build: warned once)."""
    if os.environ.get("EDGELNN_LTC_KERNEL", "1") == "0":
        return None
    if "dll" not in _state:
        try:
            _state["dll"] = _build()
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            _state["dll"] = None
            warnings.warn(f"the fast LTC runs in torch operations, not its C kernel ({exc}): "
                          "training LTC models is slower", RuntimeWarning, stacklevel=2)
    return _state["dll"]


def usable(*tensors: torch.Tensor) -> bool:
    """The C form handles CPU tensors of float32 or float64."""
    return all(t.device.type == "cpu" and t.dtype in _SUFFIX for t in tensors) and get() is not None


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def forward(unfolds: int, crow, src, v0, num_c, den_c, cm_t, sigma, nsm, werev, w, save: bool):
    """As ``ltc_fast._unfold``: (states (T, R, B), vs, ss blocks, dens) -- the last three None
    without ``save``."""
    t, r, b = num_c.shape
    n = int(src.numel())
    c = [x.contiguous() for x in (v0, num_c, den_c, cm_t)]
    p = [x.reshape(-1).contiguous() for x in (sigma, nsm, werev, w)]
    states = v0.new_empty(t, r, b)
    if save:
        vs = v0.new_empty(t * unfolds + 1, r, b)
        ss = [v0.new_empty(unfolds, n, b) for _ in range(t)]
        dens = v0.new_empty(t * unfolds, r, b)
        blocks, work = (ctypes.c_void_p * t)(*[s.data_ptr() for s in ss]), None
    else:
        vs = ss = dens = blocks = None
        work = v0.new_empty(2 * r + 1, b)
    fn = getattr(get(), f"ltc_forward_{_SUFFIX[v0.dtype]}")
    fn(t, r, b, unfolds, int(save), *map(_ptr, c), crow.data_ptr(), src.data_ptr(), *map(_ptr, p),
       states.data_ptr(), _ptr(vs), blocks, _ptr(dens), _ptr(work))
    return states, vs, ss, dens


def backward(unfolds: int, crow, src, vs, ss, dens, cm_t, sigma, werev, w, g_states):
    """Gradients of ``forward``'s saved inputs: g_v0, g_num_c, g_den_c, g_cm_t, g_sigma, g_nsm,
    g_werev, g_w (the last four (E, 1))."""
    t, r, b = cm_t.shape
    n = int(src.numel())
    cm_t, g_states = cm_t.contiguous(), g_states.contiguous()
    p = [x.reshape(-1).contiguous() for x in (sigma, werev, w)]
    g_v0 = vs.new_empty(r, b)
    g_c = vs.new_empty(3, t, r, b)
    g_e = vs.new_empty(4, n, 1)
    work = vs.new_empty(4 * r * b + 4 * n * b)
    blocks = (ctypes.c_void_p * t)(*[s.data_ptr() for s in ss])
    fn = getattr(get(), f"ltc_backward_{_SUFFIX[vs.dtype]}")
    fn(t, r, b, unfolds, vs.data_ptr(), blocks, dens.data_ptr(), cm_t.data_ptr(), crow.data_ptr(),
       src.data_ptr(), *map(_ptr, p), g_states.data_ptr(), g_v0.data_ptr(),
       *[g.data_ptr() for g in g_c], *[g.data_ptr() for g in g_e], work.data_ptr())
    return (g_v0, *g_c, *g_e)
