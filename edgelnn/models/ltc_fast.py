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
    sigma, neg_sigma_mu, w2 = params.rec_p
    v = _SparseUnfolds.apply(state.t(), sensory, cm_t, den0, glvl, sigma, neg_sigma_mu, w2,
                             params.rec.src, params.rec.dst, cell._ode_unfolds)
    return v.t()


class _SparseUnfolds(torch.autograd.Function):
    """All ODE unfolds of one step on a sparse wiring, neuron-major, with a hand-written backward:
    the same arithmetic as ``_sparse_sums`` + the update in the loop above, but autograd records
    one node per step instead of ~10 per unfold (its bookkeeping dominated the backward pass)."""

    @staticmethod
    def forward(ctx, v, sensory, cm_t, den0, glvl, sigma, neg_sigma_mu, w2, src, dst, unfolds):
        vs, ss, dens = [v], [], []
        for _ in range(unfolds):
            s = torch.sigmoid(torch.addcmul(neg_sigma_mu, torch.index_select(v, 0, src), sigma))
            num, den = torch.unbind(torch.index_add(sensory, 0, dst, s.unsqueeze(1) * w2), dim=1)
            den = den0 + den
            v = (torch.addcmul(glvl, cm_t, v) + num) / den
            vs.append(v)
            ss.append(s)
            dens.append(den)
        ctx.save_for_backward(cm_t, sigma, w2, src, dst, *vs, *ss, *dens)
        ctx.unfolds = unfolds
        return v

    @staticmethod
    def backward(ctx, grad):
        n = ctx.unfolds
        cm_t, sigma, w2, src, dst, *rest = ctx.saved_tensors
        vs, ss, dens = rest[:n + 1], rest[n + 1:2 * n + 1], rest[2 * n + 1:]
        g_sensory = torch.zeros(cm_t.shape[0], 2, cm_t.shape[1], dtype=grad.dtype)
        g_cm_t, g_den0 = torch.zeros_like(cm_t), torch.zeros_like(cm_t)
        g_glvl = grad.new_zeros(cm_t.shape[0], 1)
        g_sigma, g_nsm, g_w2 = torch.zeros_like(sigma), torch.zeros_like(sigma), torch.zeros_like(w2)
        g = grad
        for k in reversed(range(n)):
            v_in, v_out, s, den = vs[k], vs[k + 1], ss[k], dens[k]
            g_num = g / den                              # v_out = (glvl + cm_t v_in + num) / den
            g_den = -(g_num * v_out)
            g_den0 += g_den                              # den = den0 + sum w s
            g_cm_t.addcmul_(g_num, v_in)
            g_glvl += g_num.sum(1, keepdim=True)
            both = torch.stack([g_num, g_den], 1)        # (U, 2, B)
            g_sensory += both
            g_terms = torch.index_select(both, 0, dst)   # (E, 2, B): each synapse's target
            g_w2 += (g_terms * s.unsqueeze(1)).sum(2, keepdim=True)
            g_z = torch.ops.aten.sigmoid_backward((g_terms * w2).sum(1), s)
            g_sigma += (g_z * torch.index_select(v_in, 0, src)).sum(1, keepdim=True)
            g_nsm += g_z.sum(1, keepdim=True)
            g = (g_num * cm_t).index_add_(0, src, g_z * sigma)
        return g, g_sensory, g_cm_t, g_den0, g_glvl, g_sigma, g_nsm, g_w2, None, None, None


def ltc_outputs(cell, state):
    """``LTCCell._map_outputs``: the motor neurons (the first ``motor_size``), affine-mapped."""
    out = state[:, :cell.motor_size] if cell.motor_size < cell.state_size else state
    return out * cell.output_w + cell.output_b
