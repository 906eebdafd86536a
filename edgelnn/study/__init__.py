"""Studies: every model x seed trained, exported, benchmarked and reported in one resumable run
-- the measured answer to the LNN-vs-RNN review (arXiv 2510.07578) on one dataset."""
from .budget import UnitsChoice, units_for_budget
from .config import QUICK_BENCH, StudyConfig, default_config
from .run import StudyResult, load_state, resolve_units, run_study

__all__ = ["QUICK_BENCH", "StudyConfig", "StudyResult", "UnitsChoice", "default_config", "load_state",
           "resolve_units", "run_study", "units_for_budget"]
