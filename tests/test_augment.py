"""Time augmentation: the drop / sampling-rate transformations at random levels, true dt kept,
deterministic per seed."""
import numpy as np
import pytest
import torch

from edgelnn import data
from edgelnn.data.prepare import valid_mask
from edgelnn.train import TrainConfig, UnknownAugmentError, train
from edgelnn.train.augment import augment_rng, time_augment


def _batch():
    return data.load("irregular-sine").train.subset(np.arange(16))


def test_time_augment_keeps_span_endpoints_and_targets():
    batch = _batch()
    rng = augment_rng(0)
    changed = 0
    for _ in range(40):
        out = time_augment(batch, rng)
        assert np.array_equal(out.y, batch.y)
        mask = valid_mask(out)
        assert (out.dt > 0).all() and (out.lengths >= 2).all()
        for i in range(len(batch)):
            L, M = batch.lengths[i], out.lengths[i]
            # the time from first to last sample is the original one: true dt kept
            assert np.isclose(out.dt[i, 1:M].sum(), batch.dt[i, 1:L].sum(), rtol=1e-4)
            # first and last samples survive (the target of a forecast window stays valid)
            assert np.allclose(out.x[i, 0], batch.x[i, 0]) and np.allclose(out.x[i, M - 1], batch.x[i, L - 1], atol=1e-5)
        assert (out.x[~mask] == 0).all()
        changed += out.x.shape != batch.x.shape or not np.array_equal(out.lengths, batch.lengths)
    assert 10 <= changed <= 38  # each transformation with probability 1/2: most batches change


def test_time_augment_is_deterministic_per_seed():
    batch = _batch()
    a = [time_augment(batch, r) for r in [augment_rng(3)] for _ in range(5)]
    b = [time_augment(batch, r) for r in [augment_rng(3)] for _ in range(5)]
    c = [time_augment(batch, r) for r in [augment_rng(4)] for _ in range(5)]
    assert all(np.array_equal(x.x, y.x) and np.array_equal(x.dt, y.dt) for x, y in zip(a, b))
    assert not all(x.x.shape == y.x.shape and np.array_equal(x.x, y.x) for x, y in zip(a, c))


def test_augmented_training_is_deterministic_and_differs_from_plain():
    cfg = TrainConfig("gru", "italypowerdemand", units=6, epochs=2, seed=2, augment="time")
    m1, r1 = train(cfg)
    m2, r2 = train(cfg)
    assert r1.history == r2.history and r1.augment == "time"
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    _, plain = train(TrainConfig("gru", "italypowerdemand", units=6, epochs=2, seed=2))
    assert plain.history != r1.history and plain.augment is None


def test_unknown_augment_is_refused_before_training():
    with pytest.raises(UnknownAugmentError, match="known: time"):
        train(TrainConfig("gru", "italypowerdemand", units=6, epochs=1, augment="mixup"))
