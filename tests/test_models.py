"""Model zoo: step == sequence, learning, checkpoints, shapes."""
import pytest
import torch

from edgelnn.models import (MODELS, CheckpointError, ShapeError, UnknownModelError, create, load)

KINDS = list(MODELS)


def _irregular(batch=3, steps=25, channels=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, channels, generator=g)
    dt = 0.2 + 1.8 * torch.rand(batch, steps, generator=g)  # irregular sampling
    return x, dt


@pytest.mark.parametrize("kind", KINDS)
def test_step_rollout_equals_sequence_form(kind):
    model = create(kind, 5, 3, units=12).eval()
    x, dt = _irregular()
    with torch.no_grad():
        seq = model(x, dt)
        state = model.initial_state(3)
        steps = []
        for t in range(x.shape[1]):
            y, state = model.step(x[:, t], dt[:, t], state)
            steps.append(y)
    assert seq.shape == (3, 25, 3)
    assert torch.max(torch.abs(torch.stack(steps, 1) - seq)) <= 1e-5


@pytest.mark.parametrize("kind", KINDS)
def test_dt_changes_the_output(kind):
    """dt reaches every model: natively (CfC/LTC) or as an input feature (LSTM/GRU/RNN)."""
    model = create(kind, 5, 3, units=12).eval()
    x, dt = _irregular()
    with torch.no_grad():
        assert not torch.allclose(model(x, dt), model(x, dt * 3))


@pytest.mark.parametrize("kind", KINDS)
def test_a_few_optimiser_steps_lower_the_loss(kind):
    torch.manual_seed(0)
    model = create(kind, 5, 3, units=12)
    x, dt = _irregular(batch=8, steps=15)
    y = torch.arange(8) % 3
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    loss_fn = torch.nn.CrossEntropyLoss()

    def loss():
        return loss_fn(model(x, dt)[:, -1], y)

    first = loss().item()
    for _ in range(25):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
        model.after_optimizer_step()
    assert loss().item() < first * 0.95


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_round_trip_gives_identical_outputs(kind, tmp_path):
    model = create(kind, 5, 3, units=12, label_names=["a", "b", "c"], norm_mean=[0.5] * 5,
                   norm_std=[2.0] * 5, dataset="toy", seed=3).eval()
    path = tmp_path / "m.pt"
    model.save(path)
    # loadable without pickled code
    payload = torch.load(path, weights_only=True)
    assert payload["config"]["kind"] == kind
    loaded = load(path)
    x, dt = _irregular()
    with torch.no_grad():
        assert torch.equal(model(x, dt), loaded(x, dt))
    assert loaded.config == model.config
    assert loaded.param_count() == model.param_count() > 0
    assert loaded.active_param_count() == model.active_param_count() > 0


def test_options_and_parameter_counts_differ_by_kind():
    pure = create("cfc", 5, 3, units=16, mode="pure")
    default = create("cfc", 5, 3, units=16)
    assert pure.param_count() < default.param_count()
    fc = create("ltc", 5, 3, units=16)
    ncp = create("ltc-ncp", 5, 3, units=16)
    assert fc.state_spec == ncp.state_spec == [("h", 16)]
    assert fc.config["options"]["wiring"] == "fc" and ncp.config["options"]["wiring"] == "ncp"
    with pytest.raises(ValueError, match="use 'ltc-ncp'"):  # the kind decides its wiring
        create("ltc", 5, 3, units=16, wiring="ncp")
    assert create("lstm", 5, 3, units=16).state_spec == [("h", 16), ("c", 16)]
    with pytest.raises(ValueError, match="unknown option"):
        create("gru", 5, 3, mode="pure")


def test_unknown_kind_lists_known_ones():
    with pytest.raises(UnknownModelError, match="cfc, cfc-ncp, ltc, ltc-ncp, lstm, gru, gru-d, rnn"):
        create("transformer", 5, 3)


def test_wrong_shapes_are_refused():
    model = create("cfc", 5, 3, units=8)
    state = model.initial_state(2)
    with pytest.raises(ShapeError, match=r"\(batch, 5\)"):
        model.step(torch.zeros(2, 4), torch.ones(2), state)
    with pytest.raises(ShapeError, match="state"):
        model.step(torch.zeros(2, 5), torch.ones(2), model.initial_state(3))
    with pytest.raises(ShapeError):
        model(torch.zeros(2, 7, 4))


def test_corrupt_and_foreign_files_are_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not an edgelnn checkpoint"):
        load(foreign)
    model = create("gru", 5, 3, units=8)
    model.save(tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["schema_version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="schema 99"):
        load(tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load(tmp_path / "missing.pt")


@pytest.mark.parametrize("kind", KINDS)
def test_active_parameters_are_exactly_those_that_get_a_gradient(kind):
    """A masked synapse never reaches the output: the elements with a non-zero gradient over a
    few random batches are the active ones, for every kind."""
    torch.manual_seed(1)
    model = create(kind, 3, 2, units=12)
    for _ in range(3):
        x, dt = _irregular(batch=4, steps=6, channels=3, seed=_)
        model(x, dt).pow(2).sum().backward()
    with_grad = sum(int((p.grad != 0).sum()) for p in model.parameters() if p.requires_grad)
    assert with_grad == model.active_param_count()
    assert model.active_param_count() <= model.param_count()


def test_wired_kinds_count_only_the_wired_synapses():
    ltc = create("ltc-ncp", 1, 2, units=16)
    cell = ltc.cell.rnn_cell
    assert cell.motor_size == 5  # 0.3 x 16 motor neurons, read by the linear head
    assert int(cell.sparsity_mask.sum()) == 28  # LTC-NCP-16 on ItalyPowerDemand: 28 of 256 recurrent synapses
    masked = (4 * int((cell.sparsity_mask == 0).sum()) + 4 * int((cell.sensory_sparsity_mask == 0).sum()))
    assert ltc.param_count() - ltc.active_param_count() == masked > 0
    ncp = create("cfc-ncp", 1, 2, units=16)
    assert ncp.active_param_count() < ncp.param_count()
    for dense in ("cfc", "lstm", "gru", "gru-d", "rnn"):
        m = create(dense, 1, 2, units=16)
        assert m.active_param_count() == m.param_count()
    fc = create("ltc", 1, 2, units=16)  # fully connected: nothing masked
    assert fc.active_param_count() == fc.param_count()


def test_gru_d_decays_its_hidden_state_with_elapsed_time():
    """GRU-D: h is multiplied by exp(-max(0, w*dt + b)) before the GRU update, so after a long
    gap the update starts from a state near zero; dt -> 0 leaves the state as it is."""
    model = create("gru-d", 2, 2, units=6).eval()
    cell = model.cell
    x, h = torch.randn(1, 2), torch.randn(1, 6)
    with torch.no_grad():
        far = cell.rnn_cell(torch.cat([x, torch.full((1, 1), 1e4)], 1), torch.zeros(1, 6))
        _, h_far = model.step(x, torch.tensor([1e4]), (h,))
        assert torch.allclose(h_far[0], far, atol=1e-6)
        _, h_now = model.step(x, torch.tensor([1e-6]), (h,))  # no time elapsed: no decay
        assert torch.allclose(h_now[0], cell.rnn_cell(torch.cat([x, torch.full((1, 1), 1e-6)], 1), h), atol=1e-6)
    assert model.active_param_count() == create("gru", 2, 2, units=6).param_count() + 2 * 6
