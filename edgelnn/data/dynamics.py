"""A driven, damped double pendulum observed at irregular times: a physical-dynamics regression task.

Like the CfC paper's Walker2d kinematic modelling (predict a body's motion from its irregularly
sampled past), but generated here with numpy, so it needs no simulator package and is the same
for a seed on any machine: measured on the 500 training trajectories, a 1e-13 change of the initial
state grows to at most 5e-7 m (median 1e-13) over the 13 s simulated, so last-bit differences
between machines' sin/cos stay below the float32 resolution of the stored data. Two rigid links (1 m, 1 kg point masses, g = 9.81) hang from a pivot;
joint 1 is driven by a sinusoidal torque u(t); both joints are damped. Each sequence is one
trajectory with its own damping, drive amplitude, frequency and phase, and initial state.

Inputs per observation: elbow (x1, y1) and tip (x2, y2) positions in metres and the drive torque u;
dt = time since the previous observation in units of the mean sampling interval (0.1 s), gamma
distributed with CV 0.5 on the integrator's 10 ms grid. Target: the four positions LEAD_S (0.2 s)
after the last observation, so velocity (position change per unit dt) is what must be read.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .prepare import RawData, pad
from .types import Split

G, L1, L2, M1, M2 = 9.81, 1.0, 1.0, 1.0, 1.0
STEP_S = 0.01         # RK4 step; observation times lie on its grid
MEAN_DT_S = 0.1       # mean sampling interval (the dt unit)
DT_CV = 0.5           # coefficient of variation of the sampling interval
LEAD_S = 0.2          # the target lies this long after the last observation
PENDULUM_LENGTH = 32  # observations per sequence
MAX_HORIZON = 4.0     # each trajectory holds MAX_HORIZON x PENDULUM_LENGTH observations
PENDULUM_N = {"train": (500, 0), "test": (500, 1)}  # (sequences, generator seed)


def accelerations(theta: np.ndarray, omega: np.ndarray, torque: np.ndarray, damping: np.ndarray) -> np.ndarray:
    """Angular accelerations (..., 2) of the double pendulum (angles from the downward vertical).

    M(theta) theta'' = Q - c(theta, omega) with Q = (u - b w1, -b w2), solved in closed form."""
    d = theta[..., 0] - theta[..., 1]
    w1, w2 = omega[..., 0], omega[..., 1]
    m11, m12, m22 = (M1 + M2) * L1**2, M2 * L1 * L2 * np.cos(d), M2 * L2**2
    r1 = torque - damping * w1 - M2 * L1 * L2 * np.sin(d) * w2**2 - (M1 + M2) * G * L1 * np.sin(theta[..., 0])
    r2 = -damping * w2 + M2 * L1 * L2 * np.sin(d) * w1**2 - M2 * G * L2 * np.sin(theta[..., 1])
    det = m11 * m22 - m12**2
    return np.stack([(m22 * r1 - m12 * r2) / det, (m11 * r2 - m12 * r1) / det], axis=-1)


def positions(theta: np.ndarray) -> np.ndarray:
    """(..., 2) joint angles -> (..., 4) elbow and tip positions (x1, y1, x2, y2) in metres."""
    x1, y1 = L1 * np.sin(theta[..., 0]), -L1 * np.cos(theta[..., 0])
    return np.stack([x1, y1, x1 + L2 * np.sin(theta[..., 1]), y1 - L2 * np.cos(theta[..., 1])], axis=-1)


def simulate(state0: np.ndarray, params: np.ndarray, steps: int, record: np.ndarray,
             step_s: float = STEP_S) -> np.ndarray:
    """Integrate N trajectories with classic RK4 and return their states at grid steps ``record``.

    state0: (N, 4) angles and angular velocities; params: (N, 4) damping, drive amplitude (N m),
    drive frequency (rad/s), drive phase; record: (N, S) increasing step indices in 0..steps.
    Returns (N, S, 4) states."""
    b, amp, freq, phase = params.T
    drive = lambda t: amp * np.sin(freq * t + phase)

    def f(t, s):
        return np.concatenate([s[:, 2:], accelerations(s[:, :2], s[:, 2:], drive(t), b)], axis=1)

    n, n_rec = record.shape
    out = np.empty((n, n_rec, 4))
    rows, ptr, s = np.arange(n), np.zeros(n, dtype=np.int64), state0.astype(np.float64).copy()
    for k in range(steps + 1):
        hit = record[rows, np.minimum(ptr, n_rec - 1)] == k
        hit &= ptr < n_rec
        out[rows[hit], ptr[hit]] = s[hit]
        ptr += hit
        if k == steps:
            break
        t = k * step_s
        k1 = f(t, s)
        k2 = f(t + step_s / 2, s + step_s / 2 * k1)
        k3 = f(t + step_s / 2, s + step_s / 2 * k2)
        k4 = f(t + step_s, s + step_s * k3)
        s = s + step_s / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return out


def _draw(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 4) parameters, (n, 4) initial states and (n, S-1) gaps in grid steps, S = MAX_HORIZON x
    PENDULUM_LENGTH: all drawn before anything length-dependent, so a window never changes them."""
    rng = np.random.default_rng(seed)
    params = np.stack([rng.uniform(0.05, 0.3, n), rng.uniform(0.0, 8.0, n), rng.uniform(1.5, 4.5, n),
                       rng.uniform(0, 2 * np.pi, n)], axis=1)
    state0 = np.concatenate([rng.uniform(-1, 1, (n, 2)), rng.uniform(-1, 1, (n, 2))], axis=1)
    S = int(round(MAX_HORIZON * PENDULUM_LENGTH))
    k = 1 / DT_CV**2
    gaps = np.maximum(1, np.round(rng.gamma(k, MEAN_DT_S / k, (n, S - 1)) / STEP_S)).astype(np.int64)
    return params, state0, gaps


@lru_cache(maxsize=4)
def _observe(specs: tuple[tuple[int, int], ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per (n, seed) in ``specs``: (n, S+1, 5) observations [x1, y1, x2, y2, u] (the last is the
    target's, LEAD_S after the S-th) and (n, S-1) gaps in dt units. One RK4 run for all specs
    (numpy's per-call cost dominates at these sizes); each trajectory is independent of the others."""
    drawn = [_draw(n, seed) for n, seed in specs]
    params = np.concatenate([d[0] for d in drawn])
    state0 = np.concatenate([d[1] for d in drawn])
    gaps = np.concatenate([d[2] for d in drawn])
    steps = np.concatenate([np.zeros((len(gaps), 1), np.int64), np.cumsum(gaps, axis=1)], axis=1)
    record = np.concatenate([steps, steps[:, -1:] + int(round(LEAD_S / STEP_S))], axis=1)
    states = simulate(state0, params, int(record.max()), record)
    _, amp, freq, phase = params.T
    u = amp[:, None] * np.sin(freq[:, None] * record * STEP_S + phase[:, None])
    obs = np.concatenate([positions(states[..., :2]), u[..., None]], axis=-1)
    bounds = np.cumsum([0] + [n for n, _ in specs])
    return [(obs[a:b], gaps[a:b] * STEP_S / MEAN_DT_S) for a, b in zip(bounds[:-1], bounds[1:])]


def window(obs: np.ndarray, gaps: np.ndarray, length: int) -> Split:
    """The last ``length`` observations of each trajectory as a Split, target LEAD_S after the last.

    ``length`` up to MAX_HORIZON x PENDULUM_LENGTH: a longer window ends at the same observation
    and has the same target (the horizon shift)."""
    n, S = len(obs), obs.shape[1] - 1
    if not 2 <= length <= S:
        raise ValueError(f"pendulum windows hold 2..{S} observations, got {length}")
    dt = np.concatenate([np.ones((n, 1)), gaps[:, S - length : S - 1]], axis=1)
    return pad(list(obs[:, S - length : S]), obs[:, S, :4].astype(np.float32), list(dt))


def make_pendulum(n: int, seed: int, length: int = PENDULUM_LENGTH) -> Split:
    """n trajectories drawn with ``seed``, each as its last ``length`` observations and target."""
    return window(*_observe(((n, seed),))[0], length)


_SETS = (PENDULUM_N["train"], PENDULUM_N["test"])


def load_pendulum() -> RawData:
    """Fixed instance: 500 train trajectories (seed 0) / 500 test (seed 1), 32 observations each."""
    (train, test) = _observe(_SETS)
    return RawData(window(*train, PENDULUM_LENGTH), window(*test, PENDULUM_LENGTH), [])


def pendulum_horizon(factor: float) -> Split:
    """The test trajectories observed over ``factor`` x 32 observations ending at the same time."""
    return window(*_observe(_SETS)[1], int(round(PENDULUM_LENGTH * factor)))
