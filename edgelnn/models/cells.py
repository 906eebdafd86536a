"""Step cells: one function ``(x_t, dt_t, *state) -> (y_t, *state')`` per model kind.

The step cell is the unit that is trained (looped by :class:`SequenceModel`), exported
and run on a device, so what is measured on the edge is exactly what was trained.
Every cell takes ``x`` of shape (B, input_size), ``dt`` of shape (B, 1) and states of
shape (B, size); it returns ``y`` (B, output_size) and the new states in the same order
as :attr:`state_spec`.
"""
from __future__ import annotations


import torch
from torch import nn
from ncps.torch import CfCCell, LTCCell, WiredCfCCell
from ncps.wirings import AutoNCP, FullyConnected

from ..errors import InputError
from .ltc_fast import Wiring, cell_params, ltc_outputs, ltc_sequence


class StepCell(nn.Module):
    """Base class: subclasses set ``state_spec`` = [(name, size), ...]."""

    state_spec: list[tuple[str, int]]

    def apply_constraints(self) -> None:
        """Hook called after each optimiser step (LTC keeps its conductances positive)."""

    def synapse_masks(self) -> list[tuple[nn.Parameter, torch.Tensor]]:
        """(parameter, mask) pairs: entries where ``mask == 0`` are cut by a fixed wiring.

        A masked entry never reaches the output and gets no gradient, so it is not an active
        parameter (dense kinds: none).
        """
        return []

    def run_sequence(self, x, dt, *state):
        """The cell over a whole sequence (``SequenceModel.forward``): x (B, T, C), dt (B, T) ->
        y (B, T, out) and the last states. Default: one ``forward`` per step; a cell may compute
        the same function faster a sequence at a time (LTC)."""
        outputs = []
        for t in range(x.shape[1]):
            y, *state = self(x[:, t], dt[:, t:t + 1], *state)
            outputs.append(y)
        return torch.stack(outputs, dim=1), tuple(state)

    def export_module(self) -> nn.Module:
        """The module whose forward is traced into ONNX / TFLite / C (``export.graphs``): the same
        function as ``forward``, in the form the exporters handle (default: the cell itself)."""
        return self


def ncp_motor_neurons(units: int, output_size: int, motor_neurons=None, motor_fraction=None) -> int:
    """Motor neurons of an NCP wiring of ``units`` neurons (the linear head maps them to the outputs).

    ``motor_neurons`` given: that many. Else ``motor_fraction`` given: round(fraction x units),
    kept within 1 .. units - 3 (ncps's AutoNCP needs motor < units - 2), so the inter and command
    layers grow with the units. Neither (checkpoints written before issue 17): one per output.
    """
    if motor_neurons:
        return int(motor_neurons)
    if motor_fraction is None:
        return int(output_size)
    return max(1, min(int(units) - 3, round(float(motor_fraction) * int(units))))


class CfCStep(StepCell):
    """ncps CfC cell (closed-form continuous time); dt is its native ``ts``."""

    def __init__(self, input_size, output_size, units, mode="default", backbone_units=64,
                 backbone_layers=1, backbone_dropout=0.0):
        super().__init__()
        self.rnn_cell = CfCCell(input_size, units, mode=mode, backbone_units=backbone_units,
                                backbone_layers=backbone_layers, backbone_dropout=backbone_dropout)
        self.head = nn.Linear(units, output_size)
        self.state_spec = [("h", units)]

    def forward(self, x, dt, h):
        out, h = self.rnn_cell(x, h, dt)
        return self.head(out), h


class WiredCfCStep(StepCell):
    """CfC on an AutoNCP wiring (sensory -> inter -> command -> motor neurons)."""

    def __init__(self, input_size, output_size, units, mode="default", motor_neurons=None,
                 sparsity=0.5, wiring_seed=22222, motor_fraction=None):
        super().__init__()
        motor = ncp_motor_neurons(units, output_size, motor_neurons, motor_fraction)
        wiring = AutoNCP(units, motor, sparsity_level=sparsity, seed=wiring_seed)
        self.rnn_cell = WiredCfCCell(input_size, wiring, mode=mode)
        self.head = nn.Linear(motor, output_size)
        self.state_spec = [("h", self.rnn_cell.state_size)]

    def forward(self, x, dt, h):
        out, h = self.rnn_cell(x, h, dt)
        return self.head(out), h

    def synapse_masks(self):
        # ncps 1.0.1 masks ff1 and ff2 of each layer (``weight * sparsity_mask``); its time_a /
        # time_b gates read every input of the layer, so they stay dense.
        pairs = []
        for layer in self.rnn_cell._layers:
            pairs.append((layer.ff1.weight, layer.sparsity_mask))
            if hasattr(layer, "ff2"):  # mode "pure" has no ff2
                pairs.append((layer.ff2.weight, layer.sparsity_mask))
        return pairs


class LTCStep(StepCell):
    """ncps LTC cell (liquid time-constant ODE, ``ode_unfolds`` fused solver steps).

    Trained and run in PyTorch over the wiring's present synapses only (``ltc_fast``: the same
    function as ncps's ``LTCCell``, several times faster on an NCP wiring); exported as ncps's
    dense cell (``export_module``), the graph every exporter and the C backend handle.

    ``wiring`` "fc": every neuron connected to every neuron and input (the LTC paper's setting);
    "ncp": ncps's AutoNCP. Motor neurons: see :func:`ncp_motor_neurons` (fully connected with a
    ``motor_fraction`` of 1: every neuron is read by the head).
    """

    def __init__(self, input_size, output_size, units, wiring="ncp", motor_neurons=None,
                 sparsity=0.5, wiring_seed=22222, ode_unfolds=6, motor_fraction=None):
        super().__init__()
        if wiring == "ncp":
            motor = ncp_motor_neurons(units, output_size, motor_neurons, motor_fraction)
            w = AutoNCP(units, motor, sparsity_level=sparsity, seed=wiring_seed)
        elif wiring == "fc":
            # ncps reads the first min(motor, units) neurons: more motor neurons than units
            # cannot be built (their affine output map would not broadcast), so cap them
            if motor_neurons:
                motor = int(motor_neurons)
            elif motor_fraction is not None:
                motor = round(float(motor_fraction) * int(units))
            else:
                motor = output_size
            motor = max(1, min(int(units), motor))
            w = FullyConnected(units, motor, erev_init_seed=wiring_seed)
        else:
            raise InputError(f"unknown LTC wiring {wiring!r}; use 'ncp' or 'fc'")
        self.rnn_cell = LTCCell(w, input_size, ode_unfolds=ode_unfolds)
        self.head = nn.Linear(motor, output_size)
        self.state_spec = [("h", self.rnn_cell.state_size)]
        self._wiring = None

    def wiring(self) -> Wiring:
        """The synapse lists of the cell's masks, rebuilt when the masks change (load_state_dict
        copies new ones in place)."""
        cell = self.rnn_cell
        key = tuple((m.data_ptr(), m._version) for m in (cell.sparsity_mask, cell.sensory_sparsity_mask))
        if self._wiring is None or self._wiring[0] != key:
            self._wiring = (key, Wiring.of(cell))
        return self._wiring[1]

    def run_sequence(self, x, dt, h):
        wiring, p = self.wiring(), cell_params(self.rnn_cell)
        states = ltc_sequence(p, wiring, x.unsqueeze(0), dt.unsqueeze(0), h.unsqueeze(0))
        y = self.head(ltc_outputs(p, wiring, states)[0])
        return y, (states[0, :, -1],)

    def forward(self, x, dt, h):
        y, (h,) = self.run_sequence(x.unsqueeze(1), dt.reshape(-1, 1), h)
        return y[:, 0], h

    def export_module(self) -> nn.Module:
        return _NcpsLTCStep(self)

    def apply_constraints(self) -> None:
        self.rnn_cell.apply_weight_constraints()

    def synapse_masks(self):
        # ncps 1.0.1: a synapse's conductance w, its sigmoid's mu and sigma and its reversal
        # potential erev only act through ``w * sigmoid(v; mu, sigma) * mask`` (sensory_* the same
        # with the sensory mask), so all four are inert where the wiring has no synapse.
        cell = self.rnn_cell
        rec, sens = cell.sparsity_mask, cell.sensory_sparsity_mask
        return ([(getattr(cell, n), rec) for n in ("w", "mu", "sigma", "erev")]
                + [(getattr(cell, f"sensory_{n}"), sens) for n in ("w", "mu", "sigma", "erev")])


class _NcpsLTCStep(nn.Module):
    """An LTCStep computed by ncps's own dense ``LTCCell`` (what gets exported). It shares the
    step's modules under the same names, so the exported graph names its weights as before."""

    def __init__(self, step: LTCStep):
        super().__init__()
        self.rnn_cell, self.head, self.state_spec = step.rnn_cell, step.head, step.state_spec

    def forward(self, x, dt, h):
        out, h = self.rnn_cell(x, h, dt)
        return self.head(out), h


class LSTMStep(StepCell):
    """LSTM baseline; dt is appended to the input features (fair under irregular sampling)."""

    def __init__(self, input_size, output_size, units):
        super().__init__()
        self.rnn_cell = nn.LSTMCell(input_size + 1, units)
        self.head = nn.Linear(units, output_size)
        self.state_spec = [("h", units), ("c", units)]

    def forward(self, x, dt, h, c):
        h, c = self.rnn_cell(torch.cat([x, dt], dim=1), (h, c))
        return self.head(h), h, c


class GRUStep(StepCell):
    """GRU baseline; dt is an extra input feature."""

    def __init__(self, input_size, output_size, units):
        super().__init__()
        self.rnn_cell = nn.GRUCell(input_size + 1, units)
        self.head = nn.Linear(units, output_size)
        self.state_spec = [("h", units)]

    def forward(self, x, dt, h):
        h = self.rnn_cell(torch.cat([x, dt], dim=1), h)
        return self.head(h), h


class RNNStep(StepCell):
    """Plain Elman RNN (tanh) baseline; dt is an extra input feature."""

    def __init__(self, input_size, output_size, units):
        super().__init__()
        self.rnn_cell = nn.RNNCell(input_size + 1, units, nonlinearity="tanh")
        self.head = nn.Linear(units, output_size)
        self.state_spec = [("h", units)]

    def forward(self, x, dt, h):
        h = self.rnn_cell(torch.cat([x, dt], dim=1), h)
        return self.head(h), h


class GRUDStep(StepCell):
    """GRU-D-style time-aware GRU: the hidden state decays with the elapsed time before each update.

    After Che et al. 2018 (GRU-D), hidden-state decay only: gamma = exp(-max(0, w * dt + b)) per
    unit, h <- gamma * h, then a GRU update on [x, dt]. dt is the elapsed time in units of the
    dataset's nominal sampling interval (every shipped dataset stores it that way), so dt = 1 is
    a regular step; a long gap pulls the memory towards zero, as a missing stretch of signal should.
    """

    def __init__(self, input_size, output_size, units):
        super().__init__()
        self.decay = nn.Linear(1, units)
        # Every unit starts decaying slowly (rate w in [0, 0.1] per step, b = 0): with torch's
        # default init about a quarter of the units get w < 0 and b < 0, where max(0, .) is 0
        # for every dt > 0 and the decay never receives a gradient.
        nn.init.uniform_(self.decay.weight, 0.0, 0.1)
        nn.init.zeros_(self.decay.bias)
        self.rnn_cell = nn.GRUCell(input_size + 1, units)
        self.head = nn.Linear(units, output_size)
        self.state_spec = [("h", units)]

    def forward(self, x, dt, h):
        gamma = torch.exp(-torch.relu(self.decay(dt)))
        h = self.rnn_cell(torch.cat([x, dt], dim=1), gamma * h)
        return self.head(h), h
