"""Calibration data for static quantization: whole rollouts of real training sequences.

Static schemes (ONNX ``int8-static``, TFLite ``int8-static`` / ``int16x8-static``) need the
true range of every tensor, and for a recurrent cell that includes the *state*, whose range
only shows after many steps. So calibration never feeds random or zero states: it keeps whole
training sequences and the states the PyTorch model really reaches on them.

Use::

    calib = CalibrationData.from_split(model, dataset.train)   # or CalibrationData.load(path)
    for feed in calib.step_feeds():          # step graph: one dict per time step
        feed  # {"x": (1, C), "dt": (1, 1), "h": (1, H)[, "c": (1, H)]}, float32, canonical names
    for feed in calib.window_feeds(chunk):   # fixed-window seq graph (TFLite): one per window
        feed  # {"x": (1, chunk, C), "dt": (1, chunk), "h": (1, H)...}; state = value at window start
    calib.ranges()                           # {"x": (min, max), "dt": ..., "h": ..., "y": ..., "h_out": ...}
    calib.reader(["x", "dt", "h"])           # onnxruntime CalibrationDataReader (renames feeds)

The feed keys are the canonical names of ``edgelnn.export.graphs.io_names`` (inputs ``x``,
``dt``, states ``h``/``c``); ``ranges()`` also covers outputs (``y``, ``h_out``/``c_out``), so a
calibrator that averages per-sample ranges can be overridden with the true min/max.
Everything is numpy; ``from_split`` is the only method that needs torch.
Saved as ``calibration.npz`` in the bundle (keys: ``x``, ``dt``, ``lengths`` of the sequences,
``state_names``, and ``states_<name>`` (N, T, H): the state *entering* each step).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np


@dataclass
class CalibrationData:
    """Whole training sequences plus the PyTorch states entering each of their steps.

    x: (N, T, C) float32 normalised inputs (zero-padded after ``lengths``).
    dt: (N, T) float32 elapsed times (> 0).
    lengths: (N,) int64 true lengths; only steps ``t < lengths[n]`` are fed.
    states: {state name: (N, T, H) float32}, the state before step t (zeros at t = 0).
    outputs: {output name: (N, T, size) float32}, y and the states after each step.
    """

    x: np.ndarray
    dt: np.ndarray
    lengths: np.ndarray
    states: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray] = field(default_factory=dict)

    # -- building ------------------------------------------------------------------------
    @classmethod
    def from_split(cls, model, split, max_sequences: int = 32, seed: int = 0) -> "CalibrationData":
        """Roll ``model`` over up to ``max_sequences`` sequences of ``split`` (seeded pick)."""
        import torch

        n = len(split)
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.permutation(n)[:max_sequences]) if n > max_sequences else np.arange(n)
        x = np.ascontiguousarray(split.x[idx], dtype=np.float32)
        dt = np.ascontiguousarray(split.dt[idx], dtype=np.float32)
        lengths = np.asarray(split.lengths[idx], dtype=np.int64)
        names = [name for name, _ in model.state_spec]
        batch, steps = x.shape[:2]
        states = {name: np.zeros((batch, steps, size), np.float32) for name, size in model.state_spec}
        ys = np.zeros((batch, steps, model.output_size), np.float32)
        outs = {f"{name}_out": np.zeros_like(states[name]) for name in names}
        with torch.no_grad():
            state = model.initial_state(batch)
            xt, dtt = torch.from_numpy(x), torch.from_numpy(dt)
            for t in range(steps):
                for name, s in zip(names, state):
                    states[name][:, t] = s.numpy()
                y, *state = model.cell(xt[:, t], dtt[:, t:t + 1], *state)
                ys[:, t] = y.numpy()
                for name, s in zip(names, state):
                    outs[f"{name}_out"][:, t] = s.numpy()
        return cls(x, dt, lengths, states, {"y": ys, **outs})

    # -- feeds ---------------------------------------------------------------------------
    @property
    def state_names(self) -> list[str]:
        return list(self.states)

    @property
    def sequences(self) -> int:
        return int(self.x.shape[0])

    @property
    def steps(self) -> int:
        """Number of valid (fed) time steps over all sequences."""
        return int(self.lengths.sum())

    def _positions(self, limit: int | None) -> list[tuple[int, int]]:
        pos = [(n, t) for n in range(self.sequences) for t in range(int(self.lengths[n]))]
        if limit is not None and len(pos) > limit:
            keep = np.linspace(0, len(pos) - 1, limit).round().astype(int)
            pos = [pos[i] for i in keep]
        return pos

    def step_feeds(self, limit: int | None = None) -> Iterator[dict[str, np.ndarray]]:
        """One feed per valid step: {"x": (1, C), "dt": (1, 1), state: (1, H)}.

        ``limit`` keeps that many steps evenly spread over all rollouts (states stay the true
        ones: the rollouts were run whole).
        """
        for n, t in self._positions(limit):
            feed = {"x": self.x[n, t][None], "dt": self.dt[n, t].reshape(1, 1)}
            for name, s in self.states.items():
                feed[name] = s[n, t][None]
            yield {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feed.items()}

    def window_feeds(self, chunk: int) -> Iterator[dict[str, np.ndarray]]:
        """One feed per full window of ``chunk`` valid steps: x (1, chunk, C), dt (1, chunk), states (1, H)."""
        for n in range(self.sequences):
            for start in range(0, int(self.lengths[n]) - chunk + 1, chunk):
                feed = {"x": self.x[n, start:start + chunk][None], "dt": self.dt[n, start:start + chunk][None]}
                for name, s in self.states.items():
                    feed[name] = s[n, start][None]
                yield {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feed.items()}

    def ranges(self) -> dict[str, tuple[float, float]]:
        """True (min, max) over all valid steps of inputs, states and outputs."""
        mask = np.arange(self.x.shape[1])[None, :] < self.lengths[:, None]
        arrays = {"x": self.x, "dt": self.dt, **self.states, **self.outputs}
        return {k: (float(v[mask].min()), float(v[mask].max())) for k, v in arrays.items()}

    def reader(self, input_names: list[str] | None = None, limit: int | None = None):
        """An ``onnxruntime.quantization.CalibrationDataReader`` over ``step_feeds``.

        ``input_names`` are the model's input names in canonical order (x, dt, states...),
        used to rename the canonical feed keys when a file names its inputs differently.
        """
        from onnxruntime.quantization import CalibrationDataReader

        canonical = ["x", "dt", *self.state_names]
        names = dict(zip(canonical, input_names or canonical))
        data = self

        class _Reader(CalibrationDataReader):
            def __init__(self):
                self._it = data.step_feeds(limit)

            def get_next(self):
                feed = next(self._it, None)
                return None if feed is None else {names[k]: v for k, v in feed.items()}

            def rewind(self):
                self._it = data.step_feeds(limit)

        return _Reader()

    # -- persistence ---------------------------------------------------------------------
    def save(self, path) -> None:
        arrays = {"x": self.x, "dt": self.dt, "lengths": self.lengths,
                  "state_names": np.array(self.state_names)}
        arrays.update({f"states_{k}": v for k, v in self.states.items()})
        arrays.update({f"outputs_{k}": v for k, v in self.outputs.items()})
        np.savez_compressed(Path(path), **arrays)

    @classmethod
    def load(cls, path) -> "CalibrationData":
        with np.load(Path(path)) as f:
            names = [str(s) for s in f["state_names"]]
            states = {k: f[f"states_{k}"] for k in names}
            outputs = {k[len("outputs_"):]: f[k] for k in f.files if k.startswith("outputs_")}
            return cls(f["x"], f["dt"], f["lengths"].astype(np.int64), states, outputs)
