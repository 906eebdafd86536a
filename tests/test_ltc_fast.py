"""The fast LTC (over active synapses only) is ncps's LTCCell: outputs and gradients agree to
<= 1e-6 over irregular dt, fully connected and NCP wirings, batch > 1; what gets exported is
ncps's own dense cell; checkpoints written before issue 17 load and give the same outputs.
Every test runs twice: with the unfolds in the C kernel (built with the machine's compiler) and in
torch operations (no compiler, or EDGELNN_LTC_KERNEL=0)."""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ncps.torch import LTCCell

from edgelnn import models
from edgelnn.export.graphs import StepGraph
from edgelnn.models import create, ltc_kernel

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints_v0"


@pytest.fixture(autouse=True, params=["c kernel", "torch ops"])
def form(request, monkeypatch):
    if request.param == "torch ops":
        monkeypatch.setenv("EDGELNN_LTC_KERNEL", "0")
    else:
        monkeypatch.delenv("EDGELNN_LTC_KERNEL", raising=False)
        assert ltc_kernel.get() is not None, "the LTC kernel did not build (gcc is a test requirement)"
    return request.param


def _irregular(batch, steps, channels, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, channels, generator=g, dtype=dtype)
    dt = 0.05 + 2.95 * torch.rand(batch, steps, generator=g, dtype=dtype)  # irregular: 0.05 .. 3
    return x, dt


def _ncps_rollout(model, x, dt):
    """The reference: ncps's LTCCell.forward (dense, masked), looped by hand."""
    cell = model.cell
    assert isinstance(cell.rnn_cell, LTCCell)
    h = model.initial_state(x.shape[0])[0].to(x.dtype)
    ys = []
    for t in range(x.shape[1]):
        out, h = cell.rnn_cell(x[:, t], h, dt[:, t:t + 1])
        ys.append(cell.head(out))
    return torch.stack(ys, 1)


def _outputs_and_grads(model, fn, x, dt):
    model.zero_grad()
    y = fn(x, dt)
    # a loss that reaches every output step and every output channel
    (y * torch.linspace(-1.0, 1.0, y.shape[-1], dtype=y.dtype)).sin().mean().backward()
    return y.detach(), {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


CASES = [  # kind, inputs, outputs, units: fully connected and NCP, 1 and several input channels
    ("ltc", 3, 2, 7), ("ltc", 1, 4, 12), ("ltc-ncp", 3, 2, 16), ("ltc-ncp", 12, 9, 40), ("ltc-ncp", 1, 2, 19),
]


def _spread(model):
    """Trained parameters are not at their init: move every one so that every term matters."""
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                g = torch.Generator().manual_seed(p.numel())
                p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
        model.cell.apply_constraints()
    return model


def _max_diff(a: dict, b: dict) -> float:
    return max((a[n].double() - b[n].double()).abs().max().item() for n in a)


@pytest.mark.parametrize("kind,inputs,outputs,units", CASES)
def test_fast_ltc_equals_ncps_ltc_outputs_and_gradients(kind, inputs, outputs, units):
    """float64, so that the comparison sees the function, not float32 rounding (measured:
    <= 6e-16 on outputs, <= 5e-16 on gradients)."""
    model = _spread(create(kind, inputs, outputs, units=units, seed=3).double())
    cell = model.cell.rnn_cell
    assert bool((cell.sparsity_mask != 0).all()) == (kind == "ltc")   # fully connected vs NCP
    x, dt = _irregular(5, 30, inputs, torch.float64)
    y_ref, g_ref = _outputs_and_grads(model, lambda a, b: _ncps_rollout(model, a, b), x, dt)
    y_fast, g_fast = _outputs_and_grads(model, lambda a, b: model(a, b), x, dt)
    assert torch.isfinite(y_ref).all() and y_ref.abs().max() > 1e-3
    assert (y_fast - y_ref).abs().max().item() <= 1e-6
    assert set(g_fast) == set(g_ref) and len(g_ref) == len([p for p in model.parameters() if p.requires_grad])
    for name in g_ref:
        err = (g_fast[name] - g_ref[name]).abs().max().item()
        assert err <= 1e-6, f"{name}: max abs gradient difference {err:.2e}"
        # absent synapses get exactly zero gradient in both; present ones a non-zero one
        assert torch.equal(g_fast[name] == 0, g_ref[name] == 0), name


@pytest.mark.parametrize("kind,inputs,outputs,units", CASES)
def test_fast_ltc_in_float32_is_as_accurate_as_ncps_in_float32(kind, inputs, outputs, units):
    """As trained (float32): both forms' outputs and gradients against the float64 result of the
    same parameters; the fast form's error may exceed ncps's own by at most 1e-6."""
    m64 = _spread(create(kind, inputs, outputs, units=units, seed=3).double())
    m32 = copy.deepcopy(m64).float()
    x, dt = _irregular(5, 30, inputs, torch.float64)
    truth = _outputs_and_grads(m64, lambda a, b: _ncps_rollout(m64, a, b), x, dt)
    ncps = _outputs_and_grads(m32, lambda a, b: _ncps_rollout(m32, a, b), x.float(), dt.float())
    fast = _outputs_and_grads(m32, lambda a, b: m32(a, b), x.float(), dt.float())
    err = {form: ((y.double() - truth[0]).abs().max().item(), _max_diff(g, truth[1]))
           for form, (y, g) in (("ncps", ncps), ("fast", fast))}
    assert (fast[0] - ncps[0]).abs().max().item() <= 1e-6
    assert err["fast"][0] <= err["ncps"][0] + 1e-6, err
    assert err["fast"][1] <= err["ncps"][1] + 1e-6, err


@pytest.mark.parametrize("kind", ["ltc", "ltc-ncp"])
def test_fast_ltc_with_one_dense_and_one_sparse_layer(kind):
    """Masks that AutoNCP / FullyConnected do not make (a fully connected recurrent layer with cut
    sensory synapses, an NCP with every sensory synapse) take the mixed paths: still ncps's function."""
    model = _spread(create(kind, 3, 2, units=12, seed=4).double())
    with torch.no_grad():
        mask = model.cell.rnn_cell.sensory_sparsity_mask
        if kind == "ltc":
            mask[0, ::2] = 0.0
        else:
            mask.fill_(1.0)
    x, dt = _irregular(3, 10, 3, torch.float64)
    y_ref, g_ref = _outputs_and_grads(model, lambda a, b: _ncps_rollout(model, a, b), x, dt)
    y_fast, g_fast = _outputs_and_grads(model, lambda a, b: model(a, b), x, dt)
    assert (y_fast - y_ref).abs().max().item() <= 1e-6
    assert _max_diff(g_fast, g_ref) <= 1e-6


def test_fast_ltc_single_steps_equal_the_sequence_and_ncps():
    """step() (no sequence scope: the synapse terms are gathered per call) is the same function."""
    model = create("ltc-ncp", 3, 2, units=16, seed=1).eval()
    x, dt = _irregular(3, 12, 3, torch.float32, seed=4)
    with torch.no_grad():
        seq = model(x, dt)
        ref = _ncps_rollout(model, x, dt)
        state = model.initial_state(3)
        steps = []
        for t in range(x.shape[1]):
            y, state = model.step(x[:, t], dt[:, t], state)
            steps.append(y)
    assert (torch.stack(steps, 1) - seq).abs().max() <= 1e-6
    assert (seq - ref).abs().max() <= 1e-6


def test_the_exported_graph_is_ncps_dense_cell_on_the_same_parameters():
    model = create("ltc-ncp", 3, 2, units=16, seed=2).eval()
    graph = StepGraph(model)
    traced = graph.cell
    assert type(traced).__name__ == "_NcpsLTCStep" and traced.rnn_cell is model.cell.rnn_cell
    assert traced.head is model.cell.head
    assert {n for n, _ in traced.named_parameters()} == {n for n, _ in model.cell.named_parameters()}
    x, dt = _irregular(2, 1, 3, torch.float32, seed=5)
    h = torch.rand(2, 16)
    with torch.no_grad():
        y_exp, h_exp = graph(x[:, 0], dt[:, :1], h)
        y_fast, h_fast = model.cell(x[:, 0], dt[:, :1], h)
    assert (y_exp - y_fast).abs().max() <= 1e-6 and (h_exp - h_fast).abs().max() <= 1e-6


def test_masks_loaded_later_are_used():
    """The synapse lists follow the masks (load_state_dict copies new ones in place)."""
    a = create("ltc-ncp", 3, 2, units=16, seed=0, wiring_seed=1)
    b = create("ltc-ncp", 3, 2, units=16, seed=0, wiring_seed=2)
    x, dt = _irregular(2, 5, 3, torch.float32)
    with torch.no_grad():
        b(x, dt)                       # b's synapse lists are built from its own wiring
        b.load_state_dict(a.state_dict())
        assert torch.equal(b(x, dt), a(x, dt))


@pytest.mark.parametrize("name", ["ltc", "ltc-fc", "cfc-ncp"])
def test_checkpoints_written_before_issue_17_load_as_what_they_were(name):
    """``ltc`` used to mean the NCP wiring, and NCP wirings had one motor neuron per output."""
    model = models.load(FIXTURES / f"{name}.pt")
    ref = np.load(FIXTURES / "outputs.npz")
    expected_wiring = {"ltc": "ncp", "ltc-fc": "fc"}.get(name)
    if expected_wiring:
        assert model.config["options"]["wiring"] == expected_wiring
    assert "motor_fraction" not in model.config["options"]
    assert model.cell.head.in_features == 2                # one motor neuron per output, as written
    with torch.no_grad():
        y = model(torch.from_numpy(ref["x"]), torch.from_numpy(ref["dt"])).numpy()
    assert np.abs(y - ref[name.replace("-", "_")]).max() <= 1e-6


def test_new_wired_kinds_scale_their_motor_layer():
    for kind in ("ltc-ncp", "cfc-ncp"):
        small, large = create(kind, 12, 9, units=12), create(kind, 12, 9, units=60)
        assert small.cell.head.in_features == 4 and large.cell.head.in_features == 18  # 0.3 x units
        assert small.cell.head.out_features == large.cell.head.out_features == 9
    assert create("ltc", 12, 9, units=10).cell.head.in_features == 10   # fully connected: every neuron
    assert create("ltc-ncp", 2, 3, units=40, motor_neurons=3).cell.head.in_features == 3
    with pytest.raises(ValueError, match="motor_fraction"):
        create("ltc-ncp", 2, 3, units=20, motor_fraction=0.0)


def _members(kind, inputs, outputs, units, k):
    """K models of one wiring with different parameters (as a stacked trainer holds them)."""
    return [_spread(create(kind, inputs, outputs, units=units, seed=10 + i).double()) for i in range(k)]


@pytest.mark.parametrize("kind,shared", [("ltc", False), ("ltc-ncp", False), ("ltc-ncp", True)])
def test_stacked_members_equal_separate_models(kind, shared):
    """K members in one computation (parameters (K, ...)) == K separate models: outputs, the last
    state and every parameter's gradient <= 1e-6 (float64), irregular dt, batch > 1, a start state."""
    from torch.func import functional_call, stack_module_state

    from edgelnn.models.ltc_fast import stacked_forward

    k, batch, steps, inputs = 3, 4, 12, 3
    members = _members(kind, inputs, 2, 14, k)
    template = members[0]
    # as the stacked trainer holds them: every trainable parameter a (K, ...) view of one (K, D) leaf
    stacked, _ = stack_module_state(members)
    names = [n for n, p in template.named_parameters() if p.requires_grad]
    flat = torch.cat([stacked[n].detach().reshape(k, -1) for n in names], 1).requires_grad_(True)
    sizes = [stacked[n][0].numel() for n in names]
    params = {n: v.view(k, *stacked[n].shape[1:]) for n, v in zip(names, torch.split(flat, sizes, 1))}
    params.update({n: v for n, v in stacked.items() if n not in params})        # the masks
    xs, dts = zip(*(_irregular(batch, steps, inputs, torch.float64, seed=i) for i in range(k)))
    x, dt = (xs[0], dts[0]) if shared else (torch.stack(xs), torch.stack(dts))
    h0 = torch.rand(k, batch, 14, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    y, (h,) = stacked_forward(template, params, x, dt, state=(h0,), return_state=True)
    assert y.shape == (k, batch, steps, 2) and h.shape == (k, batch, 14)
    (y.sin().sum() + h.square().sum()).backward()
    for i, m in enumerate(members):
        xi, dti = (x, dt) if shared else (x[i], dt[i])
        yi, (hi,) = m(xi, dti, state=(h0[i],), return_state=True)
        m.zero_grad()
        (yi.sin().sum() + hi.square().sum()).backward()
        assert (y[i] - yi).abs().max().item() <= 1e-6
        assert (h[i] - hi).abs().max().item() <= 1e-6
        for name, p in m.named_parameters():
            if p.requires_grad:
                grad = torch.split(flat.grad[i], sizes)[names.index(name)].view(p.shape)
                err = (grad - p.grad).abs().max().item()
                assert err <= 1e-6, f"member {i} {name}: {err:.2e}"
        # and each member's separate result is ncps's (functional_call on the same parameters)
        yf = functional_call(m, {n: v[i].detach() for n, v in params.items()}, (xi, dti), {"state": (h0[i],)})
        assert (yf - _ncps_rollout_from(m, xi, dti, h0[i])).abs().max().item() <= 1e-6


def _ncps_rollout_from(model, x, dt, h):
    cell = model.cell
    ys = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            out, h = cell.rnn_cell(x[:, t], h, dt[:, t:t + 1])
            ys.append(cell.head(out))
    return torch.stack(ys, 1)


def test_stacked_constraints_are_ncps_constraints():
    from torch.func import stack_module_state

    from edgelnn.models.ltc_fast import constrain_stacked

    members = _members("ltc-ncp", 3, 2, 14, 2)
    with torch.no_grad():
        for m in members:
            for p in m.parameters():
                if p.requires_grad:
                    p.sub_(0.5)                 # push some conductances below zero
    params, _ = stack_module_state(members)
    constrain_stacked(params)
    for i, m in enumerate(members):
        m.after_optimizer_step()
        for name, p in m.named_parameters():
            assert torch.equal(params[name][i], p.detach()), name


def test_the_denormal_setting_is_left_as_found():
    """The unfolds flush subnormals while they run; the thread's setting is restored after."""
    model = create("ltc-ncp", 3, 2, units=16, seed=1)
    x, dt = _irregular(2, 4, 3, torch.float32)
    tiny = torch.tensor(1e-39)
    model(x, dt).sum().backward()
    assert (tiny * 0.5).item() != 0.0           # subnormals still exist outside
    torch.set_flush_denormal(True)
    try:
        model(x, dt).sum().backward()
        assert (torch.tensor(1e-39) * 0.5).item() == 0.0
    finally:
        torch.set_flush_denormal(False)


def test_the_c_kernel_runs_forward_and_backward_once_per_sequence(form, monkeypatch):
    calls = {"forward": 0, "backward": 0}
    for name in calls:
        real = getattr(ltc_kernel, name)

        def counted(*args, _real=real, _name=name, **kw):
            calls[_name] += 1
            return _real(*args, **kw)
        monkeypatch.setattr(ltc_kernel, name, counted)
    model = create("ltc", 3, 2, units=8, seed=1)
    x, dt = _irregular(4, 9, 3, torch.float32)
    model(x, dt).sum().backward()
    with torch.no_grad():
        model(x, dt)
    assert calls == ({"forward": 2, "backward": 1} if form == "c kernel" else {"forward": 0, "backward": 0})


def test_without_a_compiler_one_warning_and_the_same_function(form, monkeypatch, tmp_path):
    if form != "c kernel":
        pytest.skip("about the C kernel's build")
    model = _spread(create("ltc-ncp", 3, 2, units=16, seed=2).double())
    x, dt = _irregular(3, 8, 3, torch.float64)
    y_c, g_c = _outputs_and_grads(model, lambda a, b: model(a, b), x, dt)
    monkeypatch.setattr(ltc_kernel, "_state", {})
    monkeypatch.setattr(ltc_kernel, "_compiler", lambda: None)
    with pytest.warns(RuntimeWarning, match="no C compiler"):
        y_t, g_t = _outputs_and_grads(model, lambda a, b: model(a, b), x, dt)
    assert ltc_kernel.get() is None                      # decided once: no second build, no second warning
    assert (y_t - y_c).abs().max().item() <= 1e-12 and _max_diff(g_t, g_c) <= 1e-12


def test_the_kernel_is_built_once_per_cache_and_a_failed_build_says_why(form, monkeypatch, tmp_path):
    if form != "c kernel":
        pytest.skip("about the C kernel's build")
    monkeypatch.setenv("EDGELNN_CACHE", str(tmp_path / "cache"))
    ltc_kernel._build()
    built = list((tmp_path / "cache").iterdir())
    assert len(built) == 1 and built[0].suffix == ".so"
    stamp = built[0].stat().st_mtime_ns
    ltc_kernel._build()
    assert list((tmp_path / "cache").iterdir()) == built and built[0].stat().st_mtime_ns == stamp
    monkeypatch.setenv("EDGELNN_CACHE", str(tmp_path / "other"))
    monkeypatch.setattr(ltc_kernel, "_compiler", lambda: shutil.which("false"))
    with pytest.raises(RuntimeError, match="failed to build ltc_kernel.c"):
        ltc_kernel._build()
    assert list((tmp_path / "other").iterdir()) == []   # no half-written library left
