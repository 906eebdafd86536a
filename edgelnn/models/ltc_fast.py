"""ncps's LTC cell computed over its present synapses only, a whole sequence at a time, for one
model or K models of the same wiring stacked (a leading member dimension).

ncps's ``LTCCell`` evaluates every one of units x units recurrent synapses (and inputs x units
sensory ones) at each of its ``ode_unfolds`` solver steps, multiplies the wiring's absent synapses
by a 0/1 mask, and leaves autograd to record ~15 operations per unfold. Here, per sequence:

- the sensory synapses (they read the inputs only) are evaluated for every time step at once;
- the recurrent ones run over the list of present synapses (``Layer``: sorted by target), and
  their weighted sums into the target neurons are one sparse (CSR) matrix product whose values
  are ``[w * erev; w]``, so the numerator and the denominator come out of one call;
- every ODE unfold of every time step is one ``torch.autograd.Function`` (``_Unfolds``) with a
  hand-written backward: autograd records one node per sequence, not ~15 per unfold, and the
  gradients of the per-sequence parameters are accumulated elementwise and reduced once;
- the unfold loops themselves run in C (``ltc_kernel``: one call forward, one backward, built with
  the machine's compiler on first use); without a compiler, in torch operations
  (``_unfold_torch``, ``_Unfolds._backward``), the same function.

Same parameters and the same formula as ``LTCCell._ode_solver`` (``sigma * (v - mu)`` computed as
``sigma * v - sigma * mu``, sums in another order), so results agree with ncps's to float rounding:
tests/test_ltc_fast.py checks outputs and gradients against it, for one model and for K stacked.
The exported graph stays ncps's dense form (``LTCStep.export_module``).

Parameters travel as ``{name: tensor (K, *shape)}`` with ncps's names (``w``, ``sensory_mu``,
``input_w``, ...); one model is K = 1 (``cell_params``). States are neuron-major inside, (K*U, B),
so that gathers and scatters move whole rows.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field

import torch

from . import ltc_kernel

REC = ("w", "mu", "sigma", "erev")
SENS = ("sensory_w", "sensory_mu", "sensory_sigma", "sensory_erev")
CONSTRAINED = ("w", "sensory_w", "cm", "gleak")      # ncps's apply_weight_constraints: kept >= 0


@dataclass
class Layer:
    """The present synapses of one 0/1 mask of shape (sources, targets), ordered by target."""

    src: torch.Tensor    # (E,) source neuron (or input channel) of each synapse
    dst: torch.Tensor    # (E,) target neuron, ascending
    flat: torch.Tensor   # (E,) src * targets + dst: the synapse's index in the flattened parameter
    sources: int
    targets: int
    _stacked: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, mask: torch.Tensor) -> "Layer":
        dst, src = torch.nonzero(mask.detach().t(), as_tuple=True)   # target-major order
        return cls(src, dst, src * mask.shape[1] + dst, int(mask.shape[0]), int(mask.shape[1]))

    @property
    def size(self) -> int:
        return int(self.src.numel())

    def stacked(self, k: int) -> dict:
        """Index tensors for K members laid out one after the other (member k's neuron j is row
        k * targets + j; its synapse e is k * E + e). Cached per K."""
        if k not in self._stacked:
            e, off = self.size, torch.arange(k).unsqueeze(1)
            src = (self.src + off * self.sources).reshape(-1)
            dst = (self.dst + off * self.targets).reshape(-1)
            flat = (self.flat + off * (self.sources * self.targets)).reshape(-1)
            idx = {"src": src, "flat": flat, "dst2": torch.cat([dst, dst + k * self.targets])}
            # [num; den] rows (2 K targets) x synapses: row k*targets + j holds j's incoming
            # synapses, contiguous because they are sorted by target
            counts = torch.bincount(self.dst, minlength=self.targets).repeat(2 * k)
            idx["w_crow"] = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)]).int()
            idx["crow"] = idx["w_crow"][:k * self.targets + 1].long()   # the C kernel's: target rows
            idx["w_col"] = torch.arange(k * e).repeat(2).int()     # int32: what MKL's sparse mm takes
            # synapses x sources, one entry a row (the gather v[src] as a product)
            idx["g_crow"] = torch.arange(k * e + 1, dtype=torch.int32)
            idx["g_col"] = src.int()
            # synapses x [num; den] rows, two entries a row (the backward's gather of both sums)
            idx["t_crow"] = torch.arange(0, 2 * k * e + 1, 2, dtype=torch.int32)
            idx["t_col"] = torch.stack([dst, dst + k * self.targets], 1).reshape(-1).int()
            # sources x synapses (the backward's scatter into the source neurons)
            perm = torch.argsort(self.src, stable=True)
            counts = torch.bincount(self.src, minlength=self.sources).repeat(k)
            idx["s_crow"] = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)]).int()
            idx["s_col"] = (perm + off * e).reshape(-1).int()
            self._stacked[k] = idx
        return self._stacked[k]


@dataclass
class Wiring:
    """The two layers of one LTC wiring (recurrent: units x units, sensory: inputs x units)."""

    rec: Layer
    sens: Layer
    units: int
    motor: int
    unfolds: int
    epsilon: float

    @classmethod
    def of(cls, cell) -> "Wiring":
        if getattr(cell, "_implicit_param_constraints", False):
            raise ValueError("the fast LTC form assumes implicit_param_constraints=False (edgelnn's LTC)")
        if cell._input_mapping != "affine" or cell._output_mapping != "affine":
            raise ValueError("the fast LTC form assumes affine input and output mappings (edgelnn's LTC)")
        return cls(Layer.of(cell.sparsity_mask), Layer.of(cell.sensory_sparsity_mask), cell.state_size,
                   cell.motor_size, cell._ode_unfolds, cell._epsilon)


def cell_params(cell) -> dict[str, torch.Tensor]:
    """One ``LTCCell``'s parameters as a stack of K = 1."""
    names = ("gleak", "vleak", "cm", *REC, *SENS, "input_w", "input_b", "output_w", "output_b")
    return {n: getattr(cell, n).unsqueeze(0) for n in names}


def _gather(p, names, layer: Layer, k: int):
    """(K*E, 1) each: the layer's parameters at its present synapses, member after member."""
    flat = layer.stacked(k)["flat"]
    return [p[n].reshape(-1)[flat].unsqueeze(1) for n in names]


def ltc_sequence(p: dict, wiring: Wiring, x: torch.Tensor, dt: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """The states of ``LTCCell.forward`` over a sequence, for K stacked members.

    ``p``: {ncps name: (K, *shape)}; ``x`` (K, B, T, C); ``dt`` (K, B, T); ``h0`` (K, B, U).
    Returns the state after every step, (K, B, T, U). Gradients flow to ``p``, ``x``, ``dt``, ``h0``.
    """
    k, b, t, c = x.shape
    u = wiring.units
    ku = k * u
    # inputs, affine-mapped, channel-major (K*C, T*B)
    xm = x.permute(0, 3, 2, 1) * p["input_w"].reshape(k, c, 1, 1) + p["input_b"].reshape(k, c, 1, 1)
    xm = xm.reshape(k * c, t * b)
    # sensory synapses, every step at once: [num; den] sums (T, 2KU, B)
    sens = wiring.sens
    if sens.size:
        ws, mus, sgs, evs = _gather(p, SENS, sens, k)
        idx = sens.stacked(k)
        s = torch.sigmoid(torch.addcmul(-sgs * mus, torch.index_select(xm, 0, idx["src"]), sgs))
        terms = (s.unsqueeze(0) * torch.stack([ws * evs, ws])).reshape(-1, t * b)
        sums = torch.index_add(xm.new_zeros(2 * ku, t * b), 0, idx["dst2"], terms)
    else:
        sums = xm.new_zeros(2 * ku, t * b)
    sums = sums.view(2 * ku, t, b).transpose(0, 1)
    gleak = p["gleak"].reshape(ku, 1)
    cm_t = (p["cm"].reshape(1, k, u, 1) / (dt.permute(2, 0, 1).unsqueeze(2) / wiring.unfolds)).reshape(t, ku, b)
    num_c = sums[:, :ku] + (gleak * p["vleak"].reshape(ku, 1))
    den_c = (cm_t + (gleak + wiring.epsilon)) + sums[:, ku:]
    v0 = h0.to(x.dtype).transpose(1, 2).reshape(ku, b)
    w, mu, sigma, erev = _gather(p, REC, wiring.rec, k)
    args = (v0, num_c, den_c, cm_t, sigma, -sigma * mu, w * erev, w)
    if torch.is_grad_enabled() and any(a.requires_grad for a in args):
        states = _Unfolds.apply(wiring, k, *args)
    else:
        with _flush_denormals():
            states = _unfold(wiring, k, *args, save=False)[0]
    return states.view(t, k, u, b).permute(1, 3, 0, 2)


def ltc_outputs(p: dict, wiring: Wiring, states: torch.Tensor) -> torch.Tensor:
    """``LTCCell._map_outputs`` of (K, ..., U) states: the motor neurons (the first ``motor``),
    affine-mapped; (K, ..., motor)."""
    k = states.shape[0]
    shape = (k,) + (1,) * (states.dim() - 2) + (-1,)
    return states[..., :wiring.motor] * p["output_w"].reshape(shape) + p["output_b"].reshape(shape)


@contextlib.contextmanager
def _flush_denormals():
    """Subnormal floats (sigmoid tails, gradients that decay over a long sequence) make x86
    arithmetic on them many times slower; below 1.2e-38 (float32) they are far under anything the
    1e-6 agreement with ncps sees, so the unfolds run with them flushed to zero. The thread's
    setting is restored after (torch has no getter: probed by whether a subnormal survives)."""
    flushing = bool(torch.tensor(1e-39) * 0.5 == 0)
    if not flushing:
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if not flushing:
            torch.set_flush_denormal(False)


def _csr(crow, col, values, rows, cols):
    with warnings.catch_warnings():        # torch's one-time "sparse CSR support is in beta"
        warnings.simplefilter("ignore")
        return torch.sparse_csr_tensor(crow, col, values, (rows, cols), dtype=values.dtype,
                                       check_invariants=False)


def _unfold(wiring: Wiring, k, v0, num_c, den_c, cm_t, sigma, nsm, werev, w, save: bool):
    """The C kernel's (``ltc_kernel``) where it is built, else ``_unfold_torch``'s."""
    if ltc_kernel.usable(v0):
        idx = wiring.rec.stacked(k)
        return ltc_kernel.forward(wiring.unfolds, idx["crow"], idx["src"], v0, num_c, den_c, cm_t,
                                  sigma, nsm, werev, w, save)
    return _unfold_torch(wiring, k, v0, num_c, den_c, cm_t, sigma, nsm, werev, w, save)


def _unfold_torch(wiring: Wiring, k, v0, num_c, den_c, cm_t, sigma, nsm, werev, w, save: bool):
    """Forward: ``unfolds`` steps of v <- (cm_t v + num_c + sum w erev s) / (den_c + sum w s) per
    time step, s = sigmoid(sigma v_src - sigma mu) over the recurrent synapses; five tensor
    operations an unfold (the gather and the sums are sparse products). Every per-unfold view is
    taken before the loop (``unbind``): at a few microseconds an operation, indexing in the loop
    cost as much as the arithmetic."""
    t, ku, b = num_c.shape
    idx = wiring.rec.stacked(k)
    n = wiring.rec.size * k
    unfolds = wiring.unfolds
    gather = _csr(idx["g_crow"], idx["g_col"], sigma.reshape(-1), n, ku)        # sigma_e v[src_e]
    weights = _csr(idx["w_crow"], idx["w_col"], torch.cat([werev.reshape(-1), w.reshape(-1)]), 2 * ku, n)
    nsm = nsm.expand(n, b).contiguous()
    const = torch.cat([num_c, den_c], 1).unbind(0)                              # T x (2KU, B)
    cms = cm_t.unbind(0)
    steps = t * unfolds
    # every unfold's state and [num; den] sums; the denominators are kept for the backward
    vs = v0.new_empty(steps + 1, ku, b) if save else None
    sums = v0.new_empty(steps, 2 * ku, b) if save else None
    # every unfold's synapse activations, one block per time step: blocks this size are reused
    # from the heap from one call to the next, where one block for the sequence (> 32 MB at 4,000
    # parameters) would be fresh pages, faulted in at every training step
    ss = [v0.new_empty(unfolds, n, b) for _ in range(t)] if save else None
    if save:
        vs[0] = v0
        v_out = vs.unbind(0)[1:]
        s_at = [s for block in ss for s in block.unbind(0)]
        sum_at, num_at, den_at = sums.unbind(0), sums[:, :ku].unbind(0), sums[:, ku:].unbind(0)
    else:
        states = v0.new_empty(t, ku, b)
        s = v0.new_empty(n, b)
    v = v0
    for i in range(steps):
        step = i // unfolds
        if save:
            s = s_at[i]
        if n:
            torch.addmm(nsm, gather, v, out=s).sigmoid_()
            if save:
                su = torch.addmm(const[step], weights, s, out=sum_at[i])
            else:
                su = torch.addmm(const[step], weights, s)
        else:
            su = sum_at[i].copy_(const[step]) if save else const[step].clone()
        num, den = (num_at[i], den_at[i]) if save else (su[:ku], su[ku:])
        num.addcmul_(cms[step], v)
        v = v_out[i] if save else v0.new_empty(ku, b)
        torch.div(num, den, out=v)
        if not save and (i + 1) % unfolds == 0:
            states[step] = v
    if save:
        return vs[unfolds::unfolds].clone(), vs, ss, list(den_at)
    return states, None, None, None


class _Unfolds(torch.autograd.Function):
    """Every ODE unfold of every step of a sequence, one autograd node, hand-written backward."""

    @staticmethod
    def forward(ctx, wiring, k, v0, num_c, den_c, cm_t, sigma, nsm, werev, w):
        with _flush_denormals():
            states, vs, ss, dens = _unfold(wiring, k, v0, num_c, den_c, cm_t, sigma, nsm, werev, w, save=True)
        ctx.wiring, ctx.k, ctx.ss, ctx.dens = wiring, k, ss, dens
        ctx.kernel = isinstance(dens, torch.Tensor)      # the C kernel's (one tensor) or a list of views
        ctx.save_for_backward(cm_t, sigma, werev, w, vs)
        return states

    @staticmethod
    def backward(ctx, g_states):
        with _flush_denormals():
            if ctx.kernel:
                cm_t, sigma, werev, w, vs = ctx.saved_tensors
                idx = ctx.wiring.rec.stacked(ctx.k)
                return (None, None, *ltc_kernel.backward(ctx.wiring.unfolds, idx["crow"], idx["src"], vs, ctx.ss,
                                                         ctx.dens, cm_t, sigma, werev, w, g_states))
            return _Unfolds._backward(ctx, g_states)

    @staticmethod
    def _backward(ctx, g_states):
        """Per unfold, with h = g_num * v_out = -g_den (signs restored once at the end); the
        per-unfold views are taken before the loop, as in the forward."""
        wiring, k = ctx.wiring, ctx.k
        cm_t, sigma, werev, w, vs = ctx.saved_tensors
        ss, dens = ctx.ss, ctx.dens
        t, ku, b = cm_t.shape
        idx = wiring.rec.stacked(k)
        n = wiring.rec.size * k
        scatter = _csr(idx["s_crow"], idx["s_col"], sigma.reshape(-1)[idx["s_col"]], ku, n)
        src, dst2 = idx["src"], idx["dst2"]
        unfolds = wiring.unfolds
        both = cm_t.new_empty(t * unfolds, 2 * ku, b)  # every unfold's [g_num; h], summed per step at the end
        acc_w = cm_t.new_zeros(2, n, b)            # sum over unfolds of d/d[w erev; -w] per sample
        acc_z = cm_t.new_zeros(2, n, b)            # ... of d/d[sigma; -sigma mu]
        g_terms = cm_t.new_empty(2, n, b)
        g_flat, g_num_terms, g_h_terms = g_terms.view(2 * n, b), g_terms[0], g_terms[1]
        v_src = cm_t.new_ones(2, n, b)             # [v at each synapse's source; 1]
        v_src0 = v_src[0]
        g_s = cm_t.new_empty(n, b)
        both_at, num_at, h_at = both.unbind(0), both[:, :ku].unbind(0), both[:, ku:].unbind(0)
        v_at, cms, g_in = vs.unbind(0), cm_t.unbind(0), g_states.unbind(0)
        s_at = [s for block in ss for s in block.unbind(0)] if n else None
        g = torch.zeros_like(g_in[0])
        for i in reversed(range(t * unfolds)):
            step = i // unfolds
            if (i + 1) % unfolds == 0:
                g = g + g_in[step]
            g_num, h = num_at[i], h_at[i]
            torch.div(g, dens[i], out=g_num)                  # v_out = num / den
            torch.mul(g_num, v_at[i + 1], out=h)
            g_v = g_num * cms[step]
            if n:
                s = s_at[i]
                torch.index_select(both_at[i], 0, dst2, out=g_flat)   # each synapse's target rows
                acc_w.addcmul_(g_terms, s)
                torch.mul(g_num_terms, werev, out=g_s).addcmul_(g_h_terms, w, value=-1.0)
                g_z = torch.ops.aten.sigmoid_backward(g_s, s)
                torch.index_select(v_at[i], 0, src, out=v_src0)
                acc_z.addcmul_(v_src, g_z)
                g_v = torch.addmm(g_v, scatter, g_z)
            g = g_v
        both = both.view(t, unfolds, 2 * ku, b)
        g_c = both.sum(1)
        g_cm_t = (both[:, :, :ku] * vs[:-1].view(t, unfolds, ku, b)).sum(1)
        g_w, g_z = acc_w.sum(2, keepdim=True), acc_z.sum(2, keepdim=True)
        return (None, None, g, g_c[:, :ku], -g_c[:, ku:], g_cm_t, g_z[0], g_z[1], g_w[0], -g_w[1])


# -- K members of one wiring (a stacked trainer) --------------------------------------------------
_CELL = "cell.rnn_cell."
_HEAD = "cell.head."


def stacked_features(model, params: dict, x: torch.Tensor, dt: torch.Tensor, state=None):
    """What the head of each of K LTC members reads at every step, (K, B, T, motor), and the last
    states ``(h (K, B, U),)``. ``model``: one SequenceModel of kind ``ltc``/``ltc-ncp`` (the wiring
    every member shares, its masks are used); ``params`` = {name: (K, *shape)} named as
    ``model.named_parameters()`` (``torch.func.stack_module_state``'s; views of a larger tensor are
    fine); ``x`` (K, B, T, C) or (B, T, C) for one batch shared by every member; ``dt`` (K, B, T)
    or (B, T); ``state`` optional ``(h,)``, h (K, B, U). Autograd flows to ``params``."""
    wiring = model.cell.wiring()
    p = {n[len(_CELL):]: v for n, v in params.items() if n.startswith(_CELL)}
    k = p["w"].shape[0]
    if x.dim() == 3:
        x = x.unsqueeze(0).expand(k, *x.shape)
    if dt.dim() == 2:
        dt = dt.unsqueeze(0).expand(k, *dt.shape)
    h0 = state[0] if state is not None else x.new_zeros(k, x.shape[1], wiring.units)
    states = ltc_sequence(p, wiring, x, dt.to(x.dtype), h0)
    return ltc_outputs(p, wiring, states), (states[:, :, -1],)


def stacked_forward(model, params: dict, x: torch.Tensor, dt: torch.Tensor, state=None,
                    return_state: bool = False):
    """K LTC members' outputs, y (K, B, T, out) [and ``(h_last,)``]: member k's is
    ``functional_call(model, {n: v[k]}, (x[k], dt[k]))``. Arguments as :func:`stacked_features`."""
    out, last = stacked_features(model, params, x, dt, state)
    w, b = params[_HEAD + "weight"], params[_HEAD + "bias"]
    y = torch.einsum("kbtm,kom->kbto", out, w) + b.reshape(b.shape[0], 1, 1, -1)
    return (y, last) if return_state else y


@torch.no_grad()
def constrain_stacked(params: dict) -> None:
    """ncps's ``apply_weight_constraints`` on stacked parameters (in place): the conductances
    ``w``, ``sensory_w``, ``gleak`` and the capacitance ``cm`` are kept >= 0."""
    for name, value in params.items():
        if name.startswith(_CELL) and name[len(_CELL):] in CONSTRAINED:
            value.clamp_(min=0)
