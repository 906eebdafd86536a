"""The model zoo: liquid networks (CfC, LTC, each fully connected or NCP-wired) and RNN baselines (LSTM, GRU, GRU-D, RNN)."""
from .cells import StepCell
from .checkpoint import CheckpointError, load
from .registry import MODELS, ModelKind, UnknownModelError, get_kind
from .sequence import SequenceModel, ShapeError, create
from .sizing import BudgetFit, MinimumSize, minimum_size, size_for_budget

__all__ = ["BudgetFit", "MODELS", "MinimumSize", "minimum_size", "ModelKind", "SequenceModel", "StepCell", "CheckpointError", "ShapeError",
           "UnknownModelError", "create", "get_kind", "load", "size_for_budget"]
