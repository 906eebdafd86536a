"""The Runner: one artifact, one stream, the recurrent state kept between calls.

Backends (onnxruntime, LiteRT) only implement ``invoke(feeds) -> outputs`` with arrays in
canonical order ``[x, dt, *states] -> [y, *states_out]``; everything a user relies on
(shapes, NaN checks, state carrying, chunking of sequence graphs) lives here once.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import InputError, ShapeError

_F32 = np.dtype(np.float32)
_NDARRAY = np.ndarray
_INF = math.inf
_SMALL = 64          # up to this many inputs a Python-level sum tests finiteness fastest


class Runner:
    """Runs one exported artifact at batch 1.

    ``step`` and ``run`` continue from the current state; ``reset`` returns to the zero state.
    A fixed-chunk sequence graph (TFLite) pads a final partial chunk: the outputs are exact
    (the graph is causal) but the state after it is not, so that call ends the stream and
    the next ``step``/``run`` must follow ``reset()``.
    """

    format: str = ""
    runtime: str = ""
    runtime_version: str = ""

    def __init__(self, path: str | Path, artifact: dict, state_sizes: list[int], *,
                 threads: int | None, input_size: int, output_size: int,
                 fixed_time: int | None = None):
        self.path = Path(path)
        self.artifact = artifact
        self.name = self.path.name
        self.graph: str = artifact.get("graph", "step")
        if self.graph not in ("step", "seq"):
            raise InputError(f"artifact {self.name}: unknown graph {self.graph!r} (step or seq)")
        self.state_sizes = [int(s) for s in state_sizes]
        self.threads = threads
        self.input_size = int(input_size)
        self.output_size = int(output_size)
        self.providers_used: list[str] = []
        chunk = artifact.get("chunk") or fixed_time
        self.chunk: int | None = int(chunk) if (self.graph == "seq" and chunk) else None
        self._ended = False
        self._no_step = self.chunk is not None and self.chunk != 1
        self._x_step_shape = (1, self.input_size) if self.graph == "step" else (1, 1, self.input_size)
        self._dt_buf = np.ones((1, 1), dtype=np.float32)   # reused by step(); runtimes copy inputs
        self._dt_flat = self._dt_buf.reshape(1)            # a view: item assignment is cheapest
        # step()'s fast path: one float32 sample of shape (C,) into a step graph, C small enough
        # for a Python-level finiteness sum; every other input goes through _step_x
        self._fast_c = self.input_size if (self.graph == "step" and 0 < self.input_size <= _SMALL) else -1
        self.reset()

    # -- backend -------------------------------------------------------------------------
    def invoke(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        """The raw runtime call: float32 arrays in canonical order, nothing else. Timed alone."""
        raise NotImplementedError

    # many streams: one call steps B streams, each with its own dt and state
    accel: dict | None = None                  # accelerator options asked, read back, fallbacks
    batch_mode: str = "one stream per call"    # or "batched": B streams in one runtime call
    batch_note: str = ""

    def invoke_batch(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        """[x (B, C), dt (B, 1), *states (B, H)] -> [y (B, O), *states (B, H)], unchecked: B
        streams, each stepped as if alone. This fallback makes one runtime call per stream;
        backends whose step graph takes a batch override it."""
        outs = [self.invoke([f[i:i + 1] for f in feeds]) for i in range(len(feeds[0]))]
        return [np.concatenate([np.asarray(o[j], np.float32).reshape(1, -1) for o in outs])
                for j in range(len(outs[0]))]

    def streams(self, n: int = 0, **options):
        """A ``Streams`` server over this step artifact with room for ``n`` streams."""
        from .streams import Streams

        return Streams(self, n, **options)

    def close(self) -> None:
        """Release the session/interpreter."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- state ---------------------------------------------------------------------------
    def reset(self) -> None:
        self._state = [np.zeros((1, s), dtype=np.float32) for s in self.state_sizes]
        self._ended = False

    @property
    def state(self) -> list[np.ndarray]:
        """A copy of the current recurrent state, one (1, H) array per state tensor."""
        return [s.copy() for s in self._state]

    def _check_stream(self) -> None:
        if self._ended:
            raise InputError(f"{self.name}: the previous run ended with a partial chunk, "
                             "so the state is unknown; call reset() before continuing")

    # -- inputs --------------------------------------------------------------------------
    def _inputs(self, x, dt) -> tuple[np.ndarray, np.ndarray]:
        """Validate a sequence and convert to float32 (T, C) and (T,)."""
        x = np.asarray(x, dtype=np.float32)
        dt = np.asarray(dt, dtype=np.float32)
        c = self.input_size
        if x.ndim != 2 or x.shape[1] != c:
            raise ShapeError(f"{self.name}: run expects x of shape (T, {c}), got {x.shape}")
        if dt.shape != (x.shape[0],):
            raise ShapeError(f"{self.name}: run expects dt of shape ({x.shape[0]},), got {dt.shape}")
        if not np.isfinite(x).all():
            raise InputError(f"{self.name}: x contains NaN or inf; clean or impute the input first")
        if not np.isfinite(dt).all() or (dt <= 0).any():
            raise InputError(f"{self.name}: dt must be finite and > 0 (elapsed time since the "
                             "previous sample)")
        return x, dt

    def _step_x(self, x) -> np.ndarray:
        """x for one step, shaped for this graph; cheap finiteness test (the sum of the values
        is not finite iff some value is NaN/inf, or the values are huge: then check exactly)."""
        if x.__class__ is np.ndarray and x.dtype is _F32 and x.size == self.input_size:
            flat = x if x.ndim == 1 else x.reshape(-1)
            total = sum(flat.tolist()) if self.input_size <= _SMALL else float(flat.dot(flat))
            if not math.isfinite(total) and not np.isfinite(flat).all():
                raise InputError(f"{self.name}: x contains NaN or inf; clean or impute the input first")
            return x if x.shape == self._x_step_shape else flat.reshape(self._x_step_shape)
        x = np.asarray(x, dtype=np.float32)
        if x.size != self.input_size:
            raise ShapeError(f"{self.name}: step expects x with {self.input_size} values, "
                             f"got shape {x.shape}")
        flat = x if x.ndim == 1 else x.reshape(-1)
        if not math.isfinite(flat.dot(flat)) and not np.isfinite(flat).all():
            raise InputError(f"{self.name}: x contains NaN or inf; clean or impute the input first")
        return flat.reshape(self._x_step_shape)

    def _step_dt(self, dt) -> float:
        if isinstance(dt, (float, int)):
            d = float(dt)
        else:
            arr = np.asarray(dt, dtype=np.float64)
            if arr.size != 1:
                raise ShapeError(f"{self.name}: step expects one dt value, got shape {arr.shape}")
            d = float(arr.reshape(-1)[0])
        if not 0.0 < d < math.inf:
            raise InputError(f"{self.name}: dt must be finite and > 0 (elapsed time since the "
                             f"previous sample), got {d}")
        return d

    def prepare_step(self, x, dt) -> list[np.ndarray]:
        """Feeds for one step from the current state (input preparation, outside any timer)."""
        return [self._step_x(x).copy(), np.full((1, 1), self._step_dt(dt), np.float32),
                *[s.copy() for s in self._state]]

    def prepare_chunk(self, x, dt) -> list[np.ndarray]:
        """Feeds for one sequence-graph call of len(x) steps (== chunk for fixed graphs)."""
        x, dt = self._inputs(x, dt)
        return [x[None], dt[None], *self._state]

    # -- inference -----------------------------------------------------------------------
    def step(self, x, dt: float) -> np.ndarray:
        """One sample -> y (O,); the state advances. The hot path, kept lean on purpose: each
        numpy attribute or view here costs about as much as a tenth of a LiteRT call, so the
        common call (float dt, float32 x of shape (C,)) is checked inline with the cheapest
        tests (callgrind counts them; benchmarks/c_backend.py holds the overhead to <= 15%)."""
        if self._ended or self._no_step:
            self._step_guard()
        if dt.__class__ is float and 0.0 < dt < _INF:
            self._dt_flat[0] = dt
        else:
            self._dt_flat[0] = self._step_dt(dt)
        if x.__class__ is _NDARRAY and x.ndim == 1 and x.dtype is _F32 and len(x) == self._fast_c:
            # the sum of the values is not finite iff some value is NaN/inf, or they are huge
            if not math.isfinite(sum(x.tolist())) and not np.isfinite(x).all():
                raise InputError(f"{self.name}: x contains NaN or inf; clean or impute the input first")
            x = x[None]
        else:
            x = self._step_x(x)
        return self._step_call(x).ravel()

    def _step_call(self, x: np.ndarray) -> np.ndarray:
        """One checked step (x shaped for the graph, dt in ``_dt_buf``): keeps the new state and
        returns y as the runtime gives it. A backend may override it with a leaner call."""
        out = self.invoke([x, self._dt_buf, *self._state])
        self._state = out[1:]
        return out[0]

    def _step_guard(self) -> None:
        self._check_stream()
        raise InputError(f"{self.name}: a fixed-chunk sequence graph (chunk {self.chunk}) "
                         "cannot run single steps; use the step artifact or run()")

    def run(self, x, dt) -> np.ndarray:
        """A sequence x (T, C), dt (T,) -> y (T, O), continuing from the current state."""
        self._check_stream()
        x, dt = self._inputs(x, dt)
        if self.graph == "step":
            return self._run_steps(x, dt)
        if self.chunk is None:
            return self._call_seq(x, dt, keep_state=True)
        return self._run_chunks(x, dt)

    def run_each(self, x, dt, lengths) -> np.ndarray:
        """Every sequence of (N, T, C) / (N, T) from the zero state, valid steps only.

        Returns (N, T, O), zero after each length; the replay shared by the export parity gate,
        the golden check and accuracy. Leaves the runner reset."""
        lengths = np.asarray(lengths, dtype=np.int64)
        out = np.zeros((len(lengths), np.shape(x)[1], self.output_size), dtype=np.float32)
        for i, length in enumerate(lengths):
            self.reset()
            out[i, :length] = self.run(x[i, :length], dt[i, :length])
        self.reset()
        return out

    def _run_steps(self, x: np.ndarray, dt: np.ndarray) -> np.ndarray:
        y = np.empty((len(x), self.output_size), dtype=np.float32)
        state, dtc = self._state, dt.reshape(-1, 1, 1)
        for t in range(len(x)):
            out = self.invoke([x[t:t + 1], dtc[t], *state])
            y[t] = out[0].reshape(-1)
            state = out[1:]
        self._state = state
        return y

    def _call_seq(self, x: np.ndarray, dt: np.ndarray, keep_state: bool) -> np.ndarray:
        out = self.invoke([x[None], dt[None], *self._state])
        if keep_state:
            self._state = [np.asarray(s, dtype=np.float32).reshape(1, -1) for s in out[1:]]
        return np.asarray(out[0], dtype=np.float32).reshape(len(x), self.output_size)

    def _run_chunks(self, x: np.ndarray, dt: np.ndarray) -> np.ndarray:
        k = self.chunk
        full = (len(x) // k) * k
        parts = [self._call_seq(x[i:i + k], dt[i:i + k], keep_state=True)
                 for i in range(0, full, k)]
        rest = len(x) - full
        if rest:
            xp = np.zeros((k, self.input_size), dtype=np.float32)
            dtp = np.ones(k, dtype=np.float32)
            xp[:rest], dtp[:rest] = x[full:], dt[full:]
            # Outputs of the valid steps are exact (causal graph); the state after padded
            # steps is not, so keep the state before the tail and end the stream.
            parts.append(self._call_seq(xp, dtp, keep_state=False)[:rest])
            self._ended = True
        if not parts:
            return np.zeros((0, self.output_size), dtype=np.float32)
        return np.concatenate(parts, axis=0)

    def describe(self) -> dict:
        """What produced a number: runtime, version, providers, threads."""
        return {"artifact": self.name, "format": self.format, "graph": self.graph,
                "runtime": self.runtime, "runtime_version": self.runtime_version,
                "providers_used": list(self.providers_used), "threads": self.threads,
                "chunk": self.chunk, "batch": self.batch_mode, "accelerator": self.accel}


def natural_key(name: str):
    """'args_10' after 'args_2': litert-torch names inputs args_0.. and outputs output_0.."""
    import re

    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def finite_dim(value) -> int | None:
    """A shape entry that is a fixed positive int, else None (dynamic axis)."""
    try:
        v = int(value)
    except (TypeError, ValueError):
        return None
    return v if v > 0 and not math.isnan(v) else None
