"""edgelnn: liquid neural networks and RNN baselines, from training to the edge.

Stages, one subpackage each: data -> models -> train -> export -> runtime -> bench -> report
(plus targets for devices and study for the whole comparison).
"""
__version__ = "0.1.0"


def __getattr__(name):
    """``edgelnn.import_model`` without importing torch for ``import edgelnn`` (devices)."""
    if name == "import_model":
        from .importer import import_model

        return import_model
    raise AttributeError(f"module 'edgelnn' has no attribute {name!r}")
