"""Standard shift suites and shifted test sets with fixed seeds (items pair across models/seeds)."""
import numpy as np
import pytest

from edgelnn import data, metrics
from edgelnn.data import (UnknownShiftError, horizon_supported, shift_seed, shift_suite, shifted_test)
from edgelnn.data.prepare import valid_mask

STUDY_DATASETS = ("italypowerdemand", "japanesevowels", "irregular-sine", "basicmotions")


def test_suites_name_every_shift_and_horizon_only_where_supported():
    for name in data.names():
        suite = shift_suite(name)
        shifts = [s for s, _ in suite]
        assert {"noise", "offset-drift", "drop", "sampling-rate"} <= set(shifts)
        assert ("horizon" in shifts) == horizon_supported(name)
        assert len(set(suite)) == len(suite)
        if not horizon_supported(name):
            assert data.get_info(name).horizon_note  # says why not
    assert horizon_supported("irregular-sine") and horizon_supported("co2") and horizon_supported("double-pendulum")
    assert not horizon_supported("italypowerdemand") and not horizon_supported("digits-events")


def test_shifted_test_is_the_same_for_every_training_seed():
    """Items pair across models and seeds: the draw depends on (shift, level) only."""
    a, b = data.load("japanesevowels", seed=0), data.load("japanesevowels", seed=3)
    for shift, level in [("noise", 10.0), ("drop", 0.4)]:
        sa, sb = shifted_test(a, shift, level), shifted_test(b, shift, level)
        np.testing.assert_array_equal(sa.lengths, sb.lengths)
        np.testing.assert_array_equal(sa.y, sb.y)
        np.testing.assert_array_equal(sa.dt, sb.dt)
        mask = valid_mask(sa)
        # same perturbation of the same items: the only difference is each seed's normalisation
        ra = (sa.x - a.test.x)[mask] * np.asarray(a.norm_std)
        rb = (sb.x - b.test.x)[mask] * np.asarray(b.norm_std)
        assert np.corrcoef(ra.ravel(), rb.ravel())[0, 1] > 0.99
    assert shift_seed("noise", 10.0) != shift_seed("noise", 20.0) != shift_seed("drop", 10.0)
    assert shift_seed("length", 2.0) == shift_seed("sampling-rate", 2.0)


@pytest.mark.parametrize("name", ["irregular-sine", "co2", "double-pendulum"])
def test_horizon_gives_longer_sequences_of_the_same_test_items(name):
    ds = data.load(name)
    longest_train = max(ds.train.lengths.max(), ds.val.lengths.max())
    for level in (2.0, 4.0):
        h = shifted_test(ds, "horizon", level)
        assert len(h) == len(ds.test) and h.lengths.min() > longest_train
        np.testing.assert_allclose(h.lengths, np.round(ds.test.lengths * level))
        if ds.task == "regression":
            np.testing.assert_allclose(h.y, ds.test.y, atol=1e-6)
            # a longer window ending at the same target: its last 52 samples are the test window
            L = ds.test.lengths[0]
            np.testing.assert_allclose(h.x[:, h.lengths[0] - L:h.lengths[0]], ds.test.x[:, :L], atol=1e-5)
        else:
            np.testing.assert_array_equal(h.y, ds.test.y)
            # normalised with the training statistics, like the test split
            assert abs(h.x[valid_mask(h)].mean()) < 0.2 and 0.8 < h.x[valid_mask(h)].std() < 1.2
        assert (h.dt > 0).all()


def test_horizon_is_refused_where_the_data_cannot_be_extended():
    ds = data.load("italypowerdemand")
    with pytest.raises(UnknownShiftError, match="24 hourly"):
        shifted_test(ds, "horizon", 2.0)
    with pytest.raises(UnknownShiftError, match="known: noise"):
        shifted_test(ds, "blur", 1.0)


def test_item_scores_give_back_the_metric():
    rng = np.random.default_rng(0)
    last, y = rng.standard_normal((50, 3)), rng.integers(0, 3, 50)
    items = metrics.item_scores(last, y, "classification")
    assert set(np.unique(items)) <= {0.0, 1.0} and items.shape == (50,)
    assert metrics.score_from_items(items, "classification") == metrics.score(last, y, "classification")
    pred, target = rng.standard_normal((40, 1)), rng.standard_normal((40, 1))
    sq = metrics.item_scores(pred, target, "regression", target_std=2.5)
    np.testing.assert_allclose(sq, ((pred - target)[:, 0] * 2.5) ** 2)
    assert np.isclose(metrics.score_from_items(sq, "regression"), metrics.score(pred, target, "regression", 2.5))


def test_model_item_scores_are_in_split_order_and_match_evaluate():
    from edgelnn.models import create
    from edgelnn.train import evaluate, item_scores

    ds = data.load("italypowerdemand")
    model = create("gru", ds.input_size, ds.output_size, units=4, seed=1)
    items = item_scores(model, ds.test, ds)
    assert items.shape == (len(ds.test),)
    assert metrics.score_from_items(items, ds.task) == pytest.approx(evaluate(model, ds.test, ds))
    flipped = item_scores(model, ds.test.subset(np.arange(len(ds.test))[::-1]), ds)
    np.testing.assert_array_equal(flipped, items[::-1])


def test_item_scores_of_artifact_outputs_read_the_last_valid_step():
    outputs = np.zeros((3, 5, 2))
    lengths = np.array([2, 5, 3])
    outputs[0, 1, 1] = outputs[1, 4, 0] = outputs[2, 2, 1] = 1.0  # predictions 1, 0, 1
    outputs[2, 4, 0] = 9.0  # after the end of item 2: must be ignored
    np.testing.assert_array_equal(metrics.item_scores_of_outputs(outputs, lengths, np.array([1, 0, 0]),
                                                                 "classification"), [1.0, 1.0, 0.0])
