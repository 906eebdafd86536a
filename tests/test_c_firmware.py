"""From C artifact to firmware: dt gaps and the dt range, a header that is enough to call the
model, the example project (host and emulated Cortex-M4), instruction counts per step.

Real components only: the host C compiler, make, arm-none-eabi-gcc and qemu-system-arm
(scripts/test.sh installs them), the edgelnn CLI in a subprocess.
"""
from __future__ import annotations

import ctypes
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from edgelnn import models
from edgelnn.export.c import build
from edgelnn.errors import BundleError
from edgelnn.export.validate import DEFAULT_TOLERANCES
from edgelnn.runtime.c.runner import CRunner

pytestmark = pytest.mark.usefixtures("c_cache")

needs_cross = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or
                                 shutil.which("qemu-system-arm") is None,
                                 reason="scripts/test.sh installs gcc-arm-none-eabi and qemu-system-arm")
IN, OUT = 3, 2
SCHEMES = ("fp32", "int8-weight", "int16-fixed")


class _Calibration:
    """PyTorch rollouts of sequences sampled at a regular dt of 1 with some jitter (what
    CalibrationData feeds): a 100x gap is far outside what calibration saw."""

    def __init__(self, model, seed=7, n=6, steps=50):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, steps, IN)).astype(np.float32)
        dt = rng.uniform(0.8, 1.2, (n, steps)).astype(np.float32)
        self.feeds = []
        with torch.no_grad():
            state = model.initial_state(n)
            for t in range(steps):
                for i in range(n):
                    f = {"x": x[i:i + 1, t], "dt": dt[i:i + 1, t:t + 1]}
                    f.update({k: s[i:i + 1].numpy() for (k, _), s in zip(model.state_spec, state)})
                    self.feeds.append(f)
                _, *state = model.cell(torch.from_numpy(x[:, t]), torch.from_numpy(dt[:, t:t + 1]), *state)

    def step_feeds(self, limit=None):
        return iter(self.feeds[:limit] if limit else self.feeds)


def _artifacts(root: Path, kind: str, units: int = 8):
    torch.manual_seed(0)
    model = models.create(kind, IN, OUT, units=units, seed=0).eval()
    fp32 = root / f"{kind}{units}.step.fp32.c"
    out = {"fp32": (fp32, build.convert(model, "step", fp32, mcu=False))}
    calib = _Calibration(model)
    for scheme in SCHEMES[1:]:
        path = root / f"{kind}{units}.step.{scheme}.c"
        out[scheme] = (path, build.quantize(fp32, scheme, calib, path, mcu=False))
    return model, out


def _runner(path: Path, info: dict, model) -> CRunner:
    entry = {"file": path.name, "format": "c", "graph": "step", "scheme": "x", **info["manifest"]}
    return CRunner(path, entry, [s for _, s in model.state_spec])


@pytest.fixture(scope="module")
def cfc(tmp_path_factory):
    return _artifacts(tmp_path_factory.mktemp("fw"), "cfc")


def test_a_dt_gap_of_100x_the_median_stays_within_each_schemes_tolerance(cfc):
    model, files = cfc
    rng = np.random.default_rng(1)
    x = rng.standard_normal((120, IN)).astype(np.float32)
    dt = rng.uniform(0.8, 1.2, 120).astype(np.float32)
    gap = dt.copy()
    gap[40] = gap[80] = 100.0 * float(np.median(dt))
    with torch.no_grad():
        ref = {k: model(torch.from_numpy(x[None]), torch.from_numpy(d[None])).numpy()[0]
               for k, d in (("plain", dt), ("gap", gap))}
    gap_err = {}
    for scheme in SCHEMES:
        path, info = files[scheme]
        runner = _runner(path, info, model)
        before = runner.dt_saturated
        err = {}
        for k, d in (("plain", dt), ("gap", gap)):
            runner.reset()
            err[k] = float(np.abs(runner.run(x, d) - ref[k]).max())
        assert runner.dt_saturated == before, scheme          # 100x the median is inside the range
        tol = DEFAULT_TOLERANCES[scheme]
        span = float(ref["gap"].max() - ref["gap"].min())
        if tol.max_abs is not None:
            assert err["gap"] <= tol.max_abs, (scheme, err)
        else:
            assert err["gap"] / span <= tol.rel_range, (scheme, err)
        gap_err[scheme] = err["gap"]
    # int16-fixed shares int8-weight's int8 matrices: over a gap its integer dt and ranges add
    # little (before the dt format had headroom it was 25x int8-weight's error here)
    assert gap_err["int16-fixed"] <= 3.0 * gap_err["int8-weight"], gap_err


def test_a_dt_outside_the_range_is_saturated_and_counted(cfc):
    model, files = cfc
    path, info = files["int16-fixed"]
    P = info["manifest"]["c_prefix"].upper()
    header = path.with_suffix(".h").read_text()
    dt_max = float(re.search(rf"#define {P}_DT_MAX (\S+)f", header).group(1))
    frac = int(re.search(rf"#define {P}_DT_FRAC (\d+)", header).group(1))
    assert dt_max == 32767 * 2.0 ** -frac and dt_max >= 16 * 1.2     # >= 16x the largest calibration dt
    runner = _runner(path, info, model)
    x = np.ones(IN, np.float32)
    before = runner.dt_saturated
    runner.reset()
    y_in = runner.step(x, dt_max)
    assert runner.dt_saturated == before                               # the largest dt is represented
    runner.reset()
    y_out = runner.step(x, 10.0 * dt_max)
    assert runner.dt_saturated == before + 1                            # the documented counter
    assert np.array_equal(y_in, y_out)                                  # saturated to DT_MAX
    # the C API itself: the float and the integer entry points return the count
    lib, p = runner._lib, info["manifest"]["c_prefix"]
    state, y = np.zeros(8, np.float32), np.zeros(OUT, np.float32)
    assert runner.raw_step(x.ctypes.data, ctypes.c_float(10.0 * dt_max), state.ctypes.data, y.ctypes.data) == 1
    assert runner.raw_step(x.ctypes.data, ctypes.c_float(1.0), state.ctypes.data, y.ctypes.data) == 0
    step_q = getattr(lib, f"{p}_step_q")
    step_q.argtypes, step_q.restype = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p], ctypes.c_int
    xq, sq, yq = np.zeros(IN, np.int16), np.zeros(8, np.int16), np.zeros(OUT, np.int16)
    args = (xq.ctypes.data, sq.ctypes.data, yq.ctypes.data)
    assert [step_q(args[0], d, args[1], args[2]) for d in (40000, 0, -5, 1, 32767)] == [1, 1, 1, 0, 0]
    # float schemes represent any finite dt > 0: nothing to count
    path, info = files["fp32"]
    fp = _runner(path, info, model)
    assert "DT_MAX 3.40282347e+38f" in path.with_suffix(".h").read_text()
    assert fp.raw_step(x.ctypes.data, ctypes.c_float(1e30), state.ctypes.data, y.ctypes.data) == 0


# -- a bundle exported through the CLI with --package ----------------------------------------------
@pytest.fixture(scope="module")
def packaged(export_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("pkg")
    ckpt = export_checkpoint("cfc", units=8, dataset="basicmotions")
    out = subprocess.run([sys.executable, "-m", "edgelnn", "export", str(ckpt), "--out", str(root / "b"),
                          "--format", "c", "--quant", "fp32", "--quant", "int8-weight", "--quant", "int16-fixed",
                          "--graph", "step", "--package", str(root / "p")],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    return root / "b", root / "p", out.stdout


def test_header_normalisation_equals_the_manifest_and_the_host_helper(packaged):
    from edgelnn.runtime import load_bundle

    bundle_path, _, _ = packaged
    bundle = load_bundle(bundle_path)
    norm = bundle.manifest["normalisation"]
    raw = np.random.default_rng(0).normal(3.0, 5.0, (7, len(norm["mean"]))).astype(np.float32)
    host = bundle.normalise(raw)
    assert np.allclose(host, (raw - np.float32(norm["mean"])) / np.float32(norm["std"]), rtol=0, atol=0)
    with pytest.raises(BundleError, match="class scores"):
        bundle.denormalise(np.zeros((1, 4), np.float32))
    assert len(bundle.artifacts) == 3
    # a C artifact's weight bytes (the report's × fp32 on a host): the generator's stored constants
    weights = {e["scheme"]: e["footprint"]["weight_bytes"] for e in bundle.artifacts}
    assert all(e["footprint"]["weight_bytes"] == e["c"]["stats"]["const_bytes"] for e in bundle.artifacts)
    assert 0 < weights["int8-weight"] < weights["int16-fixed"] < weights["fp32"], weights
    for entry in bundle.artifacts:
        P = entry["c_prefix"].upper()
        header = (bundle_path / entry["extra_files"][0]["file"]).read_text()
        for key in ("mean", "std"):
            values = re.search(rf"#define {P}_NORM_{key.upper()} \{{([^}}]*)\}}", header).group(1)
            assert np.array_equal(np.float32([float(v.rstrip("f")) for v in values.split(",")]),
                                  np.float32(norm[key]))
        labels = re.search(rf"#define {P}_LABELS \{{(.*)\}}", header).group(1)
        assert re.findall(r'"([^"]*)"', labels) == bundle.dataset["label_names"]
        # class scores have no units: no <prefix>_denormalise, and the header says so
        assert f"void {entry['c_prefix']}_denormalise" not in header
        assert f"No {entry['c_prefix']}_denormalise: the outputs are class scores" in header
        # the gate's measured bound is stated; the gap sequences are part of the gate
        parity = entry["parity"]
        assert parity["gaps"]["passed"] and parity["gaps"]["gap_factors"] == [50.0, 100.0]
        stated = float(re.search(rf"#define {P}_MAX_ABS_ERROR (\S+)f", header).group(1))
        assert stated == pytest.approx(max(parity["max_abs"], parity["gaps"]["max_abs"]), rel=1e-3)
        with bundle.open(entry, runtime="c") as runner:          # header sha256 checked on open
            lib = runner._lib
            fn = getattr(lib, f"{entry['c_prefix']}_normalise")
            fn.argtypes, fn.restype = [ctypes.c_void_p, ctypes.c_void_p], None
            for row, want in zip(raw, host):
                got = np.zeros_like(row)
                fn(np.ascontiguousarray(row).ctypes.data, got.ctypes.data)
                assert np.array_equal(got, want)                  # C helper == host helper, bit for bit


def _define(header: str, name: str) -> str | None:
    m = re.search(rf"#define {name} (\S+)", header)
    return m.group(1) if m else None


def test_regression_header_carries_the_target_statistics(export_checkpoint, tmp_path):
    """A regression model predicts the standardised target: its header carries the training
    data's target mean/std (the manifest's) and <prefix>_denormalise, which gives the same bits as
    the host runtime's Bundle.denormalise; the example project (built strictly) prints both, on the
    host and on the emulated Cortex-M4."""
    from edgelnn.export import export_bundle
    from edgelnn.runtime import load_bundle
    from edgelnn.runtime.c.package import write_packages

    export_bundle(export_checkpoint("gru", units=4, dataset="co2"), tmp_path / "b", formats=["c"],
                  schemes=["fp32"], graphs=["step"])
    bundle = load_bundle(tmp_path / "b")
    entry = bundle.artifacts[0]
    P = entry["c_prefix"].upper()
    header = (tmp_path / "b" / entry["extra_files"][0]["file"]).read_text()
    ds = bundle.dataset
    assert (ds["target_mean"], ds["target_std"]) != (0.0, 1.0)
    assert np.float32(_define(header, f"{P}_TARGET_MEAN").rstrip("f")) == np.float32(ds["target_mean"])
    assert np.float32(_define(header, f"{P}_TARGET_STD").rstrip("f")) == np.float32(ds["target_std"])
    assert f"target = y * {P}_TARGET_STD + {P}_TARGET_MEAN" in header
    assert _define(header, f"{P}_NORMALISED") == "1"
    # <prefix>_denormalise (the host build of the C source, -ffp-contract=fast) == Bundle.denormalise
    prefix = entry["c_prefix"]
    assert f"void {prefix}_denormalise(const float *y_norm, float *target);" in header
    golden = bundle.golden()
    n_out = golden.y.shape[-1]
    ys = np.concatenate([golden.y.reshape(-1, n_out)[:64],
                         np.random.default_rng(1).normal(0.0, 3.0, (64, n_out))]).astype(np.float32)
    host = bundle.denormalise(ys)
    want = ys.astype(np.float64) * np.float32(ds["target_std"]) + np.float32(ds["target_mean"])
    assert np.allclose(host, want, rtol=1e-6) and not np.allclose(host, ys)
    # the host runtime's build (-ffp-contract=fast: FMA where the CPU has it) and an ISO C build
    # without contraction (what -std=c99 firmware builds do): both bit for bit
    plain = tmp_path / "plain.so"
    subprocess.run(["cc", "-std=c99", "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-o", str(plain),
                    str(tmp_path / "b" / entry["file"]), "-lm"], check=True, timeout=300)
    with bundle.open(entry, runtime="c") as runner:
        for lib in (runner._lib, ctypes.CDLL(str(plain))):
            fn = getattr(lib, f"{prefix}_denormalise")
            fn.argtypes, fn.restype = [ctypes.c_void_p, ctypes.c_void_p], None
            for row, expect in zip(ys, host):
                got = np.zeros_like(row)
                fn(np.ascontiguousarray(row).ctypes.data, got.ctypes.data)
                assert np.array_equal(got, expect), (lib, row, got, expect)       # bit for bit
    # the example project calls it and still builds with -Wall -Wextra -Werror -pedantic (host)
    if shutil.which("make") and shutil.which("cc"):
        folder, = write_packages(tmp_path / "b", tmp_path / "p")
        assert f"{prefix}_denormalise(y, target)" in (folder / "main.c").read_text()
        assert f"{prefix}_denormalise" in (folder / "README.md").read_text()
        runs = [["make", "-s", "run-host"]]
        # and on the emulated Cortex-M4, where the cross toolchain is installed (scripts/test.sh does)
        if shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"):
            made = subprocess.run(["make", "-s", "m4"], cwd=folder, capture_output=True, text=True, timeout=300)
            assert made.returncode == 0, made.stderr[-2000:]
            runs.append(["make", "-s", "run-m4"])
        for run in runs:
            proc = subprocess.run(run, cwd=folder, capture_output=True, text=True, timeout=300)
            text = proc.stdout + proc.stderr                  # semihosting writes to either
            assert proc.returncode == 0 and "PASS" in text, text[-500:]
            printed = {(int(p[1]), int(p[2])): np.float64(p[3:]) for p in map(str.split, text.splitlines())
                       if p[:1] == ["target"]}
            assert len(printed) == int(golden.lengths.sum()), run
            tol = entry["golden"]["tolerance"] * float(ds["target_std"])       # golden's, in target units
            for (g, t), v in printed.items():
                expect = bundle.denormalise(golden.y[g, t]).astype(np.float64)
                assert np.all(np.abs(v - expect) <= tol + 1e-6 * np.maximum(1.0, np.abs(expect)) + 5e-7), (run, g, t)


def test_an_unnormalised_import_says_it_takes_raw_features(tmp_path):
    """An import trained on raw data (import's default): the header says NORMALISED 0 (no
    identity statistics presented as normalisation), and its regression target is in its own units."""
    import edgelnn
    from edgelnn.export import export_bundle

    sys.path.insert(0, str(Path(__file__).parent))
    from test_userdata import _long_csv

    path, _ = _long_csv(tmp_path / "r.csv", target=True, n=16)
    torch.manual_seed(0)
    model, _ = edgelnn.import_model((torch.nn.GRU(2, 4, batch_first=True), torch.nn.Linear(4, 1)),
                                    data=path, target="speed", out=tmp_path / "r.pt")
    assert model.config["data"]["provenance"]["normalised"] is False
    export_bundle(tmp_path / "r.pt", tmp_path / "b", formats=["c"], schemes=["fp32"], graphs=["step"])
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    entry = manifest["artifacts"][0]
    P = entry["c_prefix"].upper()
    header = (tmp_path / "b" / entry["extra_files"][0]["file"]).read_text()
    assert _define(header, f"{P}_NORMALISED") == "0" and f"{P}_NORM_MEAN" not in header
    assert "(raw features)" in header and "takes raw features" in header
    assert _define(header, f"{P}_TARGET_MEAN") == "0.0f" and _define(header, f"{P}_TARGET_STD") == "1.0f"
    assert "in its own units" in header


def _outputs(text: str) -> dict[tuple[int, int], np.ndarray]:
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["y"]:
            out[(int(parts[1]), int(parts[2]))] = np.float32(parts[3:])
    return out


@needs_cross
def test_example_project_builds_strictly_and_matches_golden_on_the_host_and_the_emulated_m4(packaged):
    """Host and Cortex-M4 for a float scheme; host, M4 and M0+ for int16-fixed. main.c feeds raw
    sensor features through <prefix>_normalise (the pattern users copy)."""
    from edgelnn.runtime import load_bundle

    bundle_path, pkg, stdout = packaged
    assert "example project" in stdout
    bundle = load_bundle(bundle_path)
    golden = bundle.golden()
    norm = bundle.manifest["normalisation"]
    for scheme, cores in (("fp32", ["m4"]), ("int16-fixed", ["m4", "m0plus"])):
        entry = next(a for a in bundle.artifacts if a["scheme"] == scheme)
        folder = pkg / entry["file"][:-2].replace(".", "_")
        for f in ("main.c", "Makefile", "CMakeLists.txt", "README.md", "golden_data.h", "firmware/startup.c",
                  "firmware/mps2-an386.ld", "firmware/microbit.ld", entry["file"]):
            assert (folder / f).is_file(), f
        assert "-Wall -Wextra -Werror -pedantic" in (folder / "Makefile").read_text()
        data = (folder / "golden_data.h").read_text()
        raw = np.float32([float(v.rstrip("f")) for v in
                          re.search(r"golden_raw\[\d+\] = \{([^}]*)\}", data).group(1).split(",")])
        x = np.float32(golden.x).reshape(-1, len(norm["mean"]))
        std, mean = (np.float32(norm[k]).astype(np.float64) for k in ("std", "mean"))   # the header's
        assert np.array_equal(raw.reshape(x.shape), (x * std + mean).astype(np.float32))
        assert not np.allclose(raw.reshape(x.shape), x)             # raw, not the normalised inputs
        assert f"{entry['c_prefix']}_normalise(golden_raw" in (folder / "main.c").read_text()
        made = subprocess.run(["make", "-s", "host", *cores], cwd=folder, capture_output=True, text=True, timeout=300)
        assert made.returncode == 0, made.stderr[-2000:]
        tol = entry["golden"]["tolerance"]
        for run in (["make", "-s", "run-host"], *(["make", "-s", f"run-{c}"] for c in cores)):
            proc = subprocess.run(run, cwd=folder, capture_output=True, text=True, timeout=300)
            text = proc.stdout + proc.stderr                  # semihosting writes to either
            assert proc.returncode == 0 and "PASS" in text, text[-500:]
            ys = _outputs(text)
            assert len(ys) == int(golden.lengths.sum())
            worst = max(float(np.abs(v - golden.y[g, t]).max()) for (g, t), v in ys.items())
            assert worst <= tol + 1e-6, (scheme, run, worst, tol)    # printed with 6 decimals
    # the CMake project builds the same for the Cortex-M0+ (arm-none-eabi toolchain file) and runs
    entry = next(a for a in bundle.artifacts if a["scheme"] == "int16-fixed")
    folder = pkg / entry["file"][:-2].replace(".", "_")
    cmake = ["cmake", "-S", ".", "-B", "build-m0", "-DCMAKE_TOOLCHAIN_FILE=firmware/arm-none-eabi.cmake",
             "-DEDGELNN_CORE=cortex-m0plus"]
    for step in (cmake, ["cmake", "--build", "build-m0"]):
        made = subprocess.run(step, cwd=folder, capture_output=True, text=True, timeout=300)
        assert made.returncode == 0, made.stdout[-1000:] + made.stderr[-1000:]
    elf = folder / "build-m0" / f"{folder.name}-cortex-m0plus.elf"
    proc = subprocess.run(["qemu-system-arm", "-M", "microbit", "-nographic", "-monitor", "none", "-serial", "none",
                           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                          capture_output=True, text=True, timeout=300)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "PASS" in text and len(_outputs(text)) == int(golden.lengths.sum()), text[-500:]


@needs_cross
@pytest.mark.parametrize("core_name,scheme,api,clock", [("cortex-m4", "fp32", "float", 80.0),
                                                        ("cortex-m0plus", "int16-fixed", "integer", 48.0)])
def test_instruction_counts_are_deterministic_and_scale_with_the_model(tmp_path, core_name, scheme, api, clock):
    """Cortex-M4: the float API of fp32 (mps2-an386); Cortex-M0+: the integer API of
    int16-fixed, on qemu's ARMv6-M board (micro:bit) with the M0+ timings."""
    from edgelnn.runtime.c.cycles import step_cost
    from edgelnn.targets import load_profile
    from edgelnn.targets.mcu import core_of

    core = core_of(load_profile(core_name))
    rng = np.random.default_rng(0)
    x, dt = rng.standard_normal((3, IN)).astype(np.float32), np.ones(3, np.float32)
    costs = {}
    for units in (32, 64):
        torch.manual_seed(0)
        model = models.create("gru", IN, OUT, units=units, seed=0).eval()
        path = tmp_path / f"gru{units}.step.fp32.c"
        info = build.convert(model, "step", path, mcu=False)
        if scheme != "fp32":
            path, info = tmp_path / f"gru{units}.step.{scheme}.c", build.quantize(
                path, scheme, _Calibration(model, n=2, steps=20), tmp_path / f"gru{units}.step.{scheme}.c", mcu=False)
        prefix = info["manifest"]["c_prefix"]
        costs[units] = step_cost(path, path.with_suffix(".h"), prefix, core, x, dt, steps=2)
        if units == 32:
            again = step_cost(path, path.with_suffix(".h"), prefix, core, x, dt, steps=2)
            assert (again.instructions, again.cycles) == (costs[32].instructions, costs[32].cycles)
    small, big = costs[32], costs[64]
    assert small.api.startswith(api) and small.core == core_name
    assert 0 < small.instructions < big.instructions
    assert big.cycles >= big.instructions            # no instruction takes less than a cycle
    assert small.clock_mhz == clock and small.us == pytest.approx(small.cycles / clock, abs=0.01)


FAKE_H = """#ifndef {P}_H
#define {P}_H
#define {P}_INPUT_SIZE 2
#define {P}_OUTPUT_SIZE 1
#define {P}_STATE_SIZE 1
void {p}_reset(float *state);
int {p}_step(const float *x, float dt, float *state, float *y);
#endif
"""
FAKE_C = """#include "{p}.h"
void {p}_reset(float *state) {{ state[0] = 0.0f; }}
int {p}_step(const float *x, float dt, float *state, float *y)
{{
    __asm__ volatile (".rept {n}\\n nop\\n .endr");
    y[0] = state[0] = x[0] + dt;
    return 0;
}}
"""


@needs_cross
@pytest.mark.parametrize("core_name", ["cortex-m4", "cortex-m0plus"])
def test_instruction_counts_are_exact(tmp_path, core_name):
    """Two step functions that differ by exactly 100 NOPs differ by exactly 100 instructions and
    100 estimated cycles per step: every executed instruction is counted once, nothing else."""
    from edgelnn.runtime.c.cycles import step_cost
    from edgelnn.targets import load_profile
    from edgelnn.targets.mcu import core_of

    core = core_of(load_profile(core_name))
    costs = []
    for n in (0, 100):
        p = f"fake{n}"
        (tmp_path / f"{p}.h").write_text(FAKE_H.format(p=p, P=p.upper()))
        (tmp_path / f"{p}.c").write_text(FAKE_C.format(p=p, n=n))
        costs.append(step_cost(tmp_path / f"{p}.c", tmp_path / f"{p}.h", p, core, np.ones((3, 2), np.float32),
                               np.ones(3, np.float32), steps=2))
    assert costs[1].instructions - costs[0].instructions == 100
    assert costs[1].cycles - costs[0].cycles == 100              # a NOP is one cycle on both cores


@needs_cross
def test_bench_on_the_emulated_cortex_m0plus(packaged):
    """`bench --target cortex-m0plus`: int16-fixed golden-checked on the emulated ARMv6-M core,
    with instructions and estimated cycles per step of the integer API; float schemes do not apply."""
    from edgelnn.bench import BenchSettings, check_row
    from edgelnn.targets import bench_targets

    bundle_path, _, _ = packaged
    rows = bench_targets(bundle_path, ["cortex-m0plus"], settings=BenchSettings(accuracy=False))
    by = {r["scheme"]: r for r in rows}
    assert by["fp32"]["status"] == by["int8-weight"]["status"] == "not_applicable"
    r = by["int16-fixed"]
    assert r["status"] == "passed" and check_row(r) == [], r.get("error")
    assert r["golden_ok"] and r["golden_max_abs"] <= r["golden_tolerance"]
    assert r["provider"] == "qemu-system-arm -M microbit" and r["target"] == "cortex-m0plus"
    fig = r["footprint"]["mcu"]["cortex-m0plus"]
    cost = fig["step_cost"]
    assert fig["deployed_api"].startswith("integer") and cost["api"].startswith("integer")
    assert 0 < r["mcu_instructions"] == cost["instructions"] <= r["mcu_cycles"] == cost["cycles"]
    assert r["mcu_clock_mhz"] == 48.0 and r["mcu_us"] == pytest.approx(r["mcu_cycles"] / 48.0, abs=0.01)
    assert "M0+" in cost["model"] and set(cost["by_class"]) >= {"load/store", "branch", "multiply"}
    # flash_ratio: fp32 does not suit the M0+ (not applicable), so there is nothing to compare with
    assert r["flash_ratio"] is None and by["fp32"]["flash_ratio"] is None and r["file_ratio"] is not None
    # the CLI's table: the microcontroller's columns, none of the host's (no latency on an emulator)
    out = subprocess.run([sys.executable, "-m", "edgelnn", "bench", str(bundle_path), "--target", "cortex-m0plus",
                          "--no-accuracy", "--artifact", r["artifact"]], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    head = next(ln for ln in out.stdout.splitlines() if "instr/step" in ln)
    assert "est. cycles" in head and "µs @ MHz" in head and "p50" not in head and "peak MB" not in head
    assert f"{r['mcu_instructions']}" in out.stdout and f"{r['mcu_us']:.0f} @ 48" in out.stdout


# -- the report tells the truth about size ------------------------------------------------------------
def test_report_size_truth_aliases_grown_files_and_not_applicable_rows(tmp_path):
    from edgelnn.bench import append_rows
    from edgelnn.report import build_report
    from edgelnn.report.plots import MARKER_KEY

    sys.path.insert(0, str(Path(__file__).parent))
    from test_report import make_row

    sha = "a" * 64
    rows = [make_row(size=20000, sha256="f" * 64),
            make_row(scheme="int8-static", size=7000, p50=40, acc=0.95, sha256=sha),
            make_row(scheme="auto", size=7000, p50=41, acc=0.95, sha256=sha),          # byte-identical
            make_row(scheme="int8-dynamic", size=30000, p50=30, acc=0.95, sha256="b" * 64),   # grew
            make_row(fmt="c", scheme="fp32", size=9000, p50=2.0, acc=0.95, sha256="c" * 64,
                     source_bytes=51236, runtime="c"),
            make_row(scheme="fp32", status="not_applicable", size=20000, target="cortex-m4",
                     error="cortex-m4 runs C artifacts only (export with --format c)")]
    append_rows(tmp_path / "r.jsonl", rows)
    rep = build_report([tmp_path / "r.jsonl"], tmp_path / "rep", sensitivity=False, budget=1.0)
    md = rep.markdown.read_text()
    assert "| onnx step auto = int8-static | onnxruntime | host |" in md                # shown once,
    assert "| onnx step int8-static | onnxruntime | host |" not in md                  # with its alias
    assert "**file grew**" in md and "not applicable to this target" in md
    assert "(source 50.0)" in md                                                    # C: object vs source
    pick = next(r for r in rep.recommendations if r.target == "host" and r.model == "")
    assert pick.row.scheme != "int8-dynamic"                       # a grown file is never picked for size
    assert "D c" in MARKER_KEY


def test_bench_rows_state_each_ratio_and_the_report_reads_them(packaged, tmp_path):
    """A bench row carries file_ratio (the manifest's), weight_ratio (stored weights) and, on a
    microcontroller, flash_ratio, each against the fp32 artifact; no size_ratio of two meanings.
    The report's × fp32 is the row's figure, not recomputed."""
    from edgelnn.bench import append_rows, check_row
    from edgelnn.bench.harness import _Context
    from edgelnn.report import load_results
    from edgelnn.runtime import load_bundle

    bundle = load_bundle(packaged[0])
    ctx = _Context(bundle, "host", True, None)
    rows = [ctx.row(e, "passed", golden_ok=True, golden_max_abs=0.0, golden_tolerance=e["golden"]["tolerance"])
            .to_dict() for e in bundle.artifacts]
    fp32 = next(e for e in bundle.artifacts if e["scheme"] == "fp32")
    for row, entry in zip(rows, bundle.artifacts):
        assert check_row(row) == [] and "size_ratio" not in row
        assert row["file_ratio"] == entry["file_ratio"]
        assert row["weight_ratio"] == round(entry["footprint"]["weight_bytes"] / fp32["footprint"]["weight_bytes"], 4)
        assert row["flash_ratio"] is None                                   # a host row
    by = {r["scheme"]: r for r in rows}
    assert by["fp32"]["weight_ratio"] == 1.0 and 0 < by["int8-weight"]["weight_ratio"] < 0.5
    assert by["int8-weight"]["weight_ratio"] != by["int8-weight"]["file_ratio"]    # C source bytes differ
    # the report reads the row: a stated ratio is shown as stated, a null one is not recomputed
    by["int8-weight"]["weight_ratio"] = 0.3
    by["int16-fixed"]["weight_ratio"] = None
    append_rows(tmp_path / "r.jsonl", rows)
    read = {r.scheme: r for r in load_results([tmp_path / "r.jsonl"])}
    assert read["int8-weight"].size_ratio == 0.3 and read["int16-fixed"].size_ratio is None
    assert read["int8-weight"].file_ratio == by["int8-weight"]["file_ratio"]


def test_report_size_ratio_compares_weights_on_a_host_and_flash_on_an_mcu(tmp_path):
    """Issue 19 item 5: × fp32 is what quantization shrinks (weight bytes on a host, flash on a
    microcontroller), the file ratio beside it; a file that grew is flagged from the file ratio.
    These rows predate weight_ratio/flash_ratio (their size_ratio is the file ratio): still read,
    × fp32 computed from the rows."""
    from edgelnn.bench import append_rows
    from edgelnn.report import build_report

    sys.path.insert(0, str(Path(__file__).parent))
    from test_report import make_row

    def fp(weights, size):
        return {"weight_elements": None, "weight_bytes": weights, "state_bytes": None, "macs_per_step": None,
                "elementwise_per_step": None, "file_bytes": size, "structure_bytes": None, "weights_by_dtype": {}}

    # the LTC-24 japanesevowels ONNX figures: int8 file 61,438 B vs 35,563 B, weights 7,837 vs 18,100 B
    rows = [make_row(bundle="ltc", model="ltc", size=35563, size_ratio=1.0, footprint=fp(18100, 35563)),
            make_row(bundle="ltc", model="ltc", scheme="int8-static", size=61438, size_ratio=61438 / 35563,
                     footprint=fp(7837, 61438)),
            make_row(bundle="ltc", model="ltc", fmt="c", scheme="fp32", target="cortex-m4", size=12000,
                     flash_bytes=12000, size_ratio=1.0, footprint=fp(9000, 51000), runtime="c"),
            make_row(bundle="ltc", model="ltc", fmt="c", scheme="int8-weight", target="cortex-m4", size=5000,
                     flash_bytes=5000, size_ratio=0.5, footprint=fp(2500, 25500), runtime="c")]
    append_rows(tmp_path / "r.jsonl", rows)
    rep = build_report([tmp_path / "r.jsonl"], tmp_path / "rep", sensitivity=False, budget=100.0)
    by = {(r.target, r.scheme): r for r in rep.rows}
    assert by[("host", "int8-static")].size_ratio == pytest.approx(7837 / 18100)
    assert by[("host", "int8-static")].file_ratio == pytest.approx(61438 / 35563)
    assert by[("cortex-m4", "int8-weight")].size_ratio == pytest.approx(5000 / 12000)   # flash, not weights
    md = rep.markdown.read_text()
    line = next(ln for ln in md.splitlines() if "| onnx step int8-static |" in ln and "| 0.43 |" in ln)
    assert "| 0.43 | 1.73 |" in line and "**file grew**" in line                 # results table
    line = next(ln for ln in md.splitlines() if "| c step int8-weight |" in ln and "| passed |" in ln)
    assert "| 0.42 | 0.50 |" in line and "file grew" not in line
    # a results file of record (bench rows before the rename): size_ratio read as the file ratio
    from edgelnn.report import load_results

    stored = Path(__file__).parent.parent / "benchmarks" / "results" / "gpu-h200.jsonl"
    old = [json.loads(ln) for ln in stored.read_text().splitlines() if ln.strip()]
    read = load_results([stored])
    assert [r.file_ratio for r in read] == [o["size_ratio"] for o in old]
    assert any(r.file_grew for r in read) and all("file_ratio" not in r.raw for r in read)
    assert "*file × fp32* compares the files" in md
