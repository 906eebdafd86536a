"""Synthetic irregularly-sampled sinusoids where a model must use dt to classify well."""
from __future__ import annotations

import numpy as np

from .prepare import RawData
from .types import Split

FREQ_BANDS = (0.05, 0.10, 0.18)  # class centre frequencies, cycles per time unit (+-15%)


def _gamma(rng: np.random.Generator, cv: float, size) -> np.ndarray:
    """Gamma draws with mean 1 and coefficient of variation ``cv`` (all ones when cv == 0)."""
    if cv <= 0:
        return np.ones(size)
    k = 1.0 / cv**2
    return rng.gamma(k, 1.0 / k, size)


def make_irregular_sine(n: int, length: int = 64, irregularity: float = 0.5,
                        noise: float = 0.1, seed: int = 0) -> Split:
    """n sequences of 2 channels (noisy sin and cos of one phase), 3 balanced frequency classes.

    dt = r_i * g_ij: a per-sequence rate r_i times per-step jitter g_ij, both gamma with mean 1
    and equal CV chosen so dt overall has mean 1 and CV = ``irregularity``. The per-sequence rate
    is what makes dt matter: without it, cycles-per-sample alone separates the classes (~99%
    either way); with it, frequency read per sample (ignoring dt) overlaps between classes
    (~75% vs ~99% for a phase-rate rule at irregularity 0.5). dt[:, 0] is the nominal 1.0.
    """
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(FREQ_BANDS)).astype(np.int64)
    freq = np.asarray(FREQ_BANDS)[y] * rng.uniform(0.85, 1.15, n)
    cv = np.sqrt(np.sqrt(1.0 + irregularity**2) - 1.0)  # (1+cv^2)^2 = 1+irregularity^2
    dt = _gamma(rng, cv, (n, 1)) * _gamma(rng, cv, (n, length))
    dt[:, 0] = 1.0
    phase = 2 * np.pi * freq[:, None] * np.cumsum(dt, axis=1) + rng.uniform(0, 2 * np.pi, (n, 1))
    amp = rng.uniform(0.8, 1.2, (n, 1))
    x = np.stack([amp * np.sin(phase), amp * np.cos(phase)], axis=-1)
    x += noise * rng.standard_normal(x.shape)
    return Split(x.astype(np.float32), dt.astype(np.float32), y, np.full(n, length, dtype=np.int64))


def load_irregular_sine() -> RawData:
    """Fixed benchmark instance: 600 train (seed 0) / 300 test (seed 1), irregularity 0.5."""
    names = [f"{f:g} cycles/unit" for f in FREQ_BANDS]
    return RawData(make_irregular_sine(600, seed=0), make_irregular_sine(300, seed=1), names)


def irregular_sine_horizon(factor: float) -> Split:
    """The test items (seed 1) drawn at ``factor`` x 64 steps (horizon shift).

    Same seed, so each item keeps its class, frequency and per-sequence sampling rate (drawn
    before anything length-dependent); its phase, amplitude, jitter and noise are new draws."""
    return make_irregular_sine(300, length=int(round(64 * factor)), seed=1)
