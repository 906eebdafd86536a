"""Validation large enough to rank models (edgelnn.study.validation): every study run validates on one
fold of a k-fold partition of the training set, and a dataset with small folds is tuned over more."""
import numpy as np
import pytest

from edgelnn.data import load
from edgelnn.data.prepare import carve_val, fold_index
from edgelnn.data.types import Split
from edgelnn.errors import InputError
from edgelnn.study import StudyDesign, declared, plan, search, validation
from edgelnn.study.records import TrialRecord


def _items(n: int, classes: int = 2) -> Split:
    """n one-step sequences whose only value is the item's index (so a carve says which items it took)."""
    x = np.arange(n, dtype=np.float32).reshape(n, 1, 1)
    y = np.arange(n) % classes
    return Split(x, np.ones((n, 1), np.float32), y, np.ones(n, np.int64))


@pytest.mark.parametrize("n, stratify", [(67, True), (40, True), (53, False)])
def test_the_seeds_of_one_partition_validate_on_disjoint_folds_that_cover_train(n, stratify):
    split, k = _items(n, classes=4 if n == 40 else 2), validation.FOLDS
    vals, sizes = [], []
    for seed in range(k):
        train, val = carve_val(split, 0.2, seed, stratify=stratify, chronological=False, folds=k)
        ids_t, ids_v = set(train.x[:, 0, 0].astype(int)), set(val.x[:, 0, 0].astype(int))
        assert not ids_t & ids_v and len(ids_t | ids_v) == n          # train and val partition the set
        vals.append(ids_v)
        sizes.append(len(val))
        if stratify:                                                   # per class: at most one item apart
            per_class = np.bincount(val.y, minlength=4 if n == 40 else 2)
            expect = np.bincount(split.y) / k
            assert np.all(np.abs(per_class - expect) < 1)
    assert set().union(*vals) == set(range(n)) and sum(sizes) == n    # every item validated exactly once
    assert max(sizes) - min(sizes) <= 1
    # the next partition (seeds k..2k-1) is drawn afresh; the same seed gives the same fold
    assert fold_index(split.y, k, 1, stratify).tolist() != fold_index(split.y, k, 0, stratify).tolist()
    again = carve_val(split, 0.2, 3, stratify=stratify, chronological=False, folds=k)[1]
    assert set(again.x[:, 0, 0].astype(int)) == vals[3]


def test_random_carves_count_items_twice_and_leave_some_out():
    """Why folds: five random 20 % carves of 67 items (the former split) miss items the gate then never reads."""
    split = _items(67)
    seen = [set(carve_val(split, 0.2, s, True, False)[1].x[:, 0, 0].astype(int)) for s in range(5)]
    assert len(set().union(*seen)) < 67 < sum(map(len, seen))


def test_the_study_loads_folds_and_time_ordered_data_keep_their_end():
    a = [load("italypowerdemand", seed=s, folds=5) for s in range(5)]
    assert sorted(len(d.val) for d in a) == sorted(validation.fold_sizes("italypowerdemand")) == [13, 13, 13, 14, 14]
    assert all(len(d.train) + len(d.val) == 67 for d in a)
    co2 = load("co2", seed=3, folds=5)
    assert validation.folds_for("co2") is None and len(co2.val) == validation.fold_items("co2") == 114
    assert np.array_equal(co2.val.y, load("co2", seed=0).val.y)           # the end of the training period
    with pytest.raises(InputError, match="folds"):
        load("italypowerdemand", folds=1)


def test_small_folds_are_tuned_over_more_folds_and_the_plan_says_what_it_costs():
    d = StudyDesign(datasets=("italypowerdemand", "basicmotions", "japanesevowels"), models=("gru",),
                    budgets=(1000,), trials=4, tune_seeds=2)
    # the fewest folds reaching 50 items: 13-item folds -> 4; 8-item folds -> all 5 (40: all there is)
    assert {ds: len(d.tuning_seeds(ds)) for ds in d.datasets} == {"italypowerdemand": 4, "basicmotions": 5,
                                                                  "japanesevowels": 2}
    jobs = plan.tuning_jobs(d)
    ipd = [j for j in jobs if j.spec["dataset"] == "italypowerdemand"]
    assert {j.spec["seed"] for j in ipd} == {0, 1, 2, 3} and {j.spec["val_folds"] for j in ipd} == {5}
    assert sum(validation.fold_sizes("italypowerdemand")[:4]) >= validation.MIN_VAL_ITEMS
    off = d.replace(min_val_items=0)
    assert all(len(off.tuning_seeds(ds)) == 2 for ds in d.datasets)
    # the cost grows by folds / tuning seeds on those datasets only
    from edgelnn.study.costs import plan_time

    with_rule, without = plan_time(d).by_cell, plan_time(off).by_cell
    assert with_rule[("italypowerdemand", "gru", 1000)]["runs"] - without[("italypowerdemand", "gru", 1000)]["runs"] \
        == len(search.trial_settings("gru", 4, d.batch_size("italypowerdemand"))) * 2
    assert with_rule[("japanesevowels", "gru", 1000)] == without[("japanesevowels", "gru", 1000)]
    # nothing to rank (one trial), nothing added
    assert len(d.replace(trials=1).tuning_seeds("basicmotions")) == 2


def test_more_folds_pick_the_better_setting_more_often():
    """The documented direction: on italypowerdemand-sized folds, a setting truly 4 points better wins
    the tuning choice more often when the rule scores it over 4 folds (54 items) than over 2 (27)."""
    rng = np.random.default_rng(0)
    sizes = validation.fold_sizes("italypowerdemand")
    truth = {0: 0.90, 1: 0.94}                        # trial 1 is the better setting

    def records(seeds, draws):
        out = []
        for k, p in truth.items():
            for s in seeds:
                acc = draws[k][s]
                hp = {"lr": [1e-3, 1e-2][k], "batch_size": 8, "options": {}, "max_epochs": 10, "patience": 2}
                out.append(TrialRecord("italypowerdemand", "gru", 1000, k, hp, 8, 1000, s, acc, 1.0 - acc, 5, 9,
                                       1.0, val_items=sizes[s]))
        return out

    design = StudyDesign(datasets=("italypowerdemand",), models=("gru",), budgets=(1000,), trials=4)
    few, rule = design.replace(min_val_items=0).tuning_seeds("italypowerdemand"), design.tuning_seeds("italypowerdemand")
    assert (len(few), len(rule)) == (2, 4)
    wins = {"few": 0, "rule": 0}
    for _ in range(600):
        draws = {k: [rng.binomial(n, p) / n for n in sizes] for k, p in truth.items()}
        wins["few"] += search.choose(records(few, draws))["trial"] == 1
        wins["rule"] += search.choose(records(rule, draws))["trial"] == 1
    assert wins["rule"] > wins["few"] + 30, wins
    land = search.landscape(records(rule, draws))
    assert [r["val_items"] for r in land] == [54, 54]   # the landscape reports the items behind each score


def test_the_rule_is_declared_with_the_analysis():
    text = declared.markdown()
    assert "**Validation.**" in text and f"fewer than {validation.MIN_VAL_ITEMS} items" in text
    assert text.index("**Validation.**") < text.index("**Competence gate.**")
