"""Many sensor streams through one step artifact: the job of a gateway.

``Streams`` holds one recurrent state and the last timestamp per stream. ``step`` takes a batch
of events ``(stream id, x, t)`` in any order: each stream's events are taken in time order, dt is
``t`` minus that stream's previous timestamp, and all streams with an event in a round go through
the runtime in one batched call (``Runner.invoke_batch``). Streams without an event keep their
state; a stream id seen for the first time joins (room grows as needed). A bad event (x not
finite, t not finite or not after the stream's previous t) is rejected alone: no state changes
for it, every other stream steps as usual.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Hashable, Iterable

import numpy as np

from ..errors import InputError, ShapeError


@dataclass
class StreamOutputs:
    """What one ``Streams.step`` produced, row i for event i as given."""

    ids: list                      # stream id of each event
    y: np.ndarray                  # (events, outputs); NaN rows for rejected events
    dt: np.ndarray                 # (events,) the dt each event was stepped with (NaN: rejected)
    rejected: dict[int, str] = field(default_factory=dict)   # event index -> why

    @property
    def ok(self) -> bool:
        return not self.rejected


class Streams:
    """``n`` streams' states over one step ``Runner`` (``runner.streams(n)``).

    ``first_dt``: the dt of a stream's first event (it has no previous timestamp), in the
    units of t. ``reset(id)`` starts a stream over (zero state, next event uses ``first_dt``).
    """

    def __init__(self, runner, n: int = 0, *, first_dt: float = 1.0):
        if runner.graph != "step":
            raise InputError(f"{runner.name}: streams need a step artifact (this is a {runner.graph} graph)")
        if not (isinstance(n, int) and n >= 0):
            raise InputError(f"streams: n must be a whole number >= 0, got {n!r}")
        if not 0.0 < float(first_dt) < math.inf:
            raise InputError(f"streams: first_dt must be finite and > 0, got {first_dt}")
        self.runner = runner
        self.first_dt = float(first_dt)
        cap = max(n, 1)
        self._state = [np.zeros((cap, s), np.float32) for s in runner.state_sizes]
        self._last_t = np.full(cap, np.nan)
        self._slot: dict[Hashable, int] = {}

    # -- streams ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._slot)

    @property
    def ids(self) -> list:
        return list(self._slot)

    @property
    def capacity(self) -> int:
        return len(self._last_t)

    def state(self, stream: Hashable) -> list[np.ndarray]:
        """A copy of one stream's state, one (H,) array per state tensor (zeros if unseen)."""
        slot = self._slot.get(stream)
        if slot is None:
            return [np.zeros(s, np.float32) for s in self.runner.state_sizes]
        return [s[slot].copy() for s in self._state]

    def last_t(self, stream: Hashable) -> float | None:
        slot = self._slot.get(stream)
        return None if slot is None or math.isnan(self._last_t[slot]) else float(self._last_t[slot])

    def reset(self, stream: Hashable) -> None:
        slot = self._slot.get(stream)
        if slot is not None:
            for s in self._state:
                s[slot] = 0.0
            self._last_t[slot] = np.nan

    def _slot_of(self, stream: Hashable) -> int:
        slot = self._slot.get(stream)
        if slot is None:
            slot = len(self._slot)
            if slot >= self.capacity:              # a stream joins a full server: double the room
                grow = self.capacity
                self._state = [np.concatenate([s, np.zeros((grow, s.shape[1]), np.float32)]) for s in self._state]
                self._last_t = np.concatenate([self._last_t, np.full(grow, np.nan)])
            self._slot[stream] = slot
        return slot

    # -- events ----------------------------------------------------------------------------
    def step(self, events: Iterable[tuple]) -> StreamOutputs:
        """Events ``(stream id, x, t)`` -> one output row per event (see the module docstring)."""
        events = list(events)
        if any(not isinstance(e, (tuple, list)) or len(e) != 3 for e in events):
            raise InputError("streams.step takes events (stream id, x, t)")
        ids = [e[0] for e in events]
        c = self.runner.input_size
        if not events:
            return self._step([], np.zeros((0, c), np.float32), np.zeros(0))
        try:
            x = np.asarray([np.asarray(e[1], np.float32).reshape(-1) for e in events],
                           np.float32).reshape(len(events), -1)
            t = np.asarray([e[2] for e in events], np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ShapeError(f"streams.step: every event needs x of {c} numbers and a numeric t ({exc})") from None
        if events and x.shape[1] != c:
            raise ShapeError(f"streams.step: x has {x.shape[1]} values per event, the model takes {c}")
        return self._step(ids, x, t)

    def step_arrays(self, ids, x, t) -> StreamOutputs:
        """The same from arrays: ids (E,), x (E, C), t (E,)."""
        x = np.asarray(x, np.float32)
        t = np.asarray(t, np.float64).reshape(-1)
        ids = list(ids)
        if x.ndim != 2 or x.shape[1] != self.runner.input_size or len(x) != len(ids) or len(t) != len(ids):
            raise ShapeError(f"streams.step_arrays: ids (E,), x (E, {self.runner.input_size}), t (E,) expected, "
                             f"got {len(ids)}, {x.shape}, {t.shape}")
        return self._step(ids, x, t)

    def _step(self, ids: list, x: np.ndarray, t: np.ndarray) -> StreamOutputs:
        e = len(ids)
        y = np.full((e, self.runner.output_size), np.nan, np.float32)
        dts = np.full(e, np.nan)
        rejected: dict[int, str] = {}
        bad_x = ~np.isfinite(x).all(axis=1) if e else np.zeros(0, bool)
        for i in np.flatnonzero(bad_x):
            rejected[int(i)] = "x contains NaN or inf"
        for i in np.flatnonzero(~np.isfinite(t)):
            rejected.setdefault(int(i), "t is not finite")
        # each stream's events in time order: round r steps every stream's r-th event
        order: dict[Hashable, list[int]] = {}
        for i, sid in enumerate(ids):
            if i not in rejected:
                order.setdefault(sid, []).append(i)
        rounds: list[list[int]] = []
        for sid, idx in order.items():
            idx.sort(key=lambda i: t[i])
            for r, i in enumerate(idx):
                if r == len(rounds):
                    rounds.append([])
                rounds[r].append(i)
        for rows in rounds:
            slots = np.array([self._slot_of(ids[i]) for i in rows], np.int64)
            rows = np.array(rows, np.int64)
            prev = self._last_t[slots]
            dt = np.where(np.isnan(prev), self.first_dt, t[rows] - prev)
            good = dt > 0
            for i in rows[~good]:
                rejected[int(i)] = f"t = {t[i]:g} is not after the stream's previous t = {self._last_t[self._slot[ids[i]]]:g}"
            rows, slots, dt = rows[good], slots[good], dt[good]
            if not len(rows):
                continue
            feeds = [x[rows], dt.astype(np.float32).reshape(-1, 1), *[s[slots] for s in self._state]]
            out = self.runner.invoke_batch(feeds)
            y[rows] = np.asarray(out[0], np.float32).reshape(len(rows), -1)
            for s, new in zip(self._state, out[1:]):
                s[slots] = np.asarray(new, np.float32).reshape(len(rows), -1)
            self._last_t[slots] = t[rows]
            dts[rows] = dt
        return StreamOutputs(ids, y, dts, dict(sorted(rejected.items())))
