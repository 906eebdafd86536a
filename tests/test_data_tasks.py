"""The physical-dynamics and event datasets, the offset-drift shift and the relative-MSE metric."""
from __future__ import annotations

import numpy as np
import pytest

from edgelnn import data, metrics
from edgelnn.data import add_offset_drift, apply_shift, shift_suite, shifted_test
from edgelnn.data import dynamics, events
from edgelnn.data.prepare import valid_mask


def _inner_dt(split) -> np.ndarray:
    return np.concatenate([split.dt[i, 1:L] for i, L in enumerate(split.lengths)]).astype(np.float64)


# --- double-pendulum -------------------------------------------------------------------------------

def _energy(s: np.ndarray) -> np.ndarray:
    """Total mechanical energy of double-pendulum states (..., 4) (independent of the EOM code)."""
    t1, t2, w1, w2 = np.moveaxis(s, -1, 0)
    m1, m2, l1, l2, g = dynamics.M1, dynamics.M2, dynamics.L1, dynamics.L2, dynamics.G
    kin = 0.5 * (m1 + m2) * l1**2 * w1**2 + 0.5 * m2 * l2**2 * w2**2 + m2 * l1 * l2 * w1 * w2 * np.cos(t1 - t2)
    pot = -(m1 + m2) * g * l1 * np.cos(t1) - m2 * g * l2 * np.cos(t2)
    return kin + pot


def test_pendulum_simulator_obeys_the_energy_balance():
    """dE/dt = u w1 - b (w1^2 + w2^2): conserved when free, and the drive/damping terms add up."""
    rng = np.random.default_rng(0)
    n, steps = 6, 300
    state0 = np.concatenate([rng.uniform(-1, 1, (n, 2)), rng.uniform(-1, 1, (n, 2))], axis=1)
    record = np.tile(np.arange(steps + 1), (n, 1))
    free = dynamics.simulate(state0, np.zeros((n, 4)), steps, record)
    e = _energy(free)
    assert np.abs(e - e[:, :1]).max() < 1e-6 * np.abs(e).max()
    params = np.stack([rng.uniform(0.05, 0.3, n), rng.uniform(1, 8, n), rng.uniform(1.5, 4.5, n),
                       rng.uniform(0, 6, n)], axis=1)
    s = dynamics.simulate(state0, params, steps, record)
    t = np.arange(steps + 1) * dynamics.STEP_S
    u = params[:, 1:2] * np.sin(params[:, 2:3] * t + params[:, 3:4])
    power = u * s[..., 2] - params[:, :1] * (s[..., 2] ** 2 + s[..., 3] ** 2)
    work = ((power[:, 1:] + power[:, :-1]) / 2 * dynamics.STEP_S).sum(axis=1)
    gained = _energy(s[:, -1]) - _energy(s[:, 0])
    assert np.abs(work).min() > 0.1  # the drive does real work ...
    np.testing.assert_allclose(gained, work, atol=2e-3 * np.abs(work).max())  # ... and it adds up


def test_pendulum_shapes_dt_and_determinism():
    ds = data.load("double-pendulum")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (400, 100, 500)
    assert ds.task == "regression" and ds.input_size == 5 and ds.output_size == 4
    for s in (ds.train, ds.val, ds.test):
        assert s.x.shape[1:] == (32, 5) and s.y.shape == (len(s), 4) and (s.lengths == 32).all()
        assert (s.dt[:, 0] == 1).all()
        dt = _inner_dt(s)
        assert abs(dt.mean() - 1) < 0.05 and abs(dt.std() / dt.mean() - dynamics.DT_CV) < 0.05
        assert dt.min() >= 0.1 - 1e-6  # on the 10 ms integrator grid, in units of 0.1 s
        np.testing.assert_allclose(dt * 10, np.round(dt * 10), atol=1e-4)
    a = dynamics._observe.__wrapped__(((20, 7),))[0]  # uncached: a fresh generation
    b = dynamics._observe.__wrapped__(((20, 7),))[0]
    c = dynamics._observe.__wrapped__(((20, 8),))[0]
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[0], c[0])
    # a trajectory does not depend on which other trajectories share the RK4 run
    np.testing.assert_array_equal(dynamics.make_pendulum(500, 1).x, data.DATASETS["double-pendulum"].loader().test.x)


def test_pendulum_target_needs_velocity_from_dt():
    """Persistence leaves a large error; extrapolating with velocity = change / dt halves it, and the
    same extrapolation without dt (dt taken as 1) is worse: dt carries information."""
    raw = data.DATASETS["double-pendulum"].loader().train
    last, prev, y = raw.x[:, -1, :4], raw.x[:, -2, :4], raw.y
    lead = dynamics.LEAD_S / dynamics.MEAN_DT_S
    persist = metrics.relative_mse(last, y)
    with_dt = metrics.relative_mse(last + (last - prev) / raw.dt[:, -1:] * lead, y)
    without = metrics.relative_mse(last + (last - prev) * lead, y)
    assert 0.15 < persist < 0.6 and with_dt < 0.7 * persist and with_dt < 0.8 * without


# --- digits-events ---------------------------------------------------------------------------------

def test_digit_events_rebuild_the_image():
    """Column from the channel, row only from accumulated dt: the events are the inked pixels."""
    images, y = events.read_digits()
    assert images.shape == (1797, 8, 8) and images.max() == 16 and np.bincount(y).min() >= 170
    for image in images[:50]:
        ev, dt = events.encode_events(image)
        rows, cols = np.nonzero(image >= events.EVENT_THRESHOLD)
        ticks = rows[0] * 8 + cols[0] + np.cumsum(dt) - dt[0]
        np.testing.assert_array_equal(ticks // 8, rows)
        np.testing.assert_array_equal(ticks % 8, ev[:, 1])
        np.testing.assert_allclose(ev[:, 0] * 16, image[rows, cols])


def test_digits_events_splits_and_dt():
    raw = data.DATASETS["digits-events"].loader()
    assert (len(raw.train), len(raw.test)) == (600, 1197) and raw.label_names == [str(d) for d in range(10)]
    counts = np.bincount(raw.train.y, minlength=10)
    assert counts.min() >= 58 and counts.max() <= 62  # stratified
    lengths = np.concatenate([raw.train.lengths, raw.test.lengths])
    assert lengths.min() == 16 and lengths.max() == 36 and raw.train.x.shape[1] == 36
    dt = _inner_dt(raw.train)
    assert dt.min() == 1 and np.median(dt) == 1 and 2.0 < dt.mean() < 2.5 and dt.max() >= 8
    again = data.DATASETS["digits-events"].loader()
    np.testing.assert_array_equal(again.test.x, raw.test.x)
    np.testing.assert_array_equal(again.test.y, raw.test.y)
    images, _ = events.read_digits()  # train and test are disjoint images covering the file
    assert len(np.unique(images.reshape(len(images), -1), axis=0)) > 1700


# --- offset-drift ----------------------------------------------------------------------------------

def test_offset_drift_zero_level_is_identity():
    s = data.make_irregular_sine(30, length=20, seed=2)
    d = apply_shift(s, "offset-drift", 0.0, seed=5)
    for a, b in ((d.x, s.x), (d.dt, s.dt), (d.y, s.y), (d.lengths, s.lengths)):
        np.testing.assert_array_equal(a, b)


def test_offset_drift_grows_with_elapsed_time():
    s = data.load("japanesevowels").test  # variable lengths: padding must stay 0
    before = s.x.copy()
    d = add_offset_drift(s, 1.5, seed=3)
    np.testing.assert_array_equal(s.x, before)  # input untouched
    m = valid_mask(s)
    delta = (d.x - s.x).astype(np.float64)
    assert (d.x[~m] == 0).all() and np.array_equal(d.dt, s.dt) and np.array_equal(d.y, s.y)
    rows = np.arange(len(s))
    np.testing.assert_allclose(delta[:, 0], 0, atol=1e-6)  # nothing at the first sample
    np.testing.assert_allclose(np.abs(delta[rows, s.lengths - 1]), 1.5, atol=1e-5)  # level at the last
    signs = np.sign(delta[rows, s.lengths - 1])
    assert (signs == 1).mean() > 0.3 and (signs == -1).mean() > 0.3  # both directions, per item/channel
    t = np.cumsum(np.where(m, s.dt, 0), axis=1) - s.dt[:, :1]
    expected = 1.5 * signs[:, None, :] * (t / t[rows, s.lengths - 1][:, None])[..., None]
    np.testing.assert_allclose(np.where(m[..., None], delta, 0), np.where(m[..., None], expected, 0), atol=1e-5)
    again = add_offset_drift(s, 1.5, seed=3)
    np.testing.assert_array_equal(again.x, d.x)


def test_offset_drift_follows_true_time_not_steps():
    s = data.make_irregular_sine(5, length=30, seed=1)
    d = add_offset_drift(s, 2.0, seed=0)
    ramp = np.abs(d.x - s.x)[..., 0].astype(np.float64)
    elapsed = np.cumsum(s.dt, axis=1) - s.dt[:, :1]
    np.testing.assert_allclose(ramp, 2.0 * elapsed / elapsed[:, -1:], atol=1e-5)
    assert not np.allclose(ramp, 2.0 * np.linspace(0, 1, 30)[None], atol=1e-2)  # irregular dt


# --- suites on the study's datasets ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["basicmotions", "co2", "double-pendulum", "digits-events"])
def test_every_shift_of_the_suite_builds(name):
    ds = data.load(name)
    suite = shift_suite(name)
    assert [lvl for s, lvl in suite if s == "offset-drift"] == [0.25, 0.5, 1.0]
    for shift, level in suite:
        s = shifted_test(ds, shift, level)
        assert len(s) == len(ds.test) and np.isfinite(s.x).all() and (s.dt > 0).all()
        assert (s.x[~valid_mask(s)] == 0).all()
        if ds.task == "regression":
            np.testing.assert_allclose(s.y, ds.test.y, atol=1e-6)
        else:
            np.testing.assert_array_equal(s.y, ds.test.y)


# --- relative MSE ----------------------------------------------------------------------------------

def test_relative_mse_known_values():
    y = np.array([[0.0], [1.0], [2.0], [3.0]])  # mean 1.5: baseline MSE 1.25
    assert metrics.relative_mse(y, y) == 0.0
    assert metrics.relative_mse(np.full_like(y, 1.5), y) == pytest.approx(1.0)
    assert metrics.relative_mse(y + 1.0, y) == pytest.approx(0.8)
    assert metrics.relative_mse(np.full_like(y, 11.5), y) == pytest.approx(1 + 10**2 / 1.25)  # bias^2 / var
    assert metrics.relative_mse(3 * (y + 1.0) - 7, 3 * y - 7) == pytest.approx(0.8)  # scale free
    y2 = np.array([[0.0, 10.0], [2.0, 10.0], [4.0, 14.0], [6.0, 14.0]])  # pooled over outputs
    pred = y2 + np.array([[1.0, 2.0]])  # squared errors 1 and 4; baselines 5 and 4
    assert metrics.relative_mse(pred, y2) == pytest.approx((1 + 4) / (5 + 4))
    items = metrics.item_scores(pred, y2, "regression", target_std=2.0)
    assert metrics.relative_mse_from_items(items, y2, target_std=2.0) == pytest.approx(5 / 9)
    np.testing.assert_allclose(metrics.mean_baseline_items(y2), [(9 + 4) / 2, (1 + 4) / 2, (1 + 4) / 2, (9 + 4) / 2])
    assert metrics.HIGHER_IS_BETTER[metrics.RELATIVE_MSE] is False
