"""The ``c`` runtime: a generated C artifact compiled by the system C compiler into a shared
library (cached by sha256) and called through ctypes.

A small shim compiled with the artifact checks inputs in C (x finite, dt finite and > 0)
before calling ``<prefix>_step`` / ``<prefix>_run``, so ``Runner.step`` keeps its input
checks without Python-side scans. ``invoke`` returns views of the runner's own buffers
(valid until the next call); the state stays in C-visible memory between calls.
"""
from __future__ import annotations

import ctypes
import re
from pathlib import Path

import numpy as np

from ...errors import BundleError, InputError
from ..base import Runner
from ..integrity import verify_sha256
from .toolchain import CompileError, build_shared

PREFIX_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

SHIM = """/* edgelnn c runtime shim: input checks in C, then the artifact's own API. */
#include <math.h>
#include "{header}"

int {p}_edgelnn_sizes(int *out)
{{
    out[0] = {P}_INPUT_SIZE;
    out[1] = {P}_OUTPUT_SIZE;
    out[2] = {P}_STATE_SIZE;
    return 3;
}}

static int {p}_edgelnn_bad(const float *x, const float *dt, int n)
{{
    int i;
    for (i = 0; i < n; i++)
        if (!(dt[i] > 0.0f) || !isfinite(dt[i])) return 2;
    for (i = 0; i < n * {P}_INPUT_SIZE; i++)
        if (!isfinite(x[i])) return 1;
    return 0;
}}

int {p}_edgelnn_step(const float *x, float dt, float *state, float *y)
{{
    int bad = {p}_edgelnn_bad(x, &dt, 1);
    if (bad) return bad;
    {p}_step(x, dt, state, y);
    return 0;
}}

/* One checked step through a context: one pointer argument is the cheapest call ctypes makes.
   in[0..INPUT_SIZE) = x, in[INPUT_SIZE] = dt. */
typedef struct {{ const float *in; float *state; float *y; }} {p}_edgelnn_ctx;

int {p}_edgelnn_step1(const {p}_edgelnn_ctx *c)
{{
    int bad = {p}_edgelnn_bad(c->in, c->in + {P}_INPUT_SIZE, 1);
    if (bad) return bad;
    {p}_step(c->in, c->in[{P}_INPUT_SIZE], c->state, c->y);
    return 0;
}}

int {p}_edgelnn_run(const float *x, const float *dt, int n, float *state, float *y)
{{
    int bad = {p}_edgelnn_bad(x, dt, n);
    if (bad) return bad;
    {p}_run(x, dt, n, state, y);
    return 0;
}}
"""

VOIDP, FLOAT, INT = ctypes.c_void_p, ctypes.c_float, ctypes.c_int


class _Ctx(ctypes.Structure):
    _fields_ = [("inp", VOIDP), ("state", VOIDP), ("y", VOIDP)]


def artifact_sources(path: Path, artifact: dict) -> tuple[str, dict[str, str]]:
    """(prefix, {file: text}) of a C artifact and its header, the header's sha256 checked."""
    prefix = str(artifact.get("c_prefix") or "")
    if not PREFIX_RE.match(prefix):
        raise BundleError(f"artifact {path.name}: manifest has no valid c_prefix ({prefix!r})")
    header = None
    for extra in artifact.get("extra_files") or []:
        if str(extra.get("file", "")).endswith(".h"):
            header = path.parent / Path(extra["file"]).name
            if not header.is_file():
                raise BundleError(f"artifact {path.name}: header {header.name} is missing")
            if extra.get("sha256"):
                verify_sha256(header, extra["sha256"])
    if header is None:
        header = path.with_suffix(".h")
        if not header.is_file():
            raise BundleError(f"artifact {path.name}: header {header.name} is missing")
    sources = {path.name: path.read_text(), header.name: header.read_text(),
               "edgelnn_shim.c": SHIM.format(p=prefix, P=prefix.upper(), header=header.name)}
    return prefix, sources


class CRunner(Runner):
    format = "c"
    runtime = "c"

    def __init__(self, path, artifact: dict, state_sizes: list[int], *, threads: int | None = 1,
                 native: bool = True):
        path = Path(path)
        prefix, sources = artifact_sources(path, artifact)
        try:
            lib_path, self.build = build_shared(sources, [path.name, "edgelnn_shim.c"], native=native)
        except CompileError as exc:
            raise BundleError(f"artifact {path.name} does not compile: {exc}") from None
        self.runtime_version = self.build["compiler"]
        lib = ctypes.CDLL(str(lib_path))
        self._lib = lib
        sizes = (ctypes.c_int * 3)()
        getattr(lib, f"{prefix}_edgelnn_sizes")(sizes)
        n_in, n_out, n_state = int(sizes[0]), int(sizes[1]), int(sizes[2])
        if n_state != sum(int(s) for s in state_sizes):
            raise BundleError(f"artifact {path.name}: state size {n_state} but the manifest's state "
                              f"tensors add up to {sum(state_sizes)}")
        self.prefix = prefix
        self._cstep = getattr(lib, f"{prefix}_edgelnn_step")
        self._cstep.argtypes, self._cstep.restype = [VOIDP, FLOAT, VOIDP, VOIDP], INT
        self._crun = getattr(lib, f"{prefix}_edgelnn_run")
        self._crun.argtypes, self._crun.restype = [VOIDP, VOIDP, INT, VOIDP, VOIDP], INT
        self.raw_step = getattr(lib, f"{prefix}_step")      # the artifact's own entry points
        self.raw_step.argtypes, self.raw_step.restype = [VOIDP, FLOAT, VOIDP, VOIDP], None
        self.raw_run = getattr(lib, f"{prefix}_run")
        self.raw_run.argtypes, self.raw_run.restype = [VOIDP, VOIDP, INT, VOIDP, VOIDP], None
        self._step1 = getattr(lib, f"{prefix}_edgelnn_step1")
        self._step1.argtypes, self._step1.restype = [VOIDP], INT
        self._in = np.zeros(n_in + 1, np.float32)        # x then dt
        self._x = self._in[:n_in]
        self._x2 = self._x.reshape(1, n_in)
        self._xv = {1: self._x, 2: self._x2}
        self._s = np.zeros(n_state, np.float32)
        self._y = np.zeros(n_out, np.float32)
        self._y2 = self._y.reshape(1, n_out)
        bounds = np.cumsum([0, *[int(s) for s in state_sizes]])
        self._views = [self._s[a:b].reshape(1, -1) for a, b in zip(bounds[:-1], bounds[1:])]
        self._xp, self._sp, self._yp = (VOIDP(a.ctypes.data) for a in (self._x, self._s, self._y))
        self._ctx = _Ctx(self._in.ctypes.data, self._s.ctypes.data, self._y.ctypes.data)
        self._ctxp = VOIDP(ctypes.addressof(self._ctx))
        self._last_run = None
        super().__init__(path, artifact, state_sizes, threads=threads, input_size=n_in,
                         output_size=n_out)
        # what shaped the numbers: the host build's flags (the compiler is runtime_version)
        self.providers_used = ["CPU " + " ".join(f for f in self.build["flags"]
                                                 if f not in ("-shared", "-fPIC", "-dynamiclib")
                                                 and not f.startswith("-Wl,"))]

    # -- the raw call ----------------------------------------------------------------------
    def _load_state(self, states) -> None:
        for view, s in zip(self._views, states):
            if s is not view:
                view[...] = s

    def invoke(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        self._x2[...] = feeds[0]
        dt = feeds[1]
        self._in[-1] = dt.item() if dt.__class__ is np.ndarray and dt.size == 1 else \
            np.asarray(dt, np.float32).reshape(-1)[0]
        states = feeds[2:]
        if states[0] is not self._views[0] or len(states) > 1:
            self._load_state(states)
        rc = self._step1(self._ctxp)
        if rc:
            self._raise(rc)
        return [self._y2, *self._views]

    def _raise(self, rc: int):
        if rc == 1:
            raise InputError(f"{self.name}: x contains NaN or inf; clean or impute the input first")
        raise InputError(f"{self.name}: dt must be finite and > 0 (elapsed time since the "
                         "previous sample)")

    # -- the public API, checks in C -----------------------------------------------------------
    def reset(self) -> None:
        self._ended = False
        self._s[...] = 0.0
        self._state = self._views

    def step(self, x, dt: float) -> np.ndarray:
        """One sample -> y (O,). Inputs are checked in C before the state changes."""
        try:
            if x.size != self.input_size:
                raise ValueError
            self._xv[x.ndim][...] = x
        except (AttributeError, ValueError, TypeError, KeyError):
            self._x[...] = self._step_x(x).reshape(-1)      # any other form, checked in Python
        self._in[-1] = dt if dt.__class__ is float else self._step_dt(dt)
        if self._state is not self._views:
            self._load_state(self._state)
            self._state = self._views
        rc = self._step1(self._ctxp)
        if rc:
            self._raise(rc)
        return self._y.copy()

    def _run_steps(self, x: np.ndarray, dt: np.ndarray) -> np.ndarray:
        """A whole sequence in one ``<prefix>_run`` call."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        dt = np.ascontiguousarray(dt, dtype=np.float32)
        y = np.empty((len(x), self.output_size), dtype=np.float32)
        if self._state is not self._views:
            self._load_state(self._state)
            self._state = self._views
        rc = self._crun(x.ctypes.data, dt.ctypes.data, len(x), self._sp, y.ctypes.data)
        if rc:
            self._raise(rc)
        return y

    def invoke_run(self, x: np.ndarray, dt: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The raw sequence call: ``<prefix>_run`` over len(x) samples into ``out`` (float32,
        C-contiguous, prepared by the caller), continuing from the runner's state."""
        if self._state is not self._views:
            self._load_state(self._state)
            self._state = self._views
        last = self._last_run
        if last is None or last[0] is not x or last[1] is not dt or last[2] is not out:
            last = self._last_run = (x, dt, out, VOIDP(x.ctypes.data), VOIDP(dt.ctypes.data),
                                     VOIDP(out.ctypes.data), len(x))
        rc = self._crun(last[3], last[4], last[6], self._sp, last[5])
        if rc:
            self._raise(rc)
        return out

    def close(self) -> None:
        self._lib = None

    def describe(self) -> dict:
        return {**super().describe(), "build": {k: v for k, v in self.build.items() if k != "cache"}}
