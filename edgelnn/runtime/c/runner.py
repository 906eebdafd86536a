"""The ``c`` runtime: a generated C artifact compiled by the system C compiler into a shared
library (cached by sha256) and called through ctypes.

A small shim compiled with the artifact checks inputs in C (x finite, dt finite and > 0)
before calling ``<prefix>_step`` / ``<prefix>_run``, so ``Runner.step`` keeps its input
checks without Python-side scans. ``invoke`` returns views of the runner's own buffers
(valid until the next call); the state stays in C-visible memory between calls.

Where this Python's headers are installed, the same library is also a CPython extension
with two functions, ``step(ctx, x, dt)`` and ``run(state, x, dt, y)``: they take float32
arrays straight from their buffers and make the shim's checked call, in one call. A ctypes
call plus copying x and dt in from Python cost ~1.5 us per step here, about as much as a
64-unit CfC step itself (~1 us). Anything they do not take (another dtype or shape, a list)
they hand back (-1), and the ctypes path, with every Python-side check, handles it. No
headers: ctypes alone.
"""
from __future__ import annotations

import ctypes
import os
import re
import sysconfig
from pathlib import Path

import numpy as np

from ...errors import BundleError, InputError
from ..base import Runner
from .api import require_current_api
from .toolchain import CompileError, build_shared

PREFIX_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

SHIM = """/* edgelnn c runtime shim: input checks in C, then the artifact's own API. */
#include <math.h>
#include "{header}"

/* samples whose dt the artifact saturated (outside [DT_MIN, DT_MAX]), over every call of this library */
long {p}_edgelnn_dt_saturated = 0;

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
    {p}_edgelnn_dt_saturated += {p}_step(x, dt, state, y);
    return 0;
}}

/* One checked step through a context: one pointer argument is the cheapest call ctypes makes.
   in[0..INPUT_SIZE) = x, in[INPUT_SIZE] = dt. */
typedef struct {{ const float *in; float *state; float *y; }} {p}_edgelnn_ctx;

int {p}_edgelnn_step1(const {p}_edgelnn_ctx *c)
{{
    int bad = {p}_edgelnn_bad(c->in, c->in + {P}_INPUT_SIZE, 1);
    if (bad) return bad;
    {p}_edgelnn_dt_saturated += {p}_step(c->in, c->in[{P}_INPUT_SIZE], c->state, c->y);
    return 0;
}}

int {p}_edgelnn_run(const float *x, const float *dt, int n, float *state, float *y)
{{
    int bad = {p}_edgelnn_bad(x, dt, n);
    if (bad) return bad;
    {p}_edgelnn_dt_saturated += {p}_run(x, dt, n, state, y);
    return 0;
}}

#ifdef EDGELNN_PYEXT
/* The same library as a CPython extension: step(ctx, x, dt) -> 0, 1 (x not finite), 2 (bad
   dt), or -1: not taken (x not INPUT_SIZE float32 values along its last axis, dt not a float
   or one float32), use the ctypes path. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <string.h>

static int {p}_edgelnn_take(PyObject *o, float *dst, Py_ssize_t n, int scalar_ok)
{{
    Py_buffer v;
    int ok;
    if (scalar_ok && PyFloat_CheckExact(o)) {{
        dst[0] = (float)PyFloat_AS_DOUBLE(o);
        return 0;
    }}
    if (PyObject_GetBuffer(o, &v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {{
        PyErr_Clear();
        return -1;
    }}
    ok = v.itemsize == (Py_ssize_t)sizeof(float) && v.len == n * (Py_ssize_t)sizeof(float)
         && v.format != NULL && v.format[0] == 'f' && v.format[1] == 0
         && (v.ndim == 0 ? scalar_ok : v.shape != NULL && v.shape[v.ndim - 1] == n);
    if (ok) memcpy(dst, v.buf, (size_t)n * sizeof(float));
    PyBuffer_Release(&v);
    return ok ? 0 : -1;
}}

static PyObject *{p}_edgelnn_py_step(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{{
    {p}_edgelnn_ctx *c;
    float *in;
    (void)self;
    if (nargs != 3) {{
        PyErr_SetString(PyExc_TypeError, "step(ctx, x, dt) takes 3 arguments");
        return NULL;
    }}
    c = ({p}_edgelnn_ctx *)PyLong_AsVoidPtr(args[0]);
    if (c == NULL) {{
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "step: null context");
        return NULL;
    }}
    in = (float *)c->in;
    if ({p}_edgelnn_take(args[1], in, {P}_INPUT_SIZE, 0) || {p}_edgelnn_take(args[2], in + {P}_INPUT_SIZE, 1, 1))
        return PyLong_FromLong(-1);
    return PyLong_FromLong({p}_edgelnn_step1(c));
}}

/* run(state, x, dt, y) -> 0, 1, 2 as step, or -1: not taken (x, dt, y not C-contiguous float32
   of n * INPUT_SIZE, n, n * OUTPUT_SIZE values, y not writable, n < 1). */
static PyObject *{p}_edgelnn_py_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{{
    Py_buffer b[3];
    float *state;
    Py_ssize_t n = 0;
    int i, got = 0, rc = -1;
    (void)self;
    if (nargs != 4) {{
        PyErr_SetString(PyExc_TypeError, "run(state, x, dt, y) takes 4 arguments");
        return NULL;
    }}
    state = (float *)PyLong_AsVoidPtr(args[0]);
    if (state == NULL) {{
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "run: null state");
        return NULL;
    }}
    for (i = 0; i < 3; i++, got++)
        if (PyObject_GetBuffer(args[i + 1], &b[i], PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (i == 2 ? PyBUF_WRITABLE : 0)) < 0) {{
            PyErr_Clear();
            break;
        }}
    if (got == 3) {{
        n = b[1].len / (Py_ssize_t)sizeof(float);
        for (i = 0; i < 3; i++)
            if (b[i].itemsize != (Py_ssize_t)sizeof(float) || b[i].format == NULL || b[i].format[0] != 'f'
                || b[i].format[1] != 0) n = 0;
        if (n >= 1 && n <= INT_MAX && b[0].len == n * {P}_INPUT_SIZE * (Py_ssize_t)sizeof(float)
            && b[2].len == n * {P}_OUTPUT_SIZE * (Py_ssize_t)sizeof(float))
            rc = {p}_edgelnn_run((const float *)b[0].buf, (const float *)b[1].buf, (int)n, state, (float *)b[2].buf);
    }}
    for (i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    return PyLong_FromLong(rc);
}}

static PyMethodDef {p}_edgelnn_methods[] = {{
    {{"step", (PyCFunction)(void (*)(void)){p}_edgelnn_py_step, METH_FASTCALL, "checked step"}},
    {{"run", (PyCFunction)(void (*)(void)){p}_edgelnn_py_run, METH_FASTCALL, "checked run"}},
    {{NULL, NULL, 0, NULL}}
}};

static struct PyModuleDef {p}_edgelnn_module = {{
    PyModuleDef_HEAD_INIT, "_edgelnn_{p}", NULL, -1, {p}_edgelnn_methods, NULL, NULL, NULL, NULL
}};

PyMODINIT_FUNC PyInit__edgelnn_{p}(void)
{{
    return PyModule_Create(&{p}_edgelnn_module);
}}
#endif
"""

VOIDP, FLOAT, INT = ctypes.c_void_p, ctypes.c_float, ctypes.c_int


def python_include() -> str | None:
    """This Python's C headers (to build the extension call), or None: then ctypes alone.
    ``EDGELNN_C_CTYPES=1`` forces ctypes (the other path, for comparison)."""
    if os.environ.get("EDGELNN_C_CTYPES") == "1":
        return None
    inc = sysconfig.get_paths().get("include")
    return inc if inc and os.path.isfile(os.path.join(inc, "Python.h")) else None


def _load_extension(prefix: str, lib_path: Path):
    """The library's extension module (``step``, ``run``), or None."""
    from importlib.machinery import ExtensionFileLoader
    from importlib.util import module_from_spec, spec_from_file_location

    name = f"_edgelnn_{prefix}"
    try:
        loader = ExtensionFileLoader(name, str(lib_path))
        module = module_from_spec(spec_from_file_location(name, str(lib_path), loader=loader))
        loader.exec_module(module)
        return module if callable(getattr(module, "step", None)) and callable(getattr(module, "run", None)) else None
    except (ImportError, OSError, AttributeError):
        return None


class _Ctx(ctypes.Structure):
    _fields_ = [("inp", VOIDP), ("state", VOIDP), ("y", VOIDP)]


def _verified_text(path: Path, expected: str | None, what: str) -> str:
    """The file's text, its sha256 taken over the very bytes that are compiled."""
    import hashlib

    if not path.is_file():
        raise BundleError(f"artifact {what}: {path.name} is missing")
    data = path.read_bytes()
    if expected is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != str(expected).lower():
            raise BundleError(f"artifact {path.name} was modified: sha256 {actual[:16]}... != manifest "
                              f"{str(expected)[:16]}...; re-export or copy the bundle again")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"artifact {what}: {path.name} is not UTF-8 C source") from None


def artifact_sources(path: Path, artifact: dict) -> tuple[str, dict[str, str]]:
    """(prefix, {file: text}) of a C artifact and its header. Every file that is compiled must
    be listed with a sha256 (``edgelnn.schema.artifact_files``) and is checked over the bytes
    handed to the compiler; the artifact's own sha256 when the entry has one (a bundle's
    always has: the parity gate's candidates are checked by the gate itself)."""
    from ...schema import artifact_files

    prefix = str(artifact.get("c_prefix") or "")
    if not PREFIX_RE.match(prefix):
        raise BundleError(f"artifact {path.name}: manifest has no valid c_prefix ({prefix!r})")
    entry = {**artifact, "file": path.name, "format": "c"}
    if entry.get("sha256") is None:          # a candidate the gate is about to check: headers still
        entry["sha256"] = "0" * 64           # need theirs (the artifact's own is not known yet)
        own = None
    else:
        own = entry["sha256"]
    files = artifact_files(entry, f"artifact {path.name}")
    header = next(n for n, _ in files[1:] if n.endswith(".h"))
    sources = {path.name: _verified_text(path, own, path.name)}
    for name, digest in files[1:]:
        sources[name] = _verified_text(path.parent / name, digest, path.name)
    require_current_api(sources[header], prefix, path.name)
    sources["edgelnn_shim.c"] = SHIM.format(p=prefix, P=prefix.upper(), header=header)
    return prefix, sources


class CRunner(Runner):
    format = "c"
    runtime = "c"

    def __init__(self, path, artifact: dict, state_sizes: list[int], *, threads: int | None = 1,
                 native: bool = True):
        path = Path(path)
        prefix, sources = artifact_sources(path, artifact)
        main = [path.name, "edgelnn_shim.c"]
        inc = python_include()
        built = None
        if inc:
            try:
                built = build_shared(sources, main, native=native,
                                     extra_flags=("-DEDGELNN_PYEXT", f"-I{inc}"))
            except CompileError:
                inc = None           # e.g. headers of another build: ctypes alone
        try:
            lib_path, self.build = built or build_shared(sources, main, native=native)
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
        self.raw_step.argtypes, self.raw_step.restype = [VOIDP, FLOAT, VOIDP, VOIDP], INT
        self.raw_run = getattr(lib, f"{prefix}_run")
        self.raw_run.argtypes, self.raw_run.restype = [VOIDP, VOIDP, INT, VOIDP, VOIDP], INT
        self._saturated = ctypes.c_long.in_dll(lib, f"{prefix}_edgelnn_dt_saturated")
        batch = getattr(lib, f"{prefix}_step_batch", None)     # artifacts before it lack it
        if batch is not None:
            batch.argtypes, batch.restype = [INT, VOIDP, VOIDP, VOIDP, VOIDP], INT
            self.batch_mode = "batched"
        self._cbatch = batch
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
        self._ctxaddr = ctypes.addressof(self._ctx)
        ext = _load_extension(prefix, lib_path) if inc else None
        self._pystep, self._pyrun = (ext.step, ext.run) if ext is not None else (None, None)
        self._saddr = self._s.ctypes.data
        self.call = "python extension" if ext is not None else "ctypes"
        self._last_run = None
        super().__init__(path, artifact, state_sizes, threads=threads, input_size=n_in,
                         output_size=n_out)
        # what shaped the numbers: the host build's flags (the compiler is runtime_version)
        self.providers_used = ["CPU " + " ".join(f for f in self.build["flags"]
                                                 if f not in ("-shared", "-fPIC", "-dynamiclib", "-DEDGELNN_PYEXT")
                                                 and not f.startswith(("-Wl,", "-I"))) + f", called by {self.call}"]

    # -- the raw call ----------------------------------------------------------------------
    def _load_state(self, states) -> None:
        for view, s in zip(self._views, states):
            if s is not view:
                view[...] = s

    def invoke(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        states = feeds[2:]
        if states[0] is not self._views[0] or len(states) > 1:
            self._load_state(states)
        fast = self._pystep
        rc = fast(self._ctxaddr, feeds[0], feeds[1]) if fast is not None else -1
        if rc == -1:
            self._x2[...] = feeds[0]
            dt = feeds[1]
            self._in[-1] = dt.item() if dt.__class__ is np.ndarray and dt.size == 1 else \
                np.asarray(dt, np.float32).reshape(-1)[0]
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
        if self._state is not self._views:
            self._load_state(self._state)
            self._state = self._views
        fast = self._pystep
        if fast is not None and dt.__class__ is float:
            rc = fast(self._ctxaddr, x, dt)
            if rc == 0:
                return self._y.copy()
            if rc > 0:
                self._raise(rc)
        try:
            if x.size != self.input_size:
                raise ValueError
            self._xv[x.ndim][...] = x
        except (AttributeError, ValueError, TypeError, KeyError):
            self._x[...] = self._step_x(x).reshape(-1)      # any other form, checked in Python
        self._in[-1] = dt if dt.__class__ is float else self._step_dt(dt)
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
        rc = self._pyrun(self._saddr, x, dt, y) if self._pyrun is not None else -1
        if rc == -1:
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
        if self._pyrun is not None:
            rc = self._pyrun(self._saddr, x, dt, out)
            if rc == 0:
                return out
            if rc > 0:
                self._raise(rc)
        last = self._last_run
        if last is None or last[0] is not x or last[1] is not dt or last[2] is not out:
            last = self._last_run = (x, dt, out, VOIDP(x.ctypes.data), VOIDP(dt.ctypes.data),
                                     VOIDP(out.ctypes.data), len(x))
        rc = self._crun(last[3], last[4], last[6], self._sp, last[5])
        if rc:
            self._raise(rc)
        return out

    @property
    def dt_saturated(self) -> int:
        """Samples whose dt the artifact saturated to its [<P>_DT_MIN, <P>_DT_MAX] (the count its
        step/run returned), summed over every runner of this compiled library."""
        return int(self._saturated.value)

    def invoke_batch(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        """B streams in one ``<prefix>_step_batch`` call (state rows: the state tensors of one
        stream concatenated, as in ``<prefix>_step``)."""
        if self._cbatch is None:
            return super().invoke_batch(feeds)
        x = np.ascontiguousarray(feeds[0], np.float32)
        n = len(x)
        dt = np.ascontiguousarray(feeds[1], np.float32).reshape(n)
        states = feeds[2:]
        state = np.ascontiguousarray(states[0] if len(states) == 1 else np.concatenate(states, axis=1),
                                     np.float32)
        if state is states[0]:
            state = state.copy()
        y = np.empty((n, self.output_size), np.float32)
        saturated = self._cbatch(n, x.ctypes.data, dt.ctypes.data, state.ctypes.data, y.ctypes.data)
        if saturated:
            self._saturated.value += saturated
        bounds = np.cumsum([0, *self.state_sizes])
        return [y, *[state[:, a:b] for a, b in zip(bounds[:-1], bounds[1:])]]

    def close(self) -> None:
        self._lib = None

    def describe(self) -> dict:
        return {**super().describe(), "build": {k: v for k, v in self.build.items() if k != "cache"}}
