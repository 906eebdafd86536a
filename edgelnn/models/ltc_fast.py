"""ncps's LTC cell computed over its active synapses only.

ncps's ``LTCCell`` evaluates every one of units x units recurrent synapses (and inputs x units
sensory ones) at each of its ``ode_unfolds`` solver steps and multiplies the wiring's absent
synapses by a 0/1 mask. An NCP wiring keeps ~12 % of them at 84 units, so most of that arithmetic,
and of its backward pass, is multiplying by zero. Here the same arithmetic runs on the list of
present synapses (``edges``): a synapse's terms are gathered from the dense parameters, summed into
its target neuron with ``index_add``. A fully connected wiring has nothing to skip and keeps the
dense form without the mask multiply.

Same parameters and the same formula as ``LTCCell._ode_solver``, rearranged to take fewer tensor
operations per ODE unfold (``sigma * (v - mu)`` as ``sigma * v - sigma * mu``, ``w * s * erev`` as
``s * (w * erev)``, numerator and denominator sums in one ``index_add``, neuron-major so that gathers and
scatters move whole rows), so results agree with
ncps's to float rounding: tests/test_ltc_fast.py checks outputs and gradients against it. The
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
    """One forward's view of the cell's parameters, in the form the update below consumes.

    Per layer (sensory, recurrent): ``sigma`` and ``-sigma * mu`` (the sigmoid's argument is then
    one fused multiply-add) and ``[w * erev, w]`` stacked (numerator and denominator terms in one
    multiply), over the present synapses only unless the wiring is fully connected. Computed
    inside the autograd graph, so gradients flow to the dense parameters (exactly zero at absent
    synapses, as in ncps). Built per step, or once per sequence (``LTCStep.sequence_scope``): the
    parameters do not change within one forward.
    """

    def __init__(self, cell, rec: Edges, sens: Edges):
        if getattr(cell, "_implicit_param_constraints", False):
            raise ValueError("the fast LTC form assumes implicit_param_constraints=False (edgelnn's LTC)")
        if cell._input_mapping != "affine" or cell._output_mapping != "affine":
            raise ValueError("the fast LTC form assumes affine input and output mappings (edgelnn's LTC)")
        self.cell, self.rec, self.sens = cell, rec, sens
        self.units = cell.state_size
        self.rec_p = _layer(cell, ("w", "mu", "sigma", "erev"), rec)
        self.sens_p = _layer(cell, ("sensory_w", "sensory_mu", "sensory_sigma", "sensory_erev"), sens)
        self.glvl = cell.gleak * cell.vleak


def _layer(cell, names, edges: Edges):
    w, mu, sigma, erev = (getattr(cell, n) for n in names)
    if edges.dense:                                   # (I, U) each; stacked (2, I, U)
        return sigma, -sigma * mu, torch.stack([w * erev, w])
    w, mu, sigma, erev = (p.reshape(-1)[edges.flat] for p in (w, mu, sigma, erev))
    return sigma.unsqueeze(1), (-sigma * mu).unsqueeze(1), torch.stack([w * erev, w], 1).unsqueeze(2)


def _dense_sums(v, p):
    """Batch-major (B, 2, U): [sum_i w*erev*s, sum_i w*s], s = sigmoid(sigma * v_i - sigma * mu)."""
    sigma, neg_sigma_mu, w2 = p
    s = torch.sigmoid(torch.addcmul(neg_sigma_mu, v.unsqueeze(-1), sigma))         # (B, I, U)
    return torch.sum(s.unsqueeze(1) * w2, dim=2)


def _sparse_sums(v_t, p, edges: Edges, init):
    """Neuron-major (U, 2, B), added to ``init``: the same sums over the present synapses only.
    Neuron-major, so that the gather and the scatter (and their backward) move whole rows."""
    sigma, neg_sigma_mu, w2 = p
    s = torch.sigmoid(torch.addcmul(neg_sigma_mu, torch.index_select(v_t, 0, edges.src), sigma))  # (E, B)
    return torch.index_add(init, 0, edges.dst, s.unsqueeze(1) * w2)


def ltc_state(params: SynapseParams, inputs, state, elapsed_time):
    """The next state of ``LTCCell.forward(inputs, state, elapsed_time)`` (its second output):
    ``ode_unfolds`` steps of v <- (cm/dt' v + gleak vleak + sum w erev s) / (cm/dt' + gleak + sum w s)."""
    cell, units = params.cell, params.units
    inputs = inputs * cell.input_w + cell.input_b
    cm_t = cell.cm / (elapsed_time / cell._ode_unfolds)                               # (B, U)
    if params.rec.dense:                        # fully connected: batch-major, dense
        sensory = (_dense_sums(inputs, params.sens_p) if params.sens.dense else
                   _sparse_sums(inputs.t(), params.sens_p, params.sens,
                                inputs.new_zeros(units, 2, inputs.shape[0])).permute(2, 1, 0))
        den0 = cm_t + cell.gleak + cell._epsilon
        v = state
        for _ in range(cell._ode_unfolds):
            num, den = torch.unbind(_dense_sums(v, params.rec_p) + sensory, dim=1)
            v = (torch.addcmul(params.glvl, cm_t, v) + num) / (den0 + den)
        return v
    # sparse wiring: neuron-major (U, B) through the unfolds, transposed back at the end
    sensory = (_dense_sums(inputs, params.sens_p).permute(2, 1, 0) if params.sens.dense else
               _sparse_sums(inputs.t(), params.sens_p, params.sens, inputs.new_zeros(units, 2, inputs.shape[0])))
    cm_t = cm_t.t()
    den0 = cm_t + (cell.gleak + cell._epsilon).unsqueeze(1)
    glvl = params.glvl.unsqueeze(1)
    v = state.t()
    for _ in range(cell._ode_unfolds):
        num, den = torch.unbind(_sparse_sums(v, params.rec_p, params.rec, sensory), dim=1)
        v = (torch.addcmul(glvl, cm_t, v) + num) / (den0 + den)
    return v.t()


def ltc_outputs(cell, state):
    """``LTCCell._map_outputs``: the motor neurons (the first ``motor_size``), affine-mapped."""
    out = state[:, :cell.motor_size] if cell.motor_size < cell.state_size else state
    return out * cell.output_w + cell.output_b
