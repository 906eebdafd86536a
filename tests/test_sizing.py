"""Budget sizing by active parameters: every kind, default budgets, default datasets' sizes."""
import pytest
import torch

from edgelnn.models import MODELS, BudgetFit, create, minimum_size, size_for_budget
from edgelnn.models.sizing import TOLERANCE

BUDGETS = (250, 1000, 4000, 16000)
# input -> output sizes of the study's datasets
DATASETS = {"italypowerdemand": (1, 2), "japanesevowels": (12, 9), "irregular-sine": (2, 3),
            "basicmotions": (6, 4), "co2": (1, 1), "double-pendulum": (5, 4), "digits-events": (2, 10)}


@pytest.mark.parametrize("kind", list(MODELS))
def test_every_kind_lands_within_15_percent_or_says_why(kind):
    for name, (i, o) in DATASETS.items():
        for budget in BUDGETS:
            fit = size_for_budget(kind, i, o, budget)
            model = create(kind, i, o, units=fit.units, **fit.options)  # the fit builds what it says
            assert (model.active_param_count(), model.param_count()) == (fit.params_active, fit.params_total)
            inside = abs(fit.params_active - budget) <= TOLERANCE * budget
            assert fit.within == inside
            # every kind of the zoo meets every budget of the ladder on the study's datasets
            # (NCP wirings too, now that their motor layer scales with the units)
            assert fit.within and fit.reason is None, fit
            assert fit.smallest_active is not None and fit.smallest_active <= fit.params_active


def test_ncp_minimum_size_is_stated_and_a_budget_below_it_says_why():
    least = minimum_size("ltc-ncp", 12, 9)
    assert least.units == 4  # AutoNCP: motor < units - 2, one inter and one command neuron at least
    model = create("ltc-ncp", 12, 9, units=least.units)
    assert least.params_active == model.active_param_count()
    with pytest.raises(ValueError):
        create("ltc-ncp", 12, 9, units=least.units - 1)
    fit = size_for_budget("ltc-ncp", 12, 9, least.params_active // 2)
    assert not fit.within and fit.units == least.units and fit.smallest_active == least.params_active
    assert "NCP wiring's smallest model" in fit.reason
    # a checkpoint-era NCP (one motor neuron per output) needs outputs + 3 neurons
    legacy = minimum_size("cfc-ncp", 12, 9, motor_neurons=9)
    assert legacy.units == 12


def test_nearest_units_is_really_nearest():
    fit = size_for_budget("gru", 6, 4, 1000)
    for other in (fit.units - 1, fit.units + 1):
        p = create("gru", 6, 4, units=other).active_param_count()
        assert abs(p - 1000) >= abs(fit.params_active - 1000)


def test_cfc_backbone_scales_unless_given():
    fit = size_for_budget("cfc", 1, 2, 250)
    assert fit.within and 1 <= fit.options["backbone_units"] < 64
    # the backbone stays within a factor 1.5 of backbone_ratio x units
    for ratio in (1.0, 2.0, 4.0):
        f = size_for_budget("cfc", 6, 4, 1000, backbone_ratio=ratio)
        assert f.within
        assert ratio * f.units / 1.5 - 1 <= f.options["backbone_units"] <= ratio * f.units * 1.5 + 1
    wide = size_for_budget("cfc", 6, 4, 1000, backbone_ratio=4.0)
    narrow = size_for_budget("cfc", 6, 4, 1000, backbone_ratio=1.0)
    assert wide.units < narrow.units  # same budget: a wider backbone leaves fewer units
    # a fixed backbone: only the units move; one too big for the budget is reported, not hidden
    fixed = size_for_budget("cfc", 6, 4, 4000, backbone_units=32)
    assert fixed.options["backbone_units"] == 32 and fixed.within
    over = size_for_budget("cfc", 1, 2, 250, backbone_units=64)
    assert not over.within and "backbone" in over.reason and over.units == 1


def test_kind_options_are_kept_and_checked():
    pure = size_for_budget("cfc", 6, 4, 1000, mode="pure")
    assert pure.options["mode"] == "pure" and pure.within
    fc = size_for_budget("ltc", 2, 3, 1000)
    assert fc.within and fc.params_active == fc.params_total
    with pytest.raises(ValueError, match="unknown option"):
        size_for_budget("gru", 6, 4, 1000, mode="pure")
    with pytest.raises(ValueError, match="backbone_ratio"):
        size_for_budget("gru", 6, 4, 1000, backbone_ratio=2.0)
    with pytest.raises(ValueError, match="budget"):
        size_for_budget("gru", 6, 4, 0)


def test_sizing_leaves_the_callers_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    size_for_budget("ltc", 2, 3, 1000)
    assert torch.equal(torch.rand(3), expected)


def test_budget_fit_is_plain_data():
    fit = size_for_budget("lstm", 2, 3, 1000)
    assert isinstance(fit, BudgetFit)
    d = fit.to_dict()
    assert set(d) >= {"kind", "units", "params_active", "params_total", "budget", "within", "reason", "options"}
    assert abs(fit.deviation) <= TOLERANCE
