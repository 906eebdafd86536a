"""The model zoo: liquid networks (CfC, wired CfC, LTC) and RNN baselines (LSTM, GRU, RNN)."""
from .cells import StepCell
from .checkpoint import CheckpointError, load
from .registry import MODELS, ModelKind, UnknownModelError, get_kind
from .sequence import SequenceModel, ShapeError, create

__all__ = ["MODELS", "ModelKind", "SequenceModel", "StepCell", "CheckpointError", "ShapeError",
           "UnknownModelError", "create", "get_kind", "load"]
