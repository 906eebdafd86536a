"""Stacked training (edgelnn.train.stacked) is the single-run trainer, member by member.

Each member of a stack must equal ``loop.train`` with its own seed, rate and retries: the same
weights after training, the same validation losses every epoch, the same kept epoch and failure
flags, to float rounding (the stacked step computes the same formulas with batched products)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from edgelnn.data import Split
from edgelnn.data.prepare import RawData, build
from edgelnn.errors import NumericError
from edgelnn.train import TrainConfig, train
from edgelnn.train import stacked


def _split(n, seed, task):
    """Variable-length sequences (lengths 3..8 of 8), irregular dt, 3 classes or a 2-d target."""
    rng = np.random.default_rng(seed)
    T = 8
    lengths = rng.integers(3, T + 1, n)
    dt = rng.gamma(4.0, 0.25, (n, T)).astype(np.float32)
    y = rng.integers(0, 3, n)
    t = np.cumsum(dt, 1)
    x = np.stack([np.sin(t * (1 + y[:, None])), np.cos(t * (1 + y[:, None]))], -1).astype(np.float32)
    x += rng.normal(0, 0.1, x.shape).astype(np.float32)
    for i, L in enumerate(lengths):
        x[i, L:] = 0.0
        dt[i, L:] = 1.0
    if task == "regression":
        y = np.stack([x[np.arange(n), lengths - 1, 0], y / 2.0], 1).astype(np.float32)
    return Split(x, dt, y.astype(np.int64) if task == "classification" else y, lengths.astype(np.int64))


def _datasets(seeds, task="classification"):
    raw = RawData(_split(40, 0, task), _split(12, 1, task), ["a", "b", "c"] if task == "classification" else [])
    return {s: build(raw, name="stack-test", task=task, seed=s, val_fraction=0.25) for s in seeds}


def _config(kind, **kw):
    units = {"cfc-ncp": 8}.get(kind, 4)
    options = {"cfc": {"backbone_units": 6}}.get(kind, {})
    return TrainConfig(kind, "stack-test", units=units, epochs=6, batch_size=8, patience=3, options=options, **kw)


def _single(cfg, ds):
    try:
        return train(cfg, dataset=ds)
    except NumericError as exc:
        return exc


def _same(a, b):
    (ma, ra), (mb, rb) = a, b
    for (n, pa), pb in zip(ma.state_dict().items(), mb.state_dict().values()):
        assert torch.allclose(pa, pb, rtol=1e-4, atol=2e-5), n
    assert [h["val_loss"] for h in ra.history] == pytest.approx([h["val_loss"] for h in rb.history], rel=1e-4, abs=1e-5)
    assert [h["train_loss"] for h in ra.history] == pytest.approx([h["train_loss"] for h in rb.history], rel=1e-4, abs=1e-5)
    for f in ("best_epoch", "epochs_run", "failure", "lr", "batch_size", "seed", "params", "params_active"):
        assert getattr(ra, f) == getattr(rb, f), f
    assert ra.val_metric == pytest.approx(rb.val_metric) and ra.test_metric == pytest.approx(rb.test_metric)
    assert [a["lr"] for a in ra.attempts] == [a["lr"] for a in rb.attempts]


@pytest.mark.parametrize("kind", stacked.STACKABLE)
def test_each_member_is_the_single_run(kind):
    """Three members: two seeds (own init, own validation carve, own batch order), two rates."""
    members = [_config(kind, seed=0, lr=0.01), _config(kind, seed=1, lr=0.01), _config(kind, seed=1, lr=0.05)]
    dss = _datasets({0, 1})
    got = stacked.train_many(members, dss)
    for cfg, res in zip(members, got):
        _same(res, _single(cfg, dss[cfg.seed]))


def test_members_whose_splits_differ_in_size_train_in_separate_stacks():
    """k-fold carves give members splits one item apart (the study's validation folds): each member
    still equals its single run, in the order given."""
    raw = RawData(_split(41, 0, "classification"), _split(12, 1, "classification"), ["a", "b", "c"])
    dss = {s: build(raw, name="stack-test", task="classification", seed=s, val_fraction=0.25) for s in (0, 1)}
    dss[2] = build(raw, name="stack-test", task="classification", seed=2, val_fraction=0.3)
    assert len({len(d.train) for d in dss.values()}) > 1
    members = [_config("gru", seed=s, lr=0.01) for s in (0, 2, 1)]
    got = stacked.train_many(members, dss)
    for cfg, res in zip(members, got):
        _same(res, _single(cfg, dss[cfg.seed]))


def test_retries_follow_the_single_runs_rule():
    """Flagged members are retried at lr / sqrt(10) in a second stacked round, each as loop.train would;
    members already healthy are not."""
    members = [_config("gru-d", seed=s, lr=lr, retries=1) for s, lr in ((0, 0.01), (1, 0.01), (1, 0.05))]
    dss = _datasets({0, 1})
    got = stacked.train_many(members, dss)
    assert [len(r.attempts) for _, r in got] == [2, 1, 2]      # flagged, healthy, flagged (see the single runs)
    for cfg, res in zip(members, got):
        _same(res, _single(cfg, dss[cfg.seed]))


def test_a_diverging_member_is_flagged_and_the_others_are_not():
    """A rate far too high makes one member's loss overflow: that member alone ends as loop.train
    ends (NumericError after its retry diverged too); its stack mates train on, healthy, unchanged."""
    members = [_config("gru", seed=1, lr=0.05), _config("gru", seed=1, lr=1e37, retries=1),
               _config("gru", seed=0, lr=0.05)]
    dss = _datasets({0, 1}, task="regression")
    got = stacked.train_many(members, dss)
    assert isinstance(got[1], NumericError) and isinstance(_single(members[1], dss[1]), NumericError)
    assert "diverged" in str(got[1])
    for k in (0, 2):
        assert got[k][1].failure == []
        _same(got[k], _single(members[k], dss[members[k].seed]))


def test_members_must_share_everything_but_seed_rate_and_retries():
    with pytest.raises(Exception, match="may differ only in"):
        stacked.train_many([_config("gru", seed=0), dataclasses.replace(_config("gru", seed=0), units=5)],
                           _datasets({0}))


def test_unstackable_configs_train_one_by_one():
    """augment (per-draw lengths) has no stacked form: train_many falls back to loop.train."""
    assert stacked.unstackable(dataclasses.replace(_config("gru"), augment="time")) is not None
    assert stacked.unstackable(_config("gru")) is None
    members = [dataclasses.replace(_config("gru", seed=s, lr=0.01), augment="time") for s in (0, 1)]
    dss = _datasets({0, 1})
    got = stacked.train_many(members, dss)
    for cfg, res in zip(members, got):
        _same(res, _single(cfg, dss[cfg.seed]))


# -- the study's stacked jobs -------------------------------------------------------------------------
def _tiny_design(**kw):
    from edgelnn.study import StudyDesign

    return StudyDesign(datasets=("italypowerdemand",), models=("gru", "cfc"), budgets=(250,), seeds=2,
                       arms=("plain", "time-aug"), aug_budgets=(), trials=2, tune_seeds=2, batch_factors=(0.5, 1.0),
                       max_extensions=0, max_epochs=2, patience=2, max_run_seconds=None, export=False, **kw)


def test_study_stacks_the_trials_of_one_batch_size_and_the_final_seeds_of_one_arm():
    from edgelnn.study import plan

    design = _tiny_design()
    stacks = plan.stacks(plan.tuning_jobs(design))
    gru = [s for s in stacks if s[0].spec["model"] == "gru"]
    # 2 rates x the tuning seeds (italypowerdemand's small folds: 4, edgelnn.study.validation) at each
    # of 2 batch sizes: one stack per batch size
    assert sorted(len(s) for s in gru) == [2 * len(design.tuning_seeds("italypowerdemand"))] * 2 == [8, 8]
    for s in stacks:
        assert len({(j.spec["batch_size"], j.spec["units"], str(j.spec["search"])) for j in s}) == 1
    chosen = {"lr": 0.01, "batch_size": 8, "search": {}}
    finals = [plan.final_job(design, "italypowerdemand", "gru", 250, arm, s, chosen)
              for arm in ("plain", "time-aug") for s in range(2)]
    assert [len(s) for s in plan.stacks(finals)] == [2, 1, 1]     # time-aug (augmentation) trains alone
    from edgelnn.study import costs

    # no gain: LTC (its unfolds in C) and large RNNs train alone
    assert costs.stacks_at("cfc-ncp", 1000) and not costs.stacks_at("ltc", 250) and not costs.stacks_at("lstm", 10 ** 10)


def test_a_stacked_study_job_gives_each_member_its_own_records():
    """jobs.run_train_stack returns, per member, the payload run_train gives for that spec."""
    from edgelnn.study import jobs, plan

    design = _tiny_design()
    chosen = {"lr": 0.01, "batch_size": 8, "search": {}}
    finals = [plan.final_job(design, "italypowerdemand", "gru", 250, "plain", s, chosen) for s in range(2)]
    for job in finals:                          # one shift of the suite is enough here (and 10x faster)
        job.spec["shifts"] = job.spec["shifts"][:1]
    trials = [j for j in plan.tuning_jobs(design) if j.spec["model"] == "gru"][:2]
    for group, compared in ((finals, 1), (trials, 2)):
        got = jobs.run_train_stack([j.spec for j in group])["members"]
        assert [p["record"]["seed"] for p in got] == [j.spec["seed"] for j in group]
        for job, payload in list(zip(group, got))[:compared]:
            alone = jobs.run_train(job.spec)
            a, b = payload["record"], alone["record"]
            assert set(a) == set(b)
            for key in ("val_metric", "val_loss", "test_metric"):
                if key in a:
                    assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
            for key in ("best_epoch", "epochs_run", "training_failure", "hparams", "seed", "units", "trial"):
                assert a.get(key) == b.get(key), key
            if "test_scores" in a:
                assert a["test_scores"] == pytest.approx(b["test_scores"], abs=1e-6)
            assert set(payload["files"]) == set(alone["files"])
