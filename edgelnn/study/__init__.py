"""Studies: liquid networks vs RNNs at matched parameter budgets, equally tuned, over datasets,
seeds and training arms -- trained on Dask (a local cluster or any scheduler), resumable, with
the chosen points exported and benchmarked, and a report whose verdicts survive a careful read."""
from .budget import UnitsChoice, fit_budget, units_for_budget
from .design import StudyDesign, default_design, quick_design
from .engine import Status, StudyResult, run_study
from .state import StudyStateError

__all__ = ["Status", "StudyDesign", "StudyResult", "StudyStateError", "UnitsChoice", "default_design",
           "fit_budget", "quick_design", "run_study", "units_for_budget"]
