"""edgelnn.data on the real bundled files: shapes, splits, normalisation, determinism, shifts."""
from __future__ import annotations

import numpy as np
import pytest

from edgelnn.data import (DATASETS, SHIFTS, Dataset, Split, UnknownDatasetError, UnknownShiftError,
                          apply_shift, load, make_irregular_sine, names)
from edgelnn.data.prepare import build, valid_mask

# name: (task, input_size, output_size, train+val, test, T, label_names or None)
EXPECTED = {
    "basicmotions": ("classification", 6, 4, 40, 40, 100, ["Standing", "Running", "Walking", "Badminton"]),
    "japanesevowels": ("classification", 12, 9, 270, 370, 29, [str(i) for i in range(1, 10)]),
    "italypowerdemand": ("classification", 1, 2, 67, 1029, 24, ["1", "2"]),
    "co2": ("regression", 1, 1, 761, 326, 52, []),
    "irregular-sine": ("classification", 2, 3, 600, 300, 64, None),
    "double-pendulum": ("regression", 5, 4, 500, 500, 32, []),
    "digits-events": ("classification", 2, 10, 600, 1197, 36, [str(d) for d in range(10)]),
}
_CACHE: dict[str, Dataset] = {}


def get(name: str) -> Dataset:
    if name not in _CACHE:
        _CACHE[name] = load(name)
    return _CACHE[name]


def splits(ds: Dataset) -> list[Split]:
    return [ds.train, ds.val, ds.test]


def test_registry_names():
    assert names() == list(EXPECTED)
    for name, info in DATASETS.items():
        assert (info.task, info.input_size, info.output_size, info.n_train, info.n_test) == EXPECTED[name][:5]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_shapes_and_sizes(name):
    task, c, out, n_train, n_test, T, labels = EXPECTED[name]
    ds, info = get(name), DATASETS[name]
    assert (ds.name, ds.task, ds.input_size, ds.output_size) == (name, task, c, out)
    assert len(ds.train) + len(ds.val) == n_train and len(ds.test) == n_test
    assert len(ds.val) > 0 and len(ds.norm_mean) == len(ds.norm_std) == c
    if labels is not None:
        assert ds.label_names == labels
    for s in splits(ds):
        assert s.x.shape == (len(s), T, c) and s.x.dtype == np.float32
        assert s.dt.shape == (len(s), T) and s.dt.dtype == np.float32 and (s.dt > 0).all()
        assert s.lengths.dtype == np.int64 and s.lengths.min() >= info.min_length
        assert s.lengths.max() <= info.max_length == T
        assert np.isfinite(s.x).all()
        if task == "classification":
            assert s.y.shape == (len(s),) and s.y.dtype == np.int64
            assert set(np.unique(s.y)) <= set(range(out))
        else:
            assert s.y.shape == (len(s), out) and s.y.dtype == np.float32
    if task == "classification":  # every class present in train and test, val stratified
        for s in (ds.train, ds.test):
            assert set(np.unique(s.y)) == set(range(out))
        full = np.bincount(np.concatenate([ds.train.y, ds.val.y]), minlength=out)
        assert np.abs(np.bincount(ds.val.y, minlength=out) - 0.2 * full).max() <= 1


def test_japanesevowels_variable_length_and_padding():
    ds = get("japanesevowels")
    lengths = np.concatenate([s.lengths for s in splits(ds)])
    assert lengths.min() == 7 and lengths.max() == 29 and len(np.unique(lengths)) > 5
    for s in splits(ds):
        pad = ~valid_mask(s)
        assert (s.x[pad] == 0).all() and (s.dt[pad] == ds.nominal_dt).all()
        assert (np.abs(s.x[np.arange(len(s)), s.lengths - 1]).sum(axis=1) > 0).all()  # last valid step is real


@pytest.mark.parametrize("name", list(EXPECTED))
def test_normalised_with_train_stats(name):
    ds = get(name)
    vals = ds.train.x[valid_mask(ds.train)]
    np.testing.assert_allclose(vals.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(vals.std(axis=0), 1, atol=1e-3)


def test_test_split_not_normalised_by_its_own_stats():
    for name in ("basicmotions", "co2"):
        test = get(name).test
        vals = test.x[valid_mask(test)]
        assert np.abs(vals.mean(axis=0)).max() > 0.05 or np.abs(vals.std(axis=0) - 1).max() > 0.05


def test_changing_test_data_does_not_change_norm():
    info = DATASETS["basicmotions"]
    raw = info.loader()
    a = build(raw, name="b", task=info.task, seed=0, val_fraction=0.2)
    raw.test.x[:] = raw.test.x * 10 + 5
    b = build(raw, name="b", task=info.task, seed=0, val_fraction=0.2)
    assert a.norm_mean == b.norm_mean and a.norm_std == b.norm_std
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert not np.allclose(a.test.x, b.test.x)


def test_deterministic_per_seed_and_val_depends_on_seed():
    a, b, c = load("japanesevowels", seed=0), load("japanesevowels", seed=0), load("japanesevowels", seed=1)
    for sa, sb in zip(splits(a), splits(b)):
        np.testing.assert_array_equal(sa.x, sb.x)
        np.testing.assert_array_equal(sa.y, sb.y)
    assert a.norm_mean == b.norm_mean
    assert not np.array_equal(a.val.x, c.val.x) and a.norm_mean != c.norm_mean
    m = valid_mask(a.test)  # same test data, normalised with other train stats
    np.testing.assert_allclose((a.test.x * a.norm_std + a.norm_mean)[m],
                               (c.test.x * c.norm_std + c.norm_mean)[m], atol=1e-4)


def test_val_fraction_honoured():
    ds = load("basicmotions", val_fraction=0.5)
    assert len(ds.val) == 20 and len(ds.train) == 20
    assert len(ds.train.subset(slice(0, 5))) == 5
    with pytest.raises(ValueError):
        load("basicmotions", val_fraction=1.0)


def test_co2_chronological_and_dt():
    ds = get("co2")
    assert ds.target_mean == ds.norm_mean[0] and ds.target_std == ds.norm_std[0]
    for s in splits(ds):
        assert (s.dt > 0).all() and (s.dt[:, 0] == 1).all()
    dts = np.concatenate([s.dt.ravel() for s in splits(ds)])
    assert np.median(dts) == 1 and dts.max() >= 2  # real gaps where weeks are missing
    # relative to each window's last week: that input is 0 and the target (next week) is close to it
    last = ds.train.x[:, -1, 0] * ds.norm_std[0] + ds.norm_mean[0]
    target = ds.train.y[:, 0] * ds.target_std + ds.target_mean
    np.testing.assert_allclose(last, 0, atol=1e-5)
    assert np.abs(target - last).max() < 5 and target.std() > 0.3


def test_co2_targets_chronological_from_loader():
    from edgelnn.data.loaders import CO2_STRIDE, CO2_WINDOW, read_co2
    values, gaps = read_co2()
    assert (gaps > 0).all() and len(values) == 2225
    n = len(range(CO2_WINDOW, len(values), CO2_STRIDE))
    ds = get("co2")
    assert len(ds.train) + len(ds.val) + len(ds.test) == n
    assert len(ds.val) == round(0.15 * (len(ds.train) + len(ds.val)))  # last 15% of the train period
    # split by target index: train targets, then val targets, then test targets, all in time order;
    # each the change from the window's last week, whose inputs are relative to that week
    target = np.concatenate([s.y[:, 0] for s in splits(ds)]) * ds.target_std + ds.target_mean
    t = np.arange(CO2_WINDOW, len(values), CO2_STRIDE)
    np.testing.assert_allclose(target, values[t] - values[t - 1], atol=1e-4)
    first = ds.train.x[0, :, 0] * ds.norm_std[0] + ds.norm_mean[0]
    np.testing.assert_allclose(first, values[:CO2_WINDOW] - values[CO2_WINDOW - 1], atol=1e-4)


def test_unknown_names_list_known():
    with pytest.raises(UnknownDatasetError, match="basicmotions.*irregular-sine") as e:
        load("mnist")
    assert isinstance(e.value, ValueError)
    with pytest.raises(UnknownShiftError, match="noise, offset-drift, drop, sampling-rate, horizon") as e:
        apply_shift(get("basicmotions").test, "blur", 1.0)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_noise_snr(snr):
    s = get("japanesevowels").test
    before = s.x.copy()
    n = apply_shift(s, "noise", snr, seed=3)
    np.testing.assert_array_equal(s.x, before)  # input untouched
    m = valid_mask(s)
    noise = (n.x - s.x)[m]
    measured = 10 * np.log10((s.x[m] ** 2).mean(axis=0) / (noise**2).mean(axis=0))
    assert np.abs(measured - snr).max() < 1.0
    assert (n.x[~m] == 0).all() and np.array_equal(n.dt, s.dt)


@pytest.mark.parametrize("name", ["japanesevowels", "irregular-sine"])
@pytest.mark.parametrize("fraction", [0.25, 0.5])
def test_drop_samples(name, fraction):
    s = get(name).test
    before = (s.x.copy(), s.dt.copy(), s.lengths.copy())
    d = apply_shift(s, "drop", fraction, seed=1)
    for a, b in zip(before, (s.x, s.dt, s.lengths)):
        np.testing.assert_array_equal(a, b)  # input untouched
    assert d.x.shape == s.x.shape and d.dt.shape == s.dt.shape
    span = lambda sp: np.array([sp.dt[i, : L].astype(np.float64).sum() for i, L in enumerate(sp.lengths)])
    np.testing.assert_allclose(span(d), span(s), rtol=1e-5)
    assert (d.lengths < s.lengths).all() and (d.lengths >= 2).all()
    np.testing.assert_allclose(d.lengths, s.lengths - np.round(fraction * s.lengths), atol=1)
    rows = np.arange(len(s))
    np.testing.assert_array_equal(d.x[:, 0], s.x[:, 0])  # first and last kept
    np.testing.assert_array_equal(d.x[rows, d.lengths - 1], s.x[rows, s.lengths - 1])
    pad = ~valid_mask(d)
    assert (d.x[pad] == 0).all() and (d.dt > 0).all() and (d.dt[pad] == 1).all()


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_change_sampling_rate(factor):
    s = get("japanesevowels").test
    before = s.x.copy()
    c = apply_shift(s, "sampling-rate", factor)
    np.testing.assert_array_equal(s.x, before)
    expected = np.maximum(2, np.round(s.lengths * factor))
    np.testing.assert_array_equal(c.lengths, expected)
    assert c.x.shape == (len(s), int(expected.max()), s.x.shape[2])
    inner = lambda sp: np.array([sp.dt[i, 1:L].astype(np.float64).sum() for i, L in enumerate(sp.lengths)])
    np.testing.assert_allclose(inner(c), inner(s), rtol=1e-5)
    rows = np.arange(len(s))
    np.testing.assert_allclose(c.x[:, 0], s.x[:, 0], atol=1e-6)  # endpoints preserved
    np.testing.assert_allclose(c.x[rows, c.lengths - 1], s.x[rows, s.lengths - 1], atol=1e-5)
    pad = ~valid_mask(c)
    assert (c.x[pad] == 0).all() and (c.dt > 0).all()


def test_change_sampling_rate_irregular_time_axis():
    s = make_irregular_sine(20, length=40, seed=2)
    c = apply_shift(s, "sampling-rate", 2.0)
    assert (c.lengths == 80).all()
    np.testing.assert_allclose(c.dt[:, 1:].sum(1), s.dt[:, 1:].astype(np.float64).sum(1), rtol=1e-5)


def test_irregular_sine_dt_regularity():
    reg = make_irregular_sine(200, irregularity=0.0)
    assert (reg.dt == 1.0).all()
    irr = make_irregular_sine(400, irregularity=0.5, seed=4)
    dt = irr.dt[:, 1:].astype(np.float64)
    assert abs(dt.mean() - 1) < 0.05 and abs(dt.std() / dt.mean() - 0.5) < 0.05
    assert irr.x.shape == (400, 64, 2) and set(np.unique(irr.y)) == {0, 1, 2}
    again = make_irregular_sine(400, irregularity=0.5, seed=4)
    np.testing.assert_array_equal(irr.x, again.x)
    np.testing.assert_array_equal(irr.dt, again.dt)


def test_irregular_sine_needs_dt():
    """Frequency from phase advance per unit time separates classes; per sample it does not."""
    s = make_irregular_sine(900, irregularity=0.5, seed=5)
    phase = np.unwrap(np.arctan2(s.x[..., 0], s.x[..., 1]), axis=1)
    advance = np.abs(phase[:, -1] - phase[:, 0])
    def accuracy(freq):
        med = [np.median(freq[s.y == k]) for k in range(3)]
        return (np.digitize(freq, [(med[0] + med[1]) / 2, (med[1] + med[2]) / 2]) == s.y).mean()
    with_dt = accuracy(advance / s.dt[:, 1:].sum(1))
    without = accuracy(advance / (s.x.shape[1] - 1))
    assert with_dt > 0.95 and without < 0.85


def test_shifts_registry():
    assert list(SHIFTS) == ["noise", "offset-drift", "drop", "sampling-rate", "horizon"]
    s = make_irregular_sine(10, length=20, seed=2)
    old = apply_shift(s, "length", 2.0)  # the name before the rename still means the same shift
    np.testing.assert_array_equal(old.x, apply_shift(s, "sampling-rate", 2.0).x)
    with pytest.raises(UnknownShiftError, match="shifted_test"):
        apply_shift(s, "horizon", 2.0)  # built from the dataset, not from a split
