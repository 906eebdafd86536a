"""ncps's LTC cell computed over its active synapses only.

ncps's ``LTCCell`` evaluates every one of units x units recurrent synapses (and inputs x units
sensory ones) at each of its ``ode_unfolds`` solver steps and multiplies the wiring's absent
synapses by a 0/1 mask. An NCP wiring keeps ~12 % of them at 84 units, so most of that arithmetic,
and of its backward pass, is multiplying by zero. Here the same arithmetic runs on the list of
present synapses (``edges``): a synapse's terms are gathered from the dense parameters, summed into
its target neuron with ``index_add``. A fully connected wiring has nothing to skip and keeps the
dense form without the mask multiply.

Same parameters, same formula, same order of operations per synapse as ``LTCCell._ode_solver``
(tests/test_ltc_fast.py checks outputs and gradients against it); only the order in which a
neuron's synapse terms are summed can differ, i.e. results agree to float rounding. The
exported graph stays ncps's dense form (``LTCStep.export_module``), which the exporters and the
C backend (it stores only the mask's non-zero entries) already handle.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Edges:
    """The present synapses of one 0/1 mask of shape (sources, targets)."""

    src: torch.Tensor    # (E,) source neuron (or input channel) of each synapse
    dst: torch.Tensor    # (E,) target neuron
    flat: torch.Tensor   # (E,) src * targets + dst: the synapse's index in the flattened parameter
    dense: bool          # every synapse present: the dense form is cheaper than gathering

    @classmethod
    def of(cls, mask: torch.Tensor) -> "Edges":
        src, dst = torch.nonzero(mask, as_tuple=True)
        return cls(src, dst, src * mask.shape[1] + dst, bool(src.numel() == mask.numel()))


class SynapseParams:
    """One forward's view of the cell's parameters: the active synapses' entries, gathered once.

    Gathering inside the autograd graph keeps the gradients flowing to the dense parameters (zero
    at absent synapses, as in ncps). Built per step, or once per sequence
    (``LTCStep.sequence_scope``): the parameters do not change within one forward.
    """

    def __init__(self, cell, rec: Edges, sens: Edges):
        if getattr(cell, "_implicit_param_constraints", False):
            raise ValueError("the fast LTC form assumes implicit_param_constraints=False (edgelnn's LTC)")
        if cell._input_mapping != "affine" or cell._output_mapping != "affine":
            raise ValueError("the fast LTC form assumes affine input and output mappings (edgelnn's LTC)")
        self.cell, self.rec, self.sens = cell, rec, sens
        self.units = cell.state_size
        self.rec_p = _gather(cell, ("w", "mu", "sigma", "erev"), rec)
        self.sens_p = _gather(cell, ("sensory_w", "sensory_mu", "sensory_sigma", "sensory_erev"), sens)
        self.glvl = cell.gleak * cell.vleak
        self.rec_dst2 = None if rec.dense else torch.cat([rec.dst, rec.dst + self.units])
        self.sens_dst2 = None if sens.dense else torch.cat([sens.dst, sens.dst + self.units])


def _gather(cell, names, edges: Edges):
    params = [getattr(cell, n) for n in names]
    if edges.dense:
        return params
    return [p.reshape(-1)[edges.flat] for p in params]


def _synapse_sums(v, p, edges: Edges, dst2, units):
    """(sum of w*s*erev, sum of w*s) into each target neuron, s = sigmoid(sigma * (v_src - mu))."""
    w, mu, sigma, erev = p
    if edges.dense:
        act = w * torch.sigmoid(sigma * (v.unsqueeze(-1) - mu))
        return torch.sum(act * erev, dim=1), torch.sum(act, dim=1)
    act = w * torch.sigmoid(sigma * (v[:, edges.src] - mu))
    both = act.new_zeros(act.shape[0], 2 * units).index_add_(1, dst2, torch.cat([act * erev, act], 1))
    return both[:, :units], both[:, units:]


def ltc_state(params: SynapseParams, inputs, state, elapsed_time):
    """The next state of ``LTCCell.forward(inputs, state, elapsed_time)`` (its second output)."""
    cell, units = params.cell, params.units
    inputs = inputs * cell.input_w + cell.input_b
    num_s, den_s = _synapse_sums(inputs, params.sens_p, params.sens, params.sens_dst2, units)
    cm_t = cell.cm / (elapsed_time / cell._ode_unfolds)
    gleak, v = cell.gleak, state
    for _ in range(cell._ode_unfolds):
        num, den = _synapse_sums(v, params.rec_p, params.rec, params.rec_dst2, units)
        numerator = cm_t * v + params.glvl + (num + num_s)
        denominator = cm_t + gleak + (den + den_s)
        v = numerator / (denominator + cell._epsilon)
    return v


def ltc_outputs(cell, state):
    """``LTCCell._map_outputs``: the motor neurons (the first ``motor_size``), affine-mapped."""
    out = state[:, :cell.motor_size] if cell.motor_size < cell.state_size else state
    return out * cell.output_w + cell.output_b
