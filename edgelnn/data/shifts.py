"""Distribution shifts for generalisation studies: noise, offset drift, dropped samples, sampling
rate, horizon.

Every shift returns new arrays and leaves its input untouched. The nominal dt used for padding is
read from ``dt[:, 0]`` (a Split's first step always holds the nominal dt). ``suites.py`` gives a
dataset's standard shift suite and builds its shifted test sets with fixed seeds.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InputError
from ..schema import SHIFT_RENAMES
from .prepare import valid_mask
from .types import Split


class UnknownShiftError(InputError):
    """Raised by ``apply_shift`` for a name not in SHIFTS."""


def add_noise(split: Split, snr_db: float, seed: int = 0) -> Split:
    """Additive Gaussian noise at ``snr_db`` per channel, relative to the split's valid-step power.

    The draw is rescaled so its realised power matches the target exactly; padding stays 0.
    """
    rng = np.random.default_rng(seed)
    mask = valid_mask(split)
    x = split.x.astype(np.float64)
    power = (x[mask] ** 2).mean(axis=0)
    noise = rng.standard_normal(x.shape) * mask[..., None]
    noise *= np.sqrt(power / 10 ** (snr_db / 10) / np.maximum((noise[mask] ** 2).mean(axis=0), 1e-30))
    return Split((x + noise).astype(np.float32), split.dt.copy(), split.y.copy(), split.lengths.copy())


def drop_samples(split: Split, fraction: float, seed: int = 0) -> Split:
    """Drop ``fraction`` of each sequence's samples (never the first/last), compacted to the front.

    Each kept sample's dt becomes the true time since the previous kept one, so the sum of dt over
    valid steps is unchanged; T is unchanged and the tail is padded (x=0, dt=nominal).
    """
    rng = np.random.default_rng(seed)
    x, dt = np.zeros_like(split.x), np.empty_like(split.dt)
    lengths = split.lengths.copy()
    for i, L in enumerate(split.lengths):
        n_drop = min(int(round(fraction * L)), max(int(L) - 2, 0))
        inner = rng.permutation(np.arange(1, L - 1))[:n_drop] if n_drop else np.array([], int)
        keep = np.setdiff1d(np.arange(L), inner)
        t = np.cumsum(split.dt[i, :L].astype(np.float64))
        dt[i] = split.dt[i, 0]
        dt[i, : len(keep)] = np.diff(t[keep], prepend=t[0] - split.dt[i, 0])
        x[i, : len(keep)] = split.x[i, keep]
        lengths[i] = len(keep)
    return Split(x, dt, split.y.copy(), lengths)


def change_sampling_rate(split: Split, factor: float, seed: int = 0) -> Split:
    """Resample each sequence to max(2, round(L*factor)) points on a uniform grid over the same span.

    A sampling-rate change (factor 2 = twice the rate, 0.5 = half): linear interpolation over the
    true time axis; the first dt stays nominal and the remaining steps share the original span
    (time from first to last sample) equally. T = max new length. A step-indexed RNN that ignores
    dt cannot pass this by construction: the same signal arrives in more or fewer steps.
    ``seed`` is unused (deterministic) and kept for the common shift signature.
    """
    new_len = np.maximum(2, np.round(split.lengths * factor)).astype(np.int64)
    N, T, C = len(split), int(new_len.max()), split.x.shape[2]
    x = np.zeros((N, T, C), dtype=np.float32)
    dt = np.repeat(split.dt[:, :1], T, axis=1)
    for i, (L, M) in enumerate(zip(split.lengths, new_len)):
        t = np.cumsum(split.dt[i, :L].astype(np.float64))
        grid = np.linspace(t[0], t[-1], M)
        for c in range(C):
            x[i, :M, c] = np.interp(grid, t, split.x[i, :L, c])
        if L > 1:
            dt[i, 1:M] = (t[-1] - t[0]) / (M - 1)
    return Split(x, dt, split.y.copy(), new_len)


def add_offset_drift(split: Split, level: float, seed: int = 0) -> Split:
    """A slow sensor drift: each channel's offset ramps linearly over the sequence's true time.

    x[t] + s * level * (time since the first sample) / (the sequence's span), with a random sign
    s = +-1 per (item, channel): 0 at the first sample, ``level`` at the last, in the units of x
    (a normalised split: train standard deviations). Non-stationary test data the model never saw
    (training stays stationary); level 0 is the identity. Targets, dt and lengths are unchanged;
    padding stays 0.
    """
    rng = np.random.default_rng(seed)
    mask = valid_mask(split)
    t = np.cumsum(np.where(mask, split.dt.astype(np.float64), 0.0), axis=1)
    t -= t[:, :1]
    span = t[np.arange(len(split)), split.lengths - 1]
    ramp = np.where(mask, t / np.where(span > 0, span, 1.0)[:, None], 0.0)
    sign = rng.choice([-1.0, 1.0], size=(len(split), 1, split.x.shape[2]))
    x = split.x.astype(np.float64) + level * sign * ramp[..., None]
    return Split(x.astype(np.float32), split.dt.copy(), split.y.copy(), split.lengths.copy())


change_length = change_sampling_rate  # the name before "length" became "sampling-rate"


@dataclass(frozen=True)
class Shift:
    """A test-time distribution shift. ``transform(split, level, seed)`` builds it from the test
    split; None where it needs the dataset's own source (horizon: longer sequences)."""

    name: str
    level: str                   # what a level means
    neutral: float | None        # the level that leaves the data as it is (None: none)
    description: str
    transform: Callable[[Split, float, int], Split] | None


SHIFTS: dict[str, Shift] = {s.name: s for s in [
    Shift("noise", "SNR (dB)", None, "additive Gaussian noise at a signal-to-noise ratio", add_noise),
    Shift("offset-drift", "offset at the end (train std)", 0.0,
          "non-stationary inputs: each channel's offset drifts linearly over the sequence's time",
          add_offset_drift),
    Shift("drop", "fraction dropped", 0.0,
          "a fraction of the samples dropped (irregular sampling; the true dt is kept)", drop_samples),
    Shift("sampling-rate", "rate factor", 1.0,
          "resampled at a rate factor over the same time span (more or fewer steps, true dt)",
          change_sampling_rate),
    Shift("horizon", "length factor", 1.0,
          "sequences longer than any seen in training (only where the dataset can provide them)", None),
]}
LEGACY_NAMES = SHIFT_RENAMES  # names bundles and result rows used before; read as the new name


def canonical(name: str) -> str:
    """The current name of a shift (``length`` -> ``sampling-rate``)."""
    return LEGACY_NAMES.get(name, name)


def shift_seed(name: str, level: float) -> int:
    """The fixed seed of a shifted test set: one per (shift, level), never the model's seed, so
    every model and training seed is scored on the very same shifted items."""
    return zlib.crc32(f"{canonical(name)}@{float(level):g}".encode())


def apply_shift(split: Split, name: str, level: float, seed: int = 0) -> Split:
    """Apply SHIFTS[name] at ``level`` to ``split``; UnknownShiftError lists the known names."""
    name = canonical(name)
    if name not in SHIFTS:
        raise UnknownShiftError(f"unknown shift {name!r}; known: {', '.join(SHIFTS)}")
    if SHIFTS[name].transform is None:
        raise UnknownShiftError(f"shift {name!r} is built from the dataset, not from a split: "
                                f"use edgelnn.data.shifted_test(dataset, {name!r}, level)")
    return SHIFTS[name].transform(split, level, seed)
