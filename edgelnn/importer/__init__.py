"""The import stage: a recurrent model trained elsewhere (ncps, torch.nn, the zoo) -> an edgelnn
checkpoint that carries its data, after a check against the user's own module.

    edgelnn import path/to/file.py:function --data sensors.csv --label activity --out my.pt
    edgelnn.import_model(module_or_(rnn, head), data="sensors.csv", task="classification", out="my.pt")
"""
from .api import ImportResult, import_model, load_factory
from .describe import SUPPORTED, UnsupportedModuleError
from .verify import TOLERANCE, ImportMismatchError

__all__ = ["ImportMismatchError", "ImportResult", "SUPPORTED", "TOLERANCE", "UnsupportedModuleError",
           "import_model", "load_factory"]
