"""Training and evaluation of zoo models on edgelnn datasets (CPU, deterministic per seed).

The names below load on first use, so ``edgelnn.train.recipe`` (the default recipe and the
failure rule, numpy only) is importable where torch is not installed (the study's planner)."""
from importlib import import_module

_NAMES = {"AUGMENTS": ".augment", "UnknownAugmentError": ".augment", "TrainConfig": ".loop",
          "TrainResult": ".loop", "evaluate": ".loop", "item_scores": ".loop", "predict_steps": ".loop",
          "train": ".loop"}

__all__ = [*_NAMES, "recipe"]


def __getattr__(name):
    if name in _NAMES:
        return getattr(import_module(_NAMES[name], __name__), name)
    if name == "recipe":
        return import_module(".recipe", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
