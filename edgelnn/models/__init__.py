"""The model zoo: liquid networks (CfC, wired CfC, LTC) and RNN baselines (LSTM, GRU, GRU-D, RNN)."""
from .cells import StepCell
from .checkpoint import CheckpointError, load
from .registry import MODELS, ModelKind, UnknownModelError, get_kind
from .sequence import SequenceModel, ShapeError, create
from .sizing import BudgetFit, size_for_budget

__all__ = ["BudgetFit", "MODELS", "ModelKind", "SequenceModel", "StepCell", "CheckpointError", "ShapeError",
           "UnknownModelError", "create", "get_kind", "load", "size_for_budget"]
