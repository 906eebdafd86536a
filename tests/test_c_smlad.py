"""Scheme int16x8-dynamic: int8 weights, each dense product's input quantized to int16 per call,
int32 sums (SMLAD on Cortex-M4). Its parity gate (plain and dt-gap rollouts) for cfc/lstm/gru,
the emulated Cortex-M4 against the host, the SMLAD sums against the portable C sums bit for bit.

Every kind x scheme parity over 150 irregular steps and the strict gcc/clang compile run in
tests/test_c_backend.py (its schemes are every C scheme). Real components only: the host C
compiler, arm-none-eabi-gcc and qemu-system-arm (scripts/test.sh installs them).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgelnn.export.validate import DEFAULT_TOLERANCES

pytestmark = pytest.mark.usefixtures("c_cache")

needs_cross = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or
                                 shutil.which("qemu-system-arm") is None,
                                 reason="scripts/test.sh installs gcc-arm-none-eabi and qemu-system-arm")
SCHEME = "int16x8-dynamic"
KINDS = ("cfc", "lstm", "gru")


@pytest.fixture(scope="module")
def m4(tmp_path_factory, export_checkpoint):
    """name -> bundle exported for the Cortex-M4 (fp32, int8-weight, int16x8-dynamic): each kind at 8
    units, CfC at 16 (its product over cat(x, h) has 22 inputs, padded to 24: the SMLAD loop's
    8-input tail and one 16-input pass in the same call; the 8-unit models take one or the other),
    GRU at 7 (21 rows: 5 blocks of 4, then a partial block of 1, in the same call), and CfC-NCP at 8
    (its layers of 1-3 neurons: every block partial)."""
    from edgelnn.export import export_bundle

    root = tmp_path_factory.mktemp("smlad")
    out = {}
    for kind, units in [(k, 8) for k in KINDS] + [("cfc", 16), ("gru", 7), ("cfc-ncp", 8)]:
        name = kind if units == 8 and kind in KINDS else f"{kind}{units}"
        path = root / name
        export_bundle(export_checkpoint(kind, units=units), path, target="cortex-m4",
                      schemes=["int8-weight", SCHEME])
        out[name] = path
    return out


def _entry(path: Path, scheme: str = SCHEME) -> dict:
    manifest = json.loads((path / "manifest.json").read_text())
    return next(a for a in manifest["artifacts"] if a["scheme"] == scheme)


def test_the_scheme_is_offered_for_c_and_exported_only_when_named():
    from edgelnn.export.formats import resolve
    from edgelnn.export.c.q15 import qmax_for

    assert SCHEME not in resolve(["c"], None)[1]
    assert resolve(["c"], [SCHEME])[1] == [SCHEME]
    assert DEFAULT_TOLERANCES[SCHEME] == DEFAULT_TOLERANCES["int8-weight"]
    # every partial int32 sum stays below 2**31 however long the product
    for k in (8, 512, 520, 4096):
        assert qmax_for(k) * 127 * k < 2 ** 31 and (qmax_for(k) == 32767) == (k <= 516)


@needs_cross
def test_parity_gate_with_dt_gaps_passes_for_cfc_lstm_gru(m4):
    for kind, path in m4.items():
        e = _entry(path)
        par = e["parity"]
        assert par["passed"] and par["tolerance"] == DEFAULT_TOLERANCES[SCHEME].to_dict(), (kind, par)
        assert par["gaps"]["passed"] and 100 in [round(g) for g in par["gaps"]["gap_factors"]], par["gaps"]
        # the int16 inputs cost next to nothing beyond the int8 weights
        assert par["max_abs"] <= 2 * _entry(path, "int8-weight")["parity"]["max_abs"] + 1e-4, kind
        c = (path / e["file"]).read_text()
        assert "_mv_q15(" in c and "smlad" in c
        # the input and recurrent products run as one pass: summed (LSTM: y = W1 x + b1; y += W2 h + b2)
        # or into two outputs (GRU); CfC has no such pair
        assert ("_mv2_q15(" in c) == (not kind.startswith("cfc")), kind


@needs_cross
def test_emulated_cortex_m4_runs_smlad_and_matches_the_host(m4, tmp_path):
    """Golden replay on mps2-an386: SMLAD build == the same file with the portable C sums, bit for
    bit; both within fp32's bound of the host build; fewer est. cycles than int8-weight."""
    from edgelnn.bench import BenchSettings
    from edgelnn.runtime.bundle import load_bundle
    from edgelnn.runtime.c import mcu
    from edgelnn.targets import bench_targets, load_profile
    from edgelnn.targets.mcu import core_of

    core = core_of(load_profile("cortex-m4"))
    for kind, path in m4.items():
        e = _entry(path)
        bundle = load_bundle(path)
        golden = bundle.golden()
        n = min(3, len(golden.lengths))
        x, dt, lengths = golden.x[:n], golden.dt[:n], golden.lengths[:n]
        c, prefix = path / e["file"], e["c_prefix"]
        y, _ = mcu.golden_on_emulator(c, c.with_suffix(".h"), prefix, core, x, dt, lengths)
        portable = tmp_path / kind / c.name
        portable.parent.mkdir()
        portable.write_text(f"#define {prefix.upper()}_SMLAD 0\n" + c.read_text())
        shutil.copyfile(c.with_suffix(".h"), portable.with_suffix(".h"))
        y0, _ = mcu.golden_on_emulator(portable, portable.with_suffix(".h"), prefix, core, x, dt, lengths)
        host = bundle.open(e).run_each(x, dt, lengths)
        for g, t in enumerate(lengths):
            assert np.array_equal(y[g, :t], y0[g, :t]), kind            # SMLAD sums == C sums
            # the host build contracts a * b + c into FMAs (-ffp-contract=fast -march=native), the M4
            # build does not: float rounding apart (measured 1.8e-5 on cfc), within fp32's bound
            assert np.abs(y[g, :t] - host[g, :t]).max() <= DEFAULT_TOLERANCES["fp32"].max_abs, kind
        obj = tmp_path / kind / "m4.o"
        subprocess.run(["arm-none-eabi-gcc", *core.cflags, "-Os", "-c", str(c), "-o", str(obj)], check=True,
                       cwd=c.parent)
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True).stdout
        assert "smlad" in dis and "sxtb16" in dis
        rows = bench_targets(path, ["cortex-m4"], settings=BenchSettings(max_eval_sequences=2, accuracy=False))
        by = {r["scheme"]: r for r in rows if r["format"] == "c"}
        assert by[SCHEME]["status"] == "passed" and by[SCHEME]["golden_ok"], by[SCHEME].get("error")
        assert by[SCHEME]["mcu_cycles"] < by["int8-weight"]["mcu_cycles"], kind


@needs_cross
def test_many_streams_in_one_call_equal_each_stream_alone(m4):
    """<p>_step_batch runs the integer products stream by stream (own quantization scale each)."""
    from edgelnn.runtime.bundle import load_bundle

    rng = np.random.default_rng(3)
    for kind, path in m4.items():
        r = load_bundle(path).open(_entry(path))
        n = 5
        feeds = [rng.standard_normal((n, r.input_size)).astype(np.float32),
                 rng.uniform(0.2, 3.0, (n, 1)).astype(np.float32),
                 *[rng.uniform(-0.5, 0.5, (n, s)).astype(np.float32) for s in r.state_sizes]]
        together = r.invoke_batch(feeds)
        for i in range(n):
            alone = r.invoke([f[i:i + 1] for f in feeds])
            for a, b in zip(together, alone):
                assert np.abs(a[i] - np.asarray(b).reshape(-1)).max() <= 1e-6, kind
