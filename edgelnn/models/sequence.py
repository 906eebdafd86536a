"""A whole-sequence model built by looping the very step cell that gets exported."""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .. import checks
from ..errors import InputError, ShapeError
from .cells import StepCell
from .registry import MODELS, get_kind, get_loadable

TASKS = ("classification", "regression")
# What each model option may be (the zoo's options, see MODELS[...].defaults).
OPTION_CHOICES = {"mode": ("default", "pure", "no_gate"), "wiring": ("ncp", "fc")}
OPTION_MIN_INT = {"backbone_units": 1, "backbone_layers": 1, "ode_unfolds": 1, "wiring_seed": 0,
                  "motor_neurons": 1}
OPTION_FRACTION = ("backbone_dropout", "sparsity")
OPTION_OPEN_FRACTION = ("motor_fraction",)   # in (0, 1]


def _check_options(kind: str, options: dict) -> None:
    for key, value in options.items():
        if key in OPTION_CHOICES and value not in OPTION_CHOICES[key]:
            raise InputError(f"option {key} of {kind!r} must be one of "
                             f"{', '.join(OPTION_CHOICES[key])}, got {value!r}")
        if key in OPTION_MIN_INT and not (key == "motor_neurons" and value is None):
            checks.integer(value, f"option {key}", OPTION_MIN_INT[key])
        if key in OPTION_FRACTION:
            v = checks.number(value, f"option {key}", minimum=0.0)
            if v >= 1.0:
                raise InputError(f"option {key} must be in [0, 1), got {v}")
        if key in OPTION_OPEN_FRACTION:
            v = checks.number(value, f"option {key}", minimum=0.0)
            if not 0.0 < v <= 1.0:
                raise InputError(f"option {key} must be in (0, 1], got {v}")


def _check_values(x: torch.Tensor, dt: torch.Tensor, where: str) -> None:
    """NaN/inf in x, or dt that is not finite and > 0, would give NaN outputs silently."""
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"{where}: x contains NaN or inf; clean or impute the input first")
    if not bool(((dt > 0) & torch.isfinite(dt)).all()):
        raise InputError(f"{where}: dt must be finite and > 0 (elapsed time since the previous "
                         "sample)")


class SequenceModel(nn.Module):
    """Wraps a :class:`StepCell` with its config; ``forward`` runs it over a window.

    ``config`` holds everything needed to rebuild the model without pickled code: kind,
    sizes, options, task, label names and normalisation statistics.
    """

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = copy.deepcopy(config)
        kind = get_loadable(config["kind"])
        try:
            self.cell: StepCell = kind.cell(config["input_size"], config["output_size"],
                                            config["units"], **config.get("options", {}))
        except InputError:
            raise
        except (ValueError, TypeError, AssertionError) as exc:  # ncps wirings refuse some sizes
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"cannot build {config['kind']} with {config['units']} units and "
                             f"options {config.get('options', {})}: {why}") from None

    # -- facts ---------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.config["kind"]

    @property
    def input_size(self) -> int:
        return self.config["input_size"]

    @property
    def output_size(self) -> int:
        return self.config["output_size"]

    @property
    def state_spec(self) -> list[tuple[str, int]]:
        return list(self.cell.state_spec)

    def param_count(self) -> int:
        """Every trainable tensor element (the fixed wiring masks themselves excluded)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def active_param_count(self) -> int:
        """Trainable elements that can affect the output: ``param_count`` minus the synapses a
        fixed wiring masks off (NCP-wired CfC, LTC). Models are sized and compared by this."""
        masked = sum(int(torch.broadcast_to(mask == 0, p.shape).sum())
                     for p, mask in self.cell.synapse_masks() if p.requires_grad)
        return self.param_count() - masked

    # -- inference -----------------------------------------------------------------------
    def initial_state(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        return tuple(torch.zeros(batch, size) for _, size in self.cell.state_spec)

    def _check_step(self, x: torch.Tensor, dt: torch.Tensor, state) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise InputError(f"step expects x as a torch tensor, got {type(x).__name__}")
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ShapeError(f"step expects x of shape (batch, {self.input_size}) (the model has "
                             f"{self.input_size} input channels), got {tuple(x.shape)}")
        batch = x.shape[0]
        dt = torch.as_tensor(dt, dtype=x.dtype)
        if dt.dim() == 0:
            dt = dt.expand(batch)
        dt = dt.reshape(batch, -1) if dt.numel() == batch else dt
        if dt.shape != (batch, 1):
            raise ShapeError(f"step expects dt of shape ({batch},) or ({batch}, 1), "
                             f"got {tuple(dt.shape)}")
        _check_values(x, dt, "step")
        if len(state) != len(self.cell.state_spec):
            raise ShapeError(f"step expects {len(self.cell.state_spec)} state tensors, got {len(state)}")
        for s, (name, size) in zip(state, self.cell.state_spec):
            if tuple(s.shape) != (batch, size):
                raise ShapeError(f"state {name!r} must have shape ({batch}, {size}), "
                                 f"got {tuple(s.shape)}")
        return dt

    def step(self, x: torch.Tensor, dt, state) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """One time step: returns (y, new_state)."""
        dt = self._check_step(x, dt, state)
        y, *new_state = self.cell(x, dt, *state)
        return y, tuple(new_state)

    def forward(self, x: torch.Tensor, dt: torch.Tensor | None = None, state=None,
                return_state: bool = False):
        """Run the step cell over (B, T, C) inputs and (B, T) dt; returns (B, T, out)."""
        if not isinstance(x, torch.Tensor):
            raise InputError(f"forward expects x as a torch tensor, got {type(x).__name__}")
        if x.dim() != 3 or x.shape[2] != self.input_size:
            raise ShapeError(f"forward expects x of shape (batch, time, {self.input_size}) (the "
                             f"model has {self.input_size} input channels), got {tuple(x.shape)}")
        batch, steps, _ = x.shape
        if dt is None:
            dt = torch.ones(batch, steps, dtype=x.dtype)
        dt = torch.as_tensor(dt, dtype=x.dtype)
        if tuple(dt.shape) != (batch, steps):
            raise ShapeError(f"forward expects dt of shape ({batch}, {steps}), got {tuple(dt.shape)}")
        _check_values(x, dt, "forward")
        state = self.initial_state(batch) if state is None else tuple(state)
        y, state = self.cell.run_sequence(x, dt, *state)
        return (y, tuple(state)) if return_state else y

    def after_optimizer_step(self) -> None:
        self.cell.apply_constraints()

    # -- persistence ---------------------------------------------------------------------
    def save(self, path) -> None:
        from .checkpoint import save
        save(self, path)


def create(kind: str, input_size: int, output_size: int, units: int = 32, *,
           task: str = "classification", label_names: list[str] | None = None,
           norm_mean: list[float] | None = None, norm_std: list[float] | None = None,
           dataset: str | None = None, seed: int = 0, **options) -> SequenceModel:
    """Build a model of the zoo. ``options`` are kind-specific (e.g. ``mode="pure"`` for cfc)."""
    spec = get_kind(kind)
    unknown = set(options) - set(spec.defaults) - {"motor_neurons"}
    if unknown:
        raise InputError(f"unknown option(s) for {kind!r}: {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(spec.defaults) or 'none'}")
    input_size = checks.positive_int(input_size, "input_size")
    output_size = checks.positive_int(output_size, "output_size")
    units = checks.positive_int(units, "units")
    seed = checks.integer(seed, "seed", 0)
    if task not in TASKS:
        raise InputError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    for name, values in (("norm_mean", norm_mean), ("norm_std", norm_std)):
        if values is not None:
            if len(values) != input_size:
                raise ShapeError(f"{name} has {len(values)} values for {input_size} input channels")
            for v in values:
                checks.number(v, name)
    if norm_std is not None and any(float(v) <= 0 for v in norm_std):
        raise InputError("norm_std values must be > 0")
    _check_options(kind, options)
    for key, value in spec.fixed.items():
        if key in options and options[key] != value:
            other = next((k.name for k in MODELS.values()
                          if k.cell is spec.cell and k.fixed.get(key) == options[key]), None)
            raise InputError(f"{kind!r} has {key} {value!r}" + (f"; use {other!r} for {key} {options[key]!r}"
                                                                 if other else ""))
    merged = {**spec.defaults, **options}
    config = {
        "kind": kind, "input_size": int(input_size), "output_size": int(output_size),
        "units": int(units), "options": merged, "task": task,
        "label_names": list(label_names or []), "dataset": dataset, "seed": int(seed),
        "norm_mean": [float(v) for v in (norm_mean or [0.0] * input_size)],
        "norm_std": [float(v) for v in (norm_std or [1.0] * input_size)],
    }
    torch.manual_seed(seed)
    return SequenceModel(config)
