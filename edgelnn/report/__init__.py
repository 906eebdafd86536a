"""Reports: result rows -> markdown, self-contained HTML, CSV and plots; the recommendation
rule; per-layer quantization sensitivity; the review's claims checked against a study.

Torch-free (numpy, matplotlib, onnx/onnxruntime and LiteRT for the sensitivity analysis).
"""
from .build import ReportFiles, build_report
from .claims import Claim, check_claims
from .mcu import McuFigures, mcu_figures
from .recommend import RULE, Recommendation, recommend
from .rows import ResultsError, Row, load_results
from .sensitivity import Sensitivity, analyse
from .summary import ModelSummary, summarize

__all__ = ["Claim", "McuFigures", "ModelSummary", "RULE", "Recommendation", "ReportFiles", "ResultsError", "Row",
           "Sensitivity", "analyse", "build_report", "check_claims", "load_results", "mcu_figures", "recommend",
           "summarize"]
