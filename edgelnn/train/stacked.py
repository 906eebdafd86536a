"""Training K models of one architecture at once: a leading member dimension on every tensor.

The zoo's models are tiny (3-90 units): a training step of one model costs its Python and autograd
overhead per tensor operation (~0.6-2 ms per batch-step, edgelnn.study.costs), not arithmetic. The
members of one tuning group (learning rates x seeds at one batch size) or the final seeds of a
study cell share kind, size, options and batch size, so one computation whose tensors carry a
leading member dimension K -- parameters (K, ...), batches (K, B, T, C), ``torch.baddbmm`` for
every linear map -- pays that overhead once for K members.

Each member is exactly the single-run trainer's run (edgelnn.train.loop._train) for its own
config: its initial weights are ``create(..., seed=s)``'s, its data (validation carve) is
``load(dataset, seed=s)``'s, its batch order is its own ``randperm`` generator's, and it has its
own learning rate and cosine schedule (the single run's CosineAnnealingLR values), gradient
clipping over its own parameters, Adam (the formula of ``torch.optim.Adam``, per member), early
stopping, constraints, failure rule and retries. A member that stopped leaves the stack (the others
go on without it), one whose loss diverged too. The step formulas are those of nn.GRUCell /
LSTMCell / RNNCell, GRU-D, ncps's CfCCell and WiredCfCCell, rearranged for batched matrix products
(the input-side products of all steps in one call), so results agree with the single run to float
rounding -- tests/test_stacked_train.py checks weights, validation losses per epoch, best epochs and
failure flags member by member.

``train_many`` is the entry point: it trains a list of configs that differ only in seed, rate and
retries, stacked where ``unstackable`` allows, else one by one with ``loop.train``, and returns what
``loop.train`` returns for each, in order.
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from .. import data as data_mod
from .. import interrupt, metrics
from ..errors import InputError, NumericError
from . import recipe
from .loop import TrainConfig, TrainResult, _create, _loss_fn, _warm_up
from .memory import PeakMemory

def _ltc_stackable() -> bool:
    from ..models import ltc_fast

    return hasattr(ltc_fast, "stacked_forward")


STACKABLE = ("gru", "gru-d", "lstm", "rnn", "cfc", "cfc-ncp") + (("ltc", "ltc-ncp") if _ltc_stackable() else ())
LTC_KINDS = ("ltc", "ltc-ncp")   # stacked by edgelnn.models.ltc_fast (its constraints too)
# what members of one stack may differ in; everything else of their TrainConfig must be equal
MEMBER_FIELDS = ("seed", "lr", "retries")
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
VAL_BATCH = 256


def unstackable(config: TrainConfig, ds=None) -> str | None:
    """Why ``config`` cannot train stacked (None: it can)."""
    if config.model not in STACKABLE:
        return f"no stacked form of {config.model!r}"
    if config.augment:
        return "augmentation draws per-sequence lengths"
    opts = config.options
    if config.model == "cfc" and (opts.get("backbone_layers", 1) < 1 or opts.get("backbone_dropout", 0.0) > 0):
        return "cfc without a backbone, or with dropout"
    if ds is not None and metrics.per_step(ds.train.y, ds.task):
        return "per-step targets"
    return None


def _shared(config: TrainConfig) -> TrainConfig:
    return dataclasses.replace(config, **{f: getattr(TrainConfig, f, None) if f != "seed" else 0
                                          for f in MEMBER_FIELDS})


def train_many(configs: list[TrainConfig], datasets: dict | None = None, max_members: int = 16) -> list:
    """Train every config; returns, in order, ``(model, TrainResult)`` per config -- or the
    ``NumericError`` where ``loop.train`` would have raised one (a run that diverged on its last
    attempt). ``datasets``: {seed: loaded dataset} (else loaded as ``loop.train`` does).

    Configs must differ only in MEMBER_FIELDS (seed, lr, retries). Stacks hold at most
    ``max_members`` members (more: several stacks, in order)."""
    from .loop import train

    if not configs:
        return []
    base = _shared(configs[0])
    for c in configs[1:]:
        if _shared(c) != base:
            raise InputError("stacked configs may differ only in " + ", ".join(MEMBER_FIELDS))
    datasets = dict(datasets or {})
    for c in configs:
        if c.seed not in datasets:
            datasets[c.seed] = data_mod.load(c.dataset, seed=c.seed, val_fraction=c.val_fraction)
    why = unstackable(configs[0], datasets[configs[0].seed])
    out: list = []
    if why is not None:
        for c in configs:
            try:
                out.append(train(c, dataset=datasets[c.seed]))
            except NumericError as exc:
                out.append(exc)
        return out
    # one stack per shape of the members' splits: k-fold carves (the study's validation folds) give
    # members train / validation sets that differ by an item, which cannot share one tensor
    groups: dict = {}
    for i, c in enumerate(configs):
        ds = datasets[c.seed]
        groups.setdefault((_split_shape(ds.train), _split_shape(ds.val)), []).append(i)
    out = [None] * len(configs)
    for members in groups.values():
        for j in range(0, len(members), max_members):
            part = members[j:j + max_members]
            for i, res in zip(part, _train_stack([configs[i] for i in part], datasets)):
                out[i] = res
    return out


def _split_shape(split) -> tuple:
    return tuple(split.x.shape), tuple(np.shape(split.y))


def _train_stack(configs: list[TrainConfig], datasets: dict) -> list:
    """``loop.train`` for each config, the attempts of one round stacked."""
    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, configs[0].threads))
    try:
        dss = [datasets[c.seed] for c in configs]
        configs = [c.resolved(len(ds.train)) for c, ds in zip(configs, dss)]
        if len({c.batch_size for c in configs}) != 1:
            raise InputError("stacked members need one batch size")
        _warm_up()
        rates = [[c.lr] + recipe.retry_lrs(c.lr, c.retries) for c in configs]
        kept: list = [None] * len(configs)
        attempts: list[list] = [[] for _ in configs]
        errors: list = [None] * len(configs)
        pending = list(range(len(configs)))
        with PeakMemory() as peak:
            for round_ in range(max(len(r) for r in rates)):
                members = [k for k in pending if round_ < len(rates[k])]
                if not members:
                    break
                results = _train_round([dataclasses.replace(configs[k], lr=rates[k][round_]) for k in members],
                                       [dss[k] for k in members])
                pending = []
                for k, res in zip(members, results):
                    lr = rates[k][round_]
                    last = round_ == len(rates[k]) - 1
                    if isinstance(res, NumericError):
                        attempts[k].append({"lr": lr, "failure": [recipe.DIVERGED], "val_metric": None,
                                            "val_loss": None, "best_epoch": 0})
                        if last:
                            errors[k] = res
                        else:
                            pending.append(k)
                        continue
                    model, result = res
                    attempts[k].append({"lr": lr, "failure": list(result.failure), "val_metric": result.val_metric,
                                        "val_loss": result.val_loss, "best_epoch": result.best_epoch})
                    if kept[k] is None or not result.failure or result.val_loss < kept[k][1].val_loss:
                        kept[k] = (model, result)
                    if result.failure and not last:
                        pending.append(k)
        out = []
        for k in range(len(configs)):
            if errors[k] is not None:   # loop.train raises when its last attempt diverges
                out.append(errors[k])
                continue
            model, result = kept[k]
            result.attempts = attempts[k]
            result.peak_mb = peak.mb     # the stack's peak (all members together)
            result.checkpoint = ""
            out.append((model, result))
        return out
    finally:
        torch.set_num_threads(threads_before)


# -- one round: every member's _train, stacked ------------------------------------------------------
class _Flat:
    """The members' trainable parameters as one (K, D) leaf tensor; each parameter is a view."""

    def __init__(self, models):
        named = [dict(m.named_parameters()) for m in models]
        self.names = [n for n, p in named[0].items() if p.requires_grad]
        self.shapes = [tuple(named[0][n].shape) for n in self.names]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.const = {n: p.detach() for n, p in named[0].items() if not p.requires_grad}
        for other in named[1:]:
            for n, c in self.const.items():
                if not torch.equal(other[n].detach(), c):
                    raise InputError(f"stacked members differ in their fixed {n}")
        with torch.no_grad():
            self.flat = torch.stack([torch.cat([m[n].detach().reshape(-1) for n in self.names])
                                     for m in named]).requires_grad_()

    def views(self) -> dict:
        K = self.flat.shape[0]
        parts = torch.split(self.flat, self.sizes, dim=1)
        out = {n: p.view(K, *s) for n, p, s in zip(self.names, parts, self.shapes)}
        out.update(self.const)
        return out

    def detached_views(self) -> dict:
        """The parameters as views that share the (K, D) storage, outside autograd (constraints)."""
        flat = self.flat.detach()
        return {n: p.view(flat.shape[0], *s) for n, p, s in zip(self.names, torch.split(flat, self.sizes, 1), self.shapes)}

    def member(self, pos: int) -> torch.Tensor:
        return self.flat[pos].detach().clone()

    def load_into(self, model, row: torch.Tensor) -> None:
        params = dict(model.named_parameters())
        with torch.no_grad():
            for n, part, s in zip(self.names, torch.split(row, self.sizes), self.shapes):
                params[n].copy_(part.view(s))

    def keep(self, rows: torch.Tensor) -> None:
        self.flat = self.flat.detach()[rows].clone().requires_grad_()


class _Adam:
    """``torch.optim.Adam`` (defaults, no weight decay) on (K, D) with a rate per member."""

    def __init__(self, flat: torch.Tensor):
        self.m = torch.zeros_like(flat)
        self.v = torch.zeros_like(flat)
        self.steps = 0

    def step(self, flat: torch.Tensor, grad: torch.Tensor, lr: torch.Tensor) -> None:
        b1, b2 = ADAM_BETAS
        self.steps += 1
        bc1 = 1 - b1 ** self.steps
        bc2_sqrt = (1 - b2 ** self.steps) ** 0.5
        self.m.lerp_(grad, 1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        denom = (self.v.sqrt() / bc2_sqrt).add_(ADAM_EPS)
        with torch.no_grad():
            flat.sub_((lr / bc1).unsqueeze(1) * self.m / denom)

    def keep(self, rows: torch.Tensor) -> None:
        self.m, self.v = self.m[rows], self.v[rows]


def _schedule(config: TrainConfig) -> list[float]:
    """The rate of each epoch, as the single run's CosineAnnealingLR gives it (the same floats)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, config.epochs),
                                                       eta_min=config.lr * recipe.FINAL_LR_FRACTION)
    out = []
    for _ in range(config.epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def _stack_split(splits) -> tuple:
    """(K, N, T, C) x, (K, N, T) dt, (K, N, ...) y, (K, N) lengths of the members' splits."""
    return (torch.from_numpy(np.stack([s.x for s in splits])), torch.from_numpy(np.stack([s.dt for s in splits])),
            torch.from_numpy(np.stack([s.y for s in splits])), torch.from_numpy(np.stack([s.lengths for s in splits])))


def _outputs(seq, P, x, dt, lengths) -> torch.Tensor:
    """(K, B, O): each member's model output at each sequence's last valid step."""
    steps = int(lengths.max())               # later steps cannot change an earlier output
    feats = seq(P, x[:, :, :steps], dt[:, :, :steps])               # (K, B, T, F)
    K, B = lengths.shape
    last = feats[torch.arange(K)[:, None], torch.arange(B)[None, :], lengths - 1]
    return last if getattr(seq, "headed", False) else _lin(last, P["cell.head.weight"], P["cell.head.bias"])


def _losses(out: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor:
    """(K,) each member's mean loss (nn.CrossEntropyLoss / nn.MSELoss of the single run)."""
    K, B = out.shape[:2]
    if task == "classification":
        return F.cross_entropy(out.reshape(K * B, -1), y.reshape(-1), reduction="none").view(K, B).mean(1)
    return ((out - y.view(out.shape)) ** 2).reshape(K, -1).mean(1)


def _train_round(configs: list[TrainConfig], dss: list) -> list:
    """``loop._train`` for each (config, dataset), stacked: (model, TrainResult) or NumericError each."""
    start = time.perf_counter()
    K = len(configs)
    cfg0, ds0 = configs[0], dss[0]
    models = []
    for c, ds in zip(configs, dss):
        torch.manual_seed(c.seed)
        np.random.seed(c.seed)
        models.append(_create(c, ds))
    seq = _sequence_fn(models[0])
    constrain = _constraints(models[0])
    flat = _Flat(models)
    adam = _Adam(flat.flat)
    lrs = torch.tensor([_schedule(c) for c in configs], dtype=torch.float64)   # (K, epochs)
    metric = metrics.metric_name(ds0.task)
    loss_fn = _loss_fn(ds0)
    x, dt, y, lengths = _stack_split([ds.train for ds in dss])
    vx, vdt, vy, vlen = _stack_split([ds.val for ds in dss]) if len(ds0.val) else (None,) * 4
    gens = [torch.Generator().manual_seed(c.seed) for c in configs]
    n, batch = x.shape[1], cfg0.batch_size

    pos = list(range(K))          # stack row -> member
    state = [{"best_loss": None, "best_val": None, "best_row": None, "best_epoch": 0, "bad": 0,
              "history": []} for _ in range(K)]
    done: dict[int, object] = {}
    for epoch in range(1, cfg0.epochs + 1):
        if not pos:
            break
        rows = torch.tensor(pos)
        order = torch.stack([torch.randperm(n, generator=gens[k]) for k in pos])     # (K', n)
        lr = lrs[rows, epoch - 1].to(flat.flat.dtype)
        total = torch.zeros(len(pos), dtype=torch.float64)
        ar = torch.arange(len(pos))[:, None]
        xs, dts, ys, ls = x[rows], dt[rows], y[rows], lengths[rows]
        for i in range(0, n, batch):
            interrupt.check()
            idx = order[:, i:i + batch]
            out = _outputs(seq, flat.views(), xs[ar, idx], dts[ar, idx], ls[ar, idx])
            losses = _losses(out, ys[ar, idx], ds0.task)
            flat.flat.grad = None
            losses.sum().backward()
            grad = flat.flat.grad
            coef = (recipe.CLIP_NORM / (grad.norm(dim=1) + 1e-6)).clamp(max=1.0)   # clip_grad_norm_, per member
            grad.mul_(coef.unsqueeze(1))
            adam.step(flat.flat, grad, lr)
            if constrain is not None:
                constrain(flat.detached_views())        # model.after_optimizer_step, per member
            total += losses.detach().double() * idx.shape[1]
        train_loss = (total / n).tolist()
        val_scores = _val_scores(seq, flat, vx, vdt, vy, vlen, rows, dss, pos, loss_fn) if vx is not None else None
        keep = []
        for r, k in enumerate(pos):
            if not np.isfinite(train_loss[r]):
                done[k] = NumericError(f"training diverged: the loss is {train_loss[r]} in epoch {epoch}; "
                                       f"lower the learning rate (--lr, now {configs[k].lr})")
                continue
            s = state[k]
            val, val_loss = val_scores[r] if val_scores is not None else (float("nan"), float("nan"))
            s["history"].append({"epoch": epoch, "train_loss": train_loss[r], "val_loss": val_loss,
                                 f"val_{metric}": val})
            if s["best_loss"] is None or val_loss < s["best_loss"]:
                s.update(best_loss=val_loss, best_val=val, best_epoch=epoch, bad=0, best_row=flat.member(r))
            else:
                s["bad"] += 1
                if s["bad"] >= configs[k].patience:
                    done[k] = None
                    continue
            keep.append(r)
        if len(keep) < len(pos):
            kr = torch.tensor(keep, dtype=torch.long)
            flat.keep(kr)
            adam.keep(kr)
            pos = [pos[r] for r in keep]
    finished = [k for k in range(K) if not isinstance(done.get(k), NumericError)]
    finals = _final_outputs(seq, flat, [state[k]["best_row"] for k in finished], [dss[k] for k in finished])
    seconds = (time.perf_counter() - start) / K     # the member's share of the stack's wall time
    out = []
    for k, (c, ds, model) in enumerate(zip(configs, dss, models)):
        if isinstance(done.get(k), NumericError):
            out.append(done[k])
            continue
        flat.load_into(model, state[k]["best_row"])
        out.append(_finish(c, ds, model, state[k], metric, seconds, *finals[finished.index(k)]))
    return out


def _final_outputs(seq, flat, best_rows, dss) -> list[tuple]:
    """(validation outputs, test outputs) at each sequence's last step of each member's kept
    weights, in one stacked pass (``loop._train``'s closing ``predict_steps`` calls)."""
    if not best_rows:
        return []
    saved = flat.flat
    flat.flat = torch.stack(best_rows)
    try:
        P = flat.views()
        out = []
        for split in ("val", "test"):
            parts = [getattr(ds, split) for ds in dss]
            if not len(parts[0]):
                out.append([None] * len(dss))
                continue
            x, dt, _, lengths = _stack_split(parts)
            with torch.no_grad():
                last = torch.cat([_outputs(seq, P, x[:, i:i + VAL_BATCH], dt[:, i:i + VAL_BATCH],
                                           lengths[:, i:i + VAL_BATCH]) for i in range(0, x.shape[1], VAL_BATCH)], 1)
            out.append(list(last.numpy()))
    finally:
        flat.flat = saved
    return list(zip(*out))


def _val_scores(seq, flat, vx, vdt, vy, vlen, rows, dss, pos, loss_fn) -> list[tuple[float, float]]:
    """(metric, loss) per stack row on its member's validation split: ``loop._val_scores``."""
    P = {k: v.detach() for k, v in flat.views().items()}
    xs, dts, ls = vx[rows], vdt[rows], vlen[rows]
    with torch.no_grad():
        last = torch.cat([_outputs(seq, P, xs[:, i:i + VAL_BATCH], dts[:, i:i + VAL_BATCH], ls[:, i:i + VAL_BATCH])
                          for i in range(0, xs.shape[1], VAL_BATCH)], dim=1).numpy()
    out = []
    for r, k in enumerate(pos):
        ds = dss[k]
        yk = ds.val.y
        m = metrics.score(last[r], yk, ds.task, ds.target_std)
        out.append((m, float(loss_fn(torch.from_numpy(last[r]), torch.from_numpy(np.ascontiguousarray(yk))))))
    return out


def _finish(config: TrainConfig, ds, model, s: dict, metric: str, seconds: float, val_last, test_last):
    """The end of ``loop._train`` for one member (its best weights loaded into ``model``), from its
    outputs at each sequence's last step on validation and test (``_final_outputs``)."""
    model.eval()
    history = s["history"]
    failure = recipe.diagnose(s["best_epoch"], len(history),
                              val_last is not None and recipe.constant_output(val_last, ds.task))
    test = metrics.score(test_last, ds.test.y, ds.task, ds.target_std)
    model.metrics = {"metric": metric, "test": test, "val": s["best_val"], "best_epoch": s["best_epoch"],
                     "augment": config.augment, "lr": config.lr, "batch_size": config.batch_size,
                     "training_failure": ", ".join(failure) or "none"}
    result = TrainResult(checkpoint="", model=config.model, dataset=ds.name, units=config.units, seed=config.seed,
                         params=model.param_count(), metric=metric, test_metric=test, val_metric=s["best_val"],
                         best_epoch=s["best_epoch"], epochs_run=len(history), seconds=seconds,
                         params_active=model.active_param_count(), val_loss=s["best_loss"],
                         augment=config.augment, history=history, lr=config.lr, batch_size=config.batch_size,
                         failure=failure, per_step=False)
    return model, result


# -- the stacked step formulas ------------------------------------------------------------------------
def _lin(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per member ``F.linear``: x (K, B, i), w (K, o, i), b (K, o) -> (K, B, o)."""
    return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))


def _lin_seq(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``_lin`` of every step at once: x (K, B, T, i) -> (K, B, T, o)."""
    K, B, T, i = x.shape
    return _lin(x.reshape(K, B * T, i), w, b).view(K, B, T, -1)


def _with_dt(x, dt):
    return torch.cat([x, dt.unsqueeze(-1)], dim=-1)


def _gru_like(decay: bool):
    def seq(P, x, dt):
        c = "cell.rnn_cell."
        gi = _lin_seq(_with_dt(x, dt), P[c + "weight_ih"], P[c + "bias_ih"])        # (K, B, T, 3H)
        whh, bhh = P[c + "weight_hh"].transpose(1, 2), P[c + "bias_hh"].unsqueeze(1)
        K, B, T, H3 = gi.shape
        H = H3 // 3
        if decay:   # GRUDStep: gamma = exp(-relu(decay(dt)))
            w, b = P["cell.decay.weight"], P["cell.decay.bias"]
            gamma = torch.exp(-torch.relu(torch.baddbmm(b.unsqueeze(1), dt.reshape(K, B * T, 1), w.transpose(1, 2))))
            gamma = gamma.view(K, B, T, H)
        gi_rz, gi_n = (g.unbind(2) for g in gi.split([2 * H, H], dim=-1))   # unbind: one backward node
        gammas = gamma.unbind(2) if decay else None
        h = x.new_zeros(K, B, H)
        hs = []
        for t in range(T):
            if decay:
                h = gammas[t] * h
            gh_rz, gh_n = torch.baddbmm(bhh, h, whh).split([2 * H, H], dim=-1)
            r, z = torch.sigmoid(gi_rz[t] + gh_rz).chunk(2, dim=-1)
            n_ = torch.tanh(gi_n[t] + r * gh_n)
            h = n_ + z * (h - n_)                     # (1 - z) * n + z * h
            hs.append(h)
        return torch.stack(hs, dim=2)
    return seq


def _lstm_seq(P, x, dt):
    c = "cell.rnn_cell."
    gi = _lin_seq(_with_dt(x, dt), P[c + "weight_ih"], P[c + "bias_ih"])            # (K, B, T, 4H)
    whh, bhh = P[c + "weight_hh"].transpose(1, 2), P[c + "bias_hh"].unsqueeze(1)
    K, B, T, H4 = gi.shape
    H = H4 // 4
    gis = gi.unbind(2)
    h = x.new_zeros(K, B, H)
    cs = h
    hs = []
    for t in range(T):
        i, f, g, o = torch.baddbmm(gis[t] + bhh, h, whh).split(H, dim=-1)
        cs = torch.sigmoid(f) * cs + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(cs)
        hs.append(h)
    return torch.stack(hs, dim=2)


def _rnn_seq(P, x, dt):
    c = "cell.rnn_cell."
    gi = _lin_seq(_with_dt(x, dt), P[c + "weight_ih"], P[c + "bias_ih"])
    whh, bhh = P[c + "weight_hh"].transpose(1, 2), P[c + "bias_hh"].unsqueeze(1)
    h = x.new_zeros(gi.shape[0], gi.shape[1], gi.shape[3])
    hs = []
    for g in gi.unbind(2):
        h = torch.tanh(torch.baddbmm(g + bhh, h, whh))
        hs.append(h)
    return torch.stack(hs, dim=2)


def _lecun(z):
    return 1.7159 * torch.tanh(0.666 * z)


def _cfc_update(f, ts, H: int, mode: str, pure=None):
    """ncps CfCCell's new hidden state from its four heads ``f`` = [ff1, ff2, time_a, time_b] (or
    ff1 alone in mode "pure", with ``pure`` = (A, w_tau))."""
    if mode == "pure":
        A, w_tau = pure
        return -A * torch.exp(-ts * (torch.abs(w_tau) + torch.abs(f))) * f + A
    ff, t_a, t_b = f.split([2 * H, H, H], dim=-1)
    ff1, ff2 = torch.tanh(ff).chunk(2, dim=-1)
    t_interp = torch.sigmoid(t_a * ts + t_b)
    if mode == "no_gate":
        return ff1 + t_interp * ff2
    return ff1 * (1.0 - t_interp) + t_interp * ff2


def _heads(P, prefix: str, mode: str, mask=None):
    """The CfC cell's output heads as one (K, n*H, in) weight and (K, n*H) bias."""
    names = ("ff1",) if mode == "pure" else ("ff1", "ff2", "time_a", "time_b")
    ws = [P[f"{prefix}{n}.weight"] for n in names]
    if mask is not None:          # ncps masks ff1 and ff2 only
        ws = [w * mask if n in ("ff1", "ff2") else w for n, w in zip(names, ws)]
    return torch.cat(ws, dim=1), torch.cat([P[f"{prefix}{n}.bias"] for n in names], dim=1)


def _cfc(model):
    cell = model.cell.rnn_cell
    mode, layers, I = cell.mode, cell.backbone_layers, cell.input_size

    def seq(P, x, dt):
        c = "cell.rnn_cell."
        w0 = P[c + "backbone.0.weight"]
        pre = _lin_seq(x, w0[:, :, :I], P[c + "backbone.0.bias"])                  # (K, B, T, BU)
        wh = w0[:, :, I:].transpose(1, 2)
        deeper = [(P[f"{c}backbone.{2 * j}.weight"], P[f"{c}backbone.{2 * j}.bias"]) for j in range(1, layers)]
        W, b = _heads(P, c, mode)
        pure = (P[c + "A"], P[c + "w_tau"]) if mode == "pure" else None
        K, B, T, _ = pre.shape
        H = cell.hidden_size
        h = x.new_zeros(K, B, H)
        hs = []
        pres, tss = pre.unbind(2), dt.unsqueeze(-1).unbind(2)
        for t in range(T):
            z = _lecun(torch.baddbmm(pres[t], h, wh))
            for w2, b2 in deeper:
                z = _lecun(_lin(z, w2, b2))
            h = _cfc_update(_lin(z, W, b), tss[t], H, mode, pure)
            hs.append(h)
        return torch.stack(hs, dim=2)
    return seq


def _wired_cfc(model):
    cell = model.cell.rnn_cell
    sizes = cell.layer_sizes
    mode = cell._layers[0].mode
    I = cell.sensory_size

    def seq(P, x, dt):
        lay = []
        for l, H in enumerate(sizes):
            p = f"cell.rnn_cell.layer_{l}."
            W, b = _heads(P, p, mode, P[p + "sparsity_mask"])
            pure = (P[p + "A"], P[p + "w_tau"]) if mode == "pure" else None
            lay.append((W, b, pure))
        W0, b0, _ = lay[0]
        pre = _lin_seq(x, W0[:, :, :I], b0)
        wh0 = W0[:, :, I:].transpose(1, 2)
        K, B, T, _ = pre.shape
        hs = [x.new_zeros(K, B, H) for H in sizes]
        outs = []
        pres, tss = pre.unbind(2), dt.unsqueeze(-1).unbind(2)
        for t in range(T):
            ts = tss[t]
            new = []
            for l, H in enumerate(sizes):
                W, b, pure = lay[l]
                f = torch.baddbmm(pres[t], hs[0], wh0) if l == 0 else _lin(torch.cat([new[-1], hs[l]], -1), W, b)
                new.append(_cfc_update(f, ts, H, mode, pure))
            hs = new
            outs.append(new[-1])
        return torch.stack(outs, dim=2)
    return seq


def _ltc(model):
    from ..models import ltc_fast

    if hasattr(ltc_fast, "stacked_features"):
        def seq(P, x, dt):
            return ltc_fast.stacked_features(model, P, x, dt)[0]
        return seq

    def seq_headed(P, x, dt):
        return ltc_fast.stacked_forward(model, P, x, dt)
    seq_headed.headed = True
    return seq_headed


def _constraints(model):
    """The stacked form of ``model.after_optimizer_step`` (None: the kind has no constraints)."""
    if model.kind in LTC_KINDS:
        from ..models import ltc_fast

        return ltc_fast.constrain_stacked
    return None


_SEQUENCES = {"ltc": _ltc, "ltc-ncp": _ltc, "gru": lambda m: _gru_like(False), "gru-d": lambda m: _gru_like(True), "lstm": lambda m: _lstm_seq,
              "rnn": lambda m: _rnn_seq, "cfc": _cfc, "cfc-ncp": _wired_cfc}


def _sequence_fn(model):
    """``seq(P, x, dt) -> (K, B, T, F)``: what the head reads at every step, per member."""
    return _SEQUENCES[model.kind](model)
