"""The model zoo, keyed by the names users type."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError
from .cells import CfCStep, GRUDStep, GRUStep, LSTMStep, LTCStep, RNNStep, StepCell, WiredCfCStep


@dataclass(frozen=True)
class ModelKind:
    name: str
    cell: type[StepCell]
    family: str            # "liquid" or "rnn": the comparison the review makes
    description: str
    defaults: dict = field(default_factory=dict)
    fixed: dict = field(default_factory=dict)   # options the kind itself decides (ltc's wiring)


# Wired kinds read a scaled motor layer through their linear head (``motor_fraction``: see
# cells.ncp_motor_neurons); a config without it (a checkpoint written before issue 17) keeps one
# motor neuron per output. ``ltc`` meant ncps's NCP wiring before issue 17: such checkpoints
# record ``wiring: "ncp"`` in their options and still load as what they were.
NCP_MOTOR_FRACTION = 0.3   # ncps AutoNCP's advice: ~0.3 x units motor neurons

MODELS: dict[str, ModelKind] = {
    "cfc": ModelKind("cfc", CfCStep, "liquid", "ncps CfC cell (closed-form continuous-time), fully connected",
                     {"mode": "default", "backbone_units": 64, "backbone_layers": 1,
                      "backbone_dropout": 0.0}),
    "cfc-ncp": ModelKind("cfc-ncp", WiredCfCStep, "liquid",
                         "CfC on an AutoNCP wiring; motor layer 0.3 x units, linear head",
                         {"mode": "default", "sparsity": 0.5, "wiring_seed": 22222,
                          "motor_fraction": NCP_MOTOR_FRACTION}),
    "ltc": ModelKind("ltc", LTCStep, "liquid",
                     "ncps LTC (liquid time-constant ODE), fully connected (the LTC paper's setting)",
                     {"wiring": "fc", "wiring_seed": 22222, "ode_unfolds": 6, "motor_fraction": 1.0},
                     fixed={"wiring": "fc"}),
    "ltc-ncp": ModelKind("ltc-ncp", LTCStep, "liquid",
                         "ncps LTC on an AutoNCP wiring; motor layer 0.3 x units, linear head",
                         {"wiring": "ncp", "sparsity": 0.5, "wiring_seed": 22222, "ode_unfolds": 6,
                          "motor_fraction": NCP_MOTOR_FRACTION},
                         fixed={"wiring": "ncp"}),
    "lstm": ModelKind("lstm", LSTMStep, "rnn", "LSTM baseline (dt as an input feature)"),
    "gru": ModelKind("gru", GRUStep, "rnn", "GRU baseline (dt as an input feature)"),
    "gru-d": ModelKind("gru-d", GRUDStep, "rnn",
                       "GRU-D-style GRU: hidden state decays with elapsed time (and dt as a feature)"),
    "rnn": ModelKind("rnn", RNNStep, "rnn", "Elman RNN (tanh) baseline (dt as an input feature)"),
}


class UnknownModelError(InputError):
    """A model kind that is not in MODELS."""


def get_loadable(name: str) -> ModelKind:
    """The kind a checkpoint names: a zoo kind, or ``imported`` (a module brought with ``edgelnn
    import``: loadable and exportable, not trainable, so not in MODELS)."""
    if name == "imported":
        from .imported import ImportedStep

        return ModelKind("imported", ImportedStep, "imported", "a recurrent module brought with edgelnn import")
    return get_kind(name)


def get_kind(name: str) -> ModelKind:
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None
