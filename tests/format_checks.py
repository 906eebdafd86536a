"""Every artifact in a bundle passes its format's own checker (issue 20): onnx.checker with
full_check and strict shape inference, LiteRT's analyzer with builtin ops only, the strict C
compile under gcc and clang. Called from the export sweeps (no export of its own)."""
from __future__ import annotations

import json
from pathlib import Path


def assert_artifacts_valid(bundle: Path) -> int:
    """Run the checker on every shipped artifact; returns how many were checked."""
    from edgelnn.export.checks import check_format

    manifest = json.loads((Path(bundle) / "manifest.json").read_text())
    for a in manifest["artifacts"]:
        assert a.get("checked"), f"{a['file']}: the gate recorded no format check"
        check_format(a["format"], Path(bundle) / a["file"])     # raises FormatCheckError
        if a["format"] == "onnx":
            assert a["parity"]["reference_evaluator"]["steps"] > 0, a["file"]
    return len(manifest["artifacts"])
