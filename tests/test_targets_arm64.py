"""arm64 check: the tiny bundle's golden check inside a Debian bookworm arm64 userland (qemu-user).

First run on a machine: debootstrap + aarch64 wheels, about a minute; then cached under
~/.cache/edgelnn/arm64 and the check itself takes seconds. Needs root (chroot).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "arm64_check.sh"


def test_arm64_golden_check_passes_for_every_artifact(tiny_bundle, tmp_path):
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the arm64 check needs root (chroot)")
        pytest.skip("the arm64 check needs root (chroot)")
    out = subprocess.run(["bash", str(SCRIPT), str(tiny_bundle), "--json", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=900,
                         env={**os.environ, "PYTHON": sys.executable})
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["machine"] == "aarch64" and result["python"].startswith("3.11")
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    assert sorted(a["artifact"] for a in result["artifacts"]) == \
        sorted(a["file"] for a in manifest["artifacts"] if a["format"] != "c")
    # C artifacts compile on the device; this userland has no compiler: listed, not hidden
    assert sorted(s["artifact"] for s in result["skipped"]) == \
        sorted(a["file"] for a in manifest["artifacts"] if a["format"] == "c")
    assert all(a["passed"] for a in result["artifacts"]) and result["passed"]
    assert "no latency" in result["note"]
    assert "PASSED" in out.stdout
