"""The C backend: generated C99 checked against PyTorch, strict compiles with gcc and clang,
the golden check on an emulated Cortex-M4, microcontroller figures, the c runtime's checks,
and one-line errors for missing compilers and ops the generator cannot lower.

Real components only: the system C compilers, arm-none-eabi-gcc and qemu-system-arm (installed
by scripts/test.sh), PATH without a compiler for the missing-tool cases.
"""
from __future__ import annotations

import json
import os
import platform
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
from edgelnn.export.c.schemes import SCHEMES
from edgelnn.export.validate import DEFAULT_TOLERANCES
from edgelnn.runtime.c.runner import CRunner
from edgelnn.schema import mcu_of
from format_checks import assert_artifacts_valid

pytestmark = pytest.mark.usefixtures("c_cache")   # compiled libraries in a test folder

KINDS = list(models.MODELS)           # every kind of the zoo, including ones added later
C_SCHEMES = list(SCHEMES)
STEPS, IN, OUT, UNITS = 150, 3, 2, 8

needs_cross = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or
                                 shutil.which("qemu-system-arm") is None,
                                 reason="scripts/test.sh installs gcc-arm-none-eabi and qemu-system-arm")




def irregular(seed: int, n: int = 1, steps: int = STEPS):
    """Normalised features and irregular elapsed times (0.2 .. 3)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, steps, IN)).astype(np.float32)
    dt = rng.uniform(0.2, 3.0, (n, steps)).astype(np.float32)
    return x, dt


class _Calibration:
    """Whole PyTorch rollouts of irregular sequences: what CalibrationData feeds, in memory."""

    def __init__(self, model, seed=7):
        x, dt = irregular(seed, n=6, steps=60)
        self.feeds = []
        with torch.no_grad():
            state = model.initial_state(6)
            for t in range(x.shape[1]):
                for i in range(6):
                    f = {"x": x[i:i + 1, t], "dt": dt[i:i + 1, t:t + 1]}
                    f.update({n: s[i:i + 1].numpy() for (n, _), s in zip(model.state_spec, state)})
                    self.feeds.append(f)
                _, *state = model.cell(torch.from_numpy(x[:, t]), torch.from_numpy(dt[:, t:t + 1]), *state)

    def step_feeds(self, limit=None):
        return iter(self.feeds[:limit] if limit else self.feeds)


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """kind -> (model, {scheme: (c file, manifest entry)}), every scheme of every kind, built once."""
    root = tmp_path_factory.mktemp("c-gen")
    cache: dict = {}

    def get(kind: str):
        if kind not in cache:
            torch.manual_seed(0)
            model = models.create(kind, IN, OUT, units=UNITS, seed=0).eval()
            files = {}
            fp32 = root / f"{kind}.step.fp32.c"
            info = build.convert(model, "step", fp32, mcu=False)
            files["fp32"] = (fp32, info)
            calib = _Calibration(model)
            for scheme in C_SCHEMES[1:]:
                path = root / f"{kind}.step.{scheme}.c"
                files[scheme] = (path, build.quantize(fp32, scheme, calib, path, mcu=False))
            cache[kind] = (model, files)
        return cache[kind]
    return get


def runner_of(path: Path, info: dict, model) -> CRunner:
    entry = {"file": path.name, "format": "c", "graph": "step", "scheme": "x", **info["manifest"]}
    return CRunner(path, entry, [s for _, s in model.state_spec])


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_and_scheme_matches_pytorch_over_150_irregular_steps(generated, kind):
    model, files = generated(kind)
    x, dt = irregular(1)
    with torch.no_grad():
        ref = model(torch.from_numpy(x), torch.from_numpy(dt))[0].numpy()
    span = float(ref.max() - ref.min())
    for scheme, (path, info) in files.items():
        r = runner_of(path, info, model)
        y = r.run(x[0], dt[0])
        r.reset()
        stepped = np.stack([r.step(x[0, t], float(dt[0, t])) for t in range(STEPS)])
        assert np.array_equal(stepped, y), f"{kind} {scheme}: step and run differ"
        err = float(np.abs(y - ref).max())
        tol = DEFAULT_TOLERANCES[scheme]
        if tol.max_abs is not None:
            assert err <= tol.max_abs, f"{kind} {scheme}: max error {err:.3g} > {tol.max_abs}"
        if tol.rel_range is not None:
            assert err / span <= tol.rel_range, f"{kind} {scheme}: {err / span:.3g} of the output range"
        assert y.shape == (STEPS, OUT) and np.isfinite(y).all()


def test_weights_are_stored_for_active_synapses_only(generated):
    """A wiring mask's zeros are never stored: flash scales with the active parameters."""
    for kind in ("ltc-ncp", "cfc-ncp"):
        model, files = generated(kind)
        masked = 0
        for mod in model.modules():
            params = getattr(mod, "_params", None)
            if isinstance(params, dict) and "sparsity_mask" in params:     # LTC: 4 tensors per synapse
                masked += 4 * int((params["sparsity_mask"] == 0).sum())
                masked += 4 * int((params["sensory_sparsity_mask"] == 0).sum())
            mask = getattr(mod, "sparsity_mask", None)
            if isinstance(mask, torch.Tensor) and hasattr(mod, "ff1"):      # wired CfC: ff1 and ff2
                masked += 2 * int((mask == 0).sum())
        active = model.param_count() - masked
        assert masked > 0
        for scheme in ("fp32", "int8-weight"):
            stats = files[scheme][1]["manifest"]["c"]["stats"]
            assert stats["sparse_kernels"] > 0
            assert stats["weights_stored"] <= active, (kind, scheme, stats, active)


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_strict_c99_with_gcc_and_clang(generated, compiler):
    if shutil.which(compiler) is None:
        pytest.fail(f"{compiler} is missing: scripts/test.sh installs it")
    for kind in ("ltc", "lstm", "cfc-ncp"):
        _, files = generated(kind)
        for scheme, (path, _) in files.items():
            build.strict_compile(path, [[compiler]])
            text = path.read_text()
            assert "malloc(" not in text and "<stdlib.h>" not in text
            # no mutable globals: every file-scope object is static const
            for line in text.splitlines():
                if re.match(r"^(static\s+)?(float|int|int8_t|int16_t|int32_t|unsigned)\b[^(]*[=;]", line):
                    assert line.startswith("static const"), line


def test_host_and_microcontroller_loop_forms_give_identical_bits(generated, tmp_path, monkeypatch):
    """Flat sparse chunks and register blocks (host) vs row-by-row loops (Cortex-M): same terms,
    same order in the source, so with source-order arithmetic the outputs are bit-identical."""
    from edgelnn.export.c.emit import FloatEmitter

    cases = []
    for kind in ("ltc-ncp", "cfc-ncp"):         # 48 units: sparse rows long enough for index lists
        torch.manual_seed(0)
        model = models.create(kind, IN, OUT, units=48, seed=0).eval()
        path = tmp_path / f"{kind}48.step.fp32.c"
        cases.append((kind, path, build.convert(model, "step", path, mcu=False)))
    # many flat chunks per kernel (a model with more active entries than FLAT_CHUNK): the chunk
    # boundaries must fall between rows and keep every row's terms in order
    monkeypatch.setattr(FloatEmitter, "FLAT_CHUNK", 40)
    torch.manual_seed(0)
    model = models.create("ltc-ncp", IN, OUT, units=48, seed=0).eval()
    path = tmp_path / "ltc48chunks.step.fp32.c"
    cases.append(("ltc-ncp", path, build.convert(model, "step", path, mcu=False)))
    chunks = re.search(r"f_starts\[(\d+)\]", path.read_text())
    assert chunks and int(chunks.group(1)) > 3, "expected several flat chunks"
    monkeypatch.undo()
    # one input channel (italypowerdemand): the sensory synapses' reduced axis has length 1, so
    # each row holds 0 or 1 active entries -- the row-by-row form once ignored which (the study
    # found it: wrong outputs on the microcontroller, caught only by -Werror's unused constant)
    torch.manual_seed(0)
    ltc1 = models.create("ltc-ncp", 1, OUT, units=17, seed=0).eval()
    path = tmp_path / "ltc1in.step.fp32.c"
    cases.append(("ltc-ncp", path, build.convert(ltc1, "step", path, mcu=False)))
    cases.append(("gru", *generated("gru")[1]["fp32"]))
    for kind, path, info in cases:
        text = path.read_text()
        assert ("_FLAT_LOOPS" in text) if kind == "ltc-ncp" else ("_MV_BLOCK" in text), kind
        p = info["manifest"]["c_prefix"]
        P = p.upper()
        main = tmp_path / f"{path.stem}_main.c"
        main.write_text(f"""#include <stdio.h>
#include <string.h>
#include "{path.with_suffix('.h').name}"
int main(void) {{
    static float x[40 * {P}_INPUT_SIZE], dt[40], s[{P}_STATE_SIZE], y[40 * {P}_OUTPUT_SIZE];
    int i; unsigned h = 0;
    for (i = 0; i < 40 * {P}_INPUT_SIZE; i++) x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    for (i = 0; i < 40; i++) dt[i] = 0.25f + (float)(i % 7) * 0.4f;
    {p}_reset(s);
    {p}_run(x, dt, 40, s, y);
    for (i = 0; i < 40 * {P}_OUTPUT_SIZE; i++) {{ unsigned u; memcpy(&u, &y[i], 4); h = h * 31u + u; }}
    printf("%08x\\n", h);
    return 0;
}}
""")
        outs = []
        for defs in ([], [f"-D{P}_FLAT_LOOPS=0", f"-D{P}_MV_BLOCK=8"]):
            exe = tmp_path / f"{path.stem}{len(defs)}"
            subprocess.run(["gcc", "-std=c99", "-O2", *defs, "-I", str(path.parent), str(main), str(path),
                            "-o", str(exe), "-lm"], check=True, capture_output=True)
            strict = subprocess.run(["gcc", *build.STRICT, "-O2", *defs, "-c", str(path), "-o", str(exe) + ".o"],
                                    capture_output=True, text=True)
            assert strict.returncode == 0, (kind, defs, strict.stderr[-500:])
            outs.append(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout)
        assert outs[0] == outs[1], kind


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


def test_int8_weight_host_kernels_agree_and_a_batch_equals_alone(tmp_path):
    """int8-weight dense products on x86-64 (hostsimd): the portable kernel, the AVX2 one and,
    where the CPU has it, the AVX-512 one agree to fp32 rounding; in the SIMD builds a stream
    stepped in a batch of 13 (a group of 8, then 5 alone) gives the very bits it gives alone.
    21 LSTM units: 84 gate rows (passes of 64, 16 and a partial 8), 4 inputs, 2 outputs."""
    from edgelnn.runtime.c.toolchain import HOST_FLAGS

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the x86-64 host kernels")
    torch.manual_seed(0)
    model = models.create("lstm", IN, OUT, units=21, seed=0).eval()
    fp32 = tmp_path / "lstm21.step.fp32.c"
    build.convert(model, "step", fp32, mcu=False)
    path = tmp_path / "lstm21.step.int8-weight.c"
    p = build.quantize(fp32, "int8-weight", _Calibration(model), path, mcu=False)["manifest"]["c_prefix"]
    P = p.upper()
    assert f"{P}_I8_AVX2" in path.read_text()
    main = tmp_path / "main.c"
    main.write_text(f"""#include <stdio.h>
#include <string.h>
#include "{path.with_suffix('.h').name}"
#define NS 13
#define T 6
static float x[T][NS * {P}_INPUT_SIZE], dt[T][NS], sb[NS * {P}_STATE_SIZE], s1[NS * {P}_STATE_SIZE];
static float yb[T][NS * {P}_OUTPUT_SIZE], y1[T][NS * {P}_OUTPUT_SIZE];
int main(void) {{
    int t, q, i;
    double d = 0.0;
    for (t = 0; t < T; t++) {{
        for (i = 0; i < NS * {P}_INPUT_SIZE; i++) x[t][i] = (float)(((i + 31 * t) * 7919) % 1000) / 500.0f - 1.0f;
        for (q = 0; q < NS; q++) dt[t][q] = 0.25f + (float)((q + t) % 7) * 0.4f;
    }}
    for (q = 0; q < NS; q++) {{ {p}_reset(sb + q * {P}_STATE_SIZE); {p}_reset(s1 + q * {P}_STATE_SIZE); }}
    for (t = 0; t < T; t++) {{
        {p}_step_batch(NS, x[t], dt[t], sb, yb[t]);
        for (q = 0; q < NS; q++)
            {p}_step(x[t] + q * {P}_INPUT_SIZE, dt[t][q], s1 + q * {P}_STATE_SIZE, y1[t] + q * {P}_OUTPUT_SIZE);
    }}
    for (t = 0; t < T; t++)
        for (i = 0; i < NS * {P}_OUTPUT_SIZE; i++) d = yb[t][i] - y1[t][i] > d ? yb[t][i] - y1[t][i] : y1[t][i] - yb[t][i] > d ? y1[t][i] - yb[t][i] : d;
    printf("%d %.9g", memcmp(yb, y1, sizeof yb) != 0 || memcmp(sb, s1, sizeof sb) != 0, d);
    for (t = 0; t < T; t++) for (i = 0; i < NS * {P}_OUTPUT_SIZE; i++) printf(" %.9g", y1[t][i]);
    printf("\\n");
    return 0;
}}
""")
    flags = _cpu_flags()
    builds = {"portable": ["-march=native", f"-D{P}_I8_AVX2=0"]}
    if {"avx2", "fma"} <= flags:
        builds["avx2"] = ["-mavx2", "-mfma"]
    if {"avx2", "fma", "avx512f"} <= flags:
        builds["avx512"] = ["-mavx2", "-mfma", "-mavx512f"]
    cflags = [f for f in HOST_FLAGS if f not in ("-fPIC", "-shared")]
    outs = {}
    for name, extra in builds.items():
        exe = tmp_path / name
        subprocess.run(["gcc", *cflags, *extra, "-I", str(tmp_path), str(main), str(path), "-o", str(exe), "-lm"],
                       check=True, capture_output=True)
        macros = subprocess.run(["gcc", *cflags, *extra, "-dM", "-E", str(path)], check=True,
                                capture_output=True, text=True).stdout.splitlines()
        path_of = (f"#define {P}_I8_AVX2 1" in macros, "#define __AVX512F__ 1" in macros)
        assert path_of == {"portable": (False, path_of[1]), "avx2": (True, False), "avx512": (True, True)}[name]
        differ, d, *ys = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
        if name == "portable":
            assert float(d) <= 1e-6, d             # the plain kernels: reassociated sums may differ
        else:
            assert differ == "0", (name, d)        # the same FMA chain per output, whatever the batch
        outs[name] = np.array(ys, np.float64)
    assert len(outs) > 1 or not {"avx2", "fma"} <= flags
    for name, y in outs.items():
        assert np.isfinite(y).all() and np.abs(y).max() > 1e-3
        np.testing.assert_allclose(y, outs["portable"], rtol=1e-5, atol=1e-6, err_msg=name)


def test_public_symbols_are_prefixed_and_internals_static(generated):
    _, files = generated("gru")
    for scheme, (path, info) in files.items():
        prefix = info["manifest"]["c_prefix"]
        out = subprocess.run(["gcc", "-std=c99", "-O1", "-c", str(path), "-o", str(path.with_suffix(".o"))],
                             capture_output=True, text=True, cwd=path.parent)
        assert out.returncode == 0, out.stderr
        syms = subprocess.run(["nm", "-g", "--defined-only", str(path.with_suffix(".o"))],
                              capture_output=True, text=True).stdout.split()[2::3]
        assert syms and all(s.startswith(prefix + "_") for s in syms), syms
        header = path.with_suffix(".h").read_text()
        P = prefix.upper()
        for macro in ("INPUT_SIZE", "OUTPUT_SIZE", "STATE_SIZE"):
            assert f"#define {P}_{macro}" in header
        assert f"void {prefix}_reset(float *state);" in header
        assert f"void {prefix}_normalise(const float *raw, float *x);" in header
        for fn in ("step(const float *x, float dt, float *state, float *y)",     # returns the
                   "run(const float *x, const float *dt, int n, float *state, float *y)"):  # dt count
            assert f"int {prefix}_{fn};" in header


def test_c_runtime_checks_inputs_in_c_and_keeps_the_state(generated):
    model, files = generated("cfc")
    path, info = files["fp32"]
    r = runner_of(path, info, model)
    r.step(np.ones(IN, np.float32), 1.0)
    before = r.state
    with pytest.raises(ValueError, match="NaN or inf"):
        r.step(np.array([0.0, np.nan, 1.0], np.float32), 1.0)
    with pytest.raises(ValueError, match="dt must be finite and > 0"):
        r.step(np.ones(IN, np.float32), 0.0)
    with pytest.raises(ValueError, match="dt must be finite and > 0"):
        r.step(np.ones(IN, np.float32), float("inf"))
    with pytest.raises(ValueError, match=f"{IN} values"):
        r.step(np.ones(IN + 1, np.float32), 1.0)
    with pytest.raises(ValueError, match="NaN or inf"):
        r.run(np.full((4, IN), np.inf, np.float32), np.ones(4, np.float32))
    assert all(np.array_equal(a, b) for a, b in zip(before, r.state))
    # every accepted form of x gives the same answer
    r.reset()
    a = r.step(np.ones(IN, np.float32), 1.0)
    r.reset()
    b = r.step(np.ones((1, IN)), np.float64(1.0))
    r.reset()
    c = r.step([1.0] * IN, np.array([1.0]))
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_tampered_header_is_refused(generated, tmp_path):
    from edgelnn.errors import BundleError
    from edgelnn.runtime.integrity import sha256_file

    model, files = generated("rnn")
    path, info = files["fp32"]
    work = tmp_path / "b"
    work.mkdir()
    shutil.copy(path, work / path.name)
    shutil.copy(path.with_suffix(".h"), work / path.with_suffix(".h").name)
    entry = {"file": path.name, "format": "c", "graph": "step", "scheme": "fp32", **info["manifest"]}
    header = work / path.with_suffix(".h").name
    assert entry["extra_files"][0]["sha256"] == sha256_file(header)
    header.write_text(header.read_text().replace("_STATE_SIZE 8", "_STATE_SIZE 9"))
    with pytest.raises(BundleError, match="was modified"):
        CRunner(work / path.name, entry, [UNITS])


def test_a_bundle_of_the_older_void_api_says_re_export(generated, tmp_path):
    """A C artifact exported before step/run returned the saturated-dt count (its header declares
    them void) gets one line that says to re-export, not the compiler's "void value not ignored"."""
    from edgelnn.errors import BundleError
    from edgelnn.runtime.integrity import sha256_file

    model, files = generated("rnn")
    path, info = files["fp32"]
    work = tmp_path / "b"
    work.mkdir()
    src, header = work / path.name, work / path.with_suffix(".h").name
    shutil.copy(path, src)
    shutil.copy(path.with_suffix(".h"), header)
    prefix = info["manifest"]["c_prefix"]
    old = re.sub(rf"\bint(\s+{prefix}_(step|run)\s*\()", r"void\1", header.read_text())
    assert old != header.read_text()
    header.write_text(old)
    entry = {"file": path.name, "format": "c", "graph": "step", "scheme": "fp32", **info["manifest"]}
    entry["extra_files"] = [{**entry["extra_files"][0], "sha256": sha256_file(header)}]
    with pytest.raises(BundleError, match=r"older edgelnn: its C API returns void .* re-export the bundle"):
        CRunner(src, entry, [UNITS])


def test_math_approximation_errors_are_what_the_header_states():
    from edgelnn.export.c import cmath

    t, s = cmath.measure_errors(step=509)          # ~4M floats of [-20, 20]
    assert t <= cmath.TANH_MAX_ABS_ERROR and s <= cmath.SIGMOID_MAX_ABS_ERROR
    assert t > cmath.TANH_MAX_ABS_ERROR / 20       # the stated figure is a measurement, not a guess


def test_unsupported_op_is_named(tmp_path):
    """A kind whose step graph has an op the registry lacks -> `unsupported` with the op's name."""
    from torch import nn

    from edgelnn.export import export_bundle
    from edgelnn.models.cells import StepCell
    from edgelnn.models.registry import MODELS, ModelKind

    class SinCell(StepCell):
        def __init__(self, input_size, output_size, units):
            super().__init__()
            self.lin = nn.Linear(input_size + units, units)
            self.head = nn.Linear(units, output_size)
            self.state_spec = [("h", units)]

        def forward(self, x, dt, h):
            h = torch.sin(self.lin(torch.cat([x, h], 1))) * dt
            return self.head(h), h

    MODELS["sin-test"] = ModelKind("sin-test", SinCell, "rnn", "test only")
    try:
        from edgelnn import data

        ds = data.load("italypowerdemand")
        m = models.create("sin-test", ds.input_size, ds.output_size, units=4, task=ds.task,
                          label_names=ds.label_names, norm_mean=ds.norm_mean, norm_std=ds.norm_std,
                          dataset=ds.name)
        m.save(tmp_path / "sin.pt")
        rep = export_bundle(tmp_path / "sin.pt", tmp_path / "sin", formats=["onnx", "c"], schemes=["fp32"],
                            graphs=["step"])
    finally:
        del MODELS["sin-test"]
    c = [r for r in rep.results if r.format == "c"]
    assert [r.status for r in c] == ["unsupported"]
    assert "op Sin" in c[0].reason and "not supported by the C generator" in c[0].reason
    assert [r.status for r in rep.results if r.format == "onnx"] == ["passed"]   # other formats unaffected
    manifest = json.loads((tmp_path / "sin" / "manifest.json").read_text())
    assert any(u["format"] == "c" and "Sin" in u["reason"] for u in manifest["unsupported"])


# -- microcontrollers ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def m4_bundles(tmp_path_factory, export_checkpoint):
    """16-unit CfC and LSTM exported for the Cortex-M4 target (C only, its schemes)."""
    from edgelnn.export import export_bundle

    root = tmp_path_factory.mktemp("m4")
    out = {}
    for kind in ("cfc", "lstm"):
        path = root / f"{kind}16"
        rep = export_bundle(export_checkpoint(kind, units=16, dataset="italypowerdemand"), path, target="cortex-m4",
                            schemes=["fp32", "int8-weight"], tolerances={"int8-weight": {"metric_delta": 1.0}})
        out[kind] = (path, rep)
    return out


@needs_cross
def test_export_for_cortex_m4_makes_c_artifacts_with_figures(m4_bundles):
    for kind, (path, rep) in m4_bundles.items():
        assert {r.format for r in rep.results} == {"c"}
        assert [r.status for r in rep.results if r.graph == "step"] == ["passed", "passed"]
        manifest = json.loads((path / "manifest.json").read_text())
        assert manifest["target"] == "cortex-m4"
        assert assert_artifacts_valid(path) == 2                     # strict compile, gcc and clang
        for a in manifest["artifacts"]:
            assert "mcu" not in a                                     # one place: the footprint
            fig = a["footprint"]["mcu"]["cortex-m4"]
            assert a["footprint"]["file_bytes"] == (path / a["file"]).stat().st_size
            assert a["c_prefix"] and a["extra_files"][0]["file"].endswith(".h")
            assert fig["ram_static_bytes"] == 0                       # no mutable globals
            assert 0 < fig["stack_bytes"] < 4096 and fig["state_bytes"] > 0
            assert fig["flash_bytes"] >= fig["rodata_bytes"] > 0
            assert "-mfpu=fpv4-sp-d16" in fig["cflags"] and "-Os" in fig["cflags"]
        fp32, int8 = (next(a for a in manifest["artifacts"] if a["scheme"] == s) for s in ("fp32", "int8-weight"))
        assert mcu_of(int8)["cortex-m4"]["rodata_bytes"] < 0.5 * mcu_of(fp32)["cortex-m4"]["rodata_bytes"]


@needs_cross
def test_emulated_cortex_m4_golden_check_passes(m4_bundles):
    from edgelnn.bench import BenchSettings, check_row
    from edgelnn.targets import bench_targets

    for kind, (path, _) in m4_bundles.items():
        rows = bench_targets(path, ["cortex-m4"], settings=BenchSettings(max_eval_sequences=4))
        c = [r for r in rows if r["format"] == "c" and r["status"] != "rejected"]
        assert [r["status"] for r in c] == ["passed", "passed"], [r["error"] for r in c]
        for r in c:
            assert check_row(r) == [], r
            assert r["golden_ok"] and r["golden_max_abs"] <= r["golden_tolerance"]
            assert r["latency_us"] is None and r["target"] == "cortex-m4"
            # instructions per step from the qemu trace, cycles estimated from them, µs at 80 MHz
            assert 0 < r["mcu_instructions"] <= r["mcu_cycles"] and r["mcu_clock_mhz"] == 80.0
            assert r["footprint"]["mcu"]["cortex-m4"]["step_cost"]["instructions"] == r["mcu_instructions"]
            assert r["flash_bytes"] == r["size_bytes"] and r["stack_bytes"] > 0 and r["mcu_state_bytes"] > 0
            assert set(r["footprint"]["mcu"]) == {"cortex-m4"}
            fig = r["footprint"]["mcu"]["cortex-m4"]
            assert 0 < fig["stack_measured_bytes"] <= fig["stack_bytes"]   # static bound holds on the chip
            assert fig["fits"] is True
            assert r["measured_on"]["via"] == "emulator" and "mps2-an386" in r["measured_on"]["device"]
            assert r["accuracy"] is not None
        # flash_ratio: flash against the fp32 artifact's on the same core (fp32's own: 1.0)
        fp32 = next(r for r in c if r["scheme"] == "fp32")
        for r in c:
            assert r["flash_ratio"] == round(r["flash_bytes"] / fp32["flash_bytes"], 4) and "size_ratio" not in r
        assert fp32["flash_ratio"] == 1.0 and max(r["flash_ratio"] for r in c) <= 1.0


@needs_cross
def test_report_shows_flash_and_recommends_for_the_microcontroller(m4_bundles, tmp_path):
    from edgelnn.bench import BenchSettings, append_rows
    from edgelnn.report import build_report
    from edgelnn.targets import bench_targets

    path, _ = m4_bundles["cfc"]
    rows = bench_targets(path, ["cortex-m4"], settings=BenchSettings(max_eval_sequences=8))
    append_rows(tmp_path / "r.jsonl", rows)
    rep = build_report([tmp_path / "r.jsonl"], tmp_path / "report", sensitivity=False, budget=100.0)
    md = rep.markdown.read_text()
    assert "Microcontroller footprint" in md and "cortex-m4" in md and "est. cycles/step" in md
    pick = next(r for r in rep.recommendations if r.target == "cortex-m4" and r.model == "")
    assert pick.row is not None and pick.row.format == "c"
    smallest = min((r for r in rows if r["status"] == "passed"), key=lambda r: r["flash_bytes"])
    assert pick.row.artifact == smallest["artifact"] and "flash" in pick.reason
    # the report's × fp32 on the microcontroller is the rows' flash_ratio
    read = {r.artifact: r for r in rep.rows if r.target == "cortex-m4" and r.status == "passed"}
    assert {a: r.size_ratio for a, r in read.items()} == \
        {r["artifact"]: r["flash_ratio"] for r in rows if r["status"] == "passed"}


@needs_cross
def test_one_changed_weight_fails_the_emulated_golden_check(m4_bundles, tmp_path):
    from edgelnn.bench import BenchSettings
    from edgelnn.runtime.integrity import sha256_file
    from edgelnn.targets import bench_targets

    for kind in ("cfc", "lstm"):
        src, _ = m4_bundles[kind]
        path = tmp_path / src.name
        shutil.copytree(src, path)
        manifest = json.loads((path / "manifest.json").read_text())
        entry = next(a for a in manifest["artifacts"] if a["scheme"] == "fp32")
        c = path / entry["file"]
        text = c.read_text()
        m = re.search(r"static const float \w+\[\d+\] = /\*[^*]*weight[^*]*\*/\n\{\n    (-?[0-9.e+-]+)f", text)
        assert m, "no weight array found"
        changed = text[:m.start(1)] + f"{float(m.group(1)) + 0.75:.9g}" + text[m.end(1):]
        c.write_text(changed)
        entry["sha256"] = sha256_file(c)           # a consistent but wrong artifact
        (path / "manifest.json").write_text(json.dumps(manifest))
        rows = bench_targets(path, ["cortex-m4"], artifacts=[entry["file"]],
                             settings=BenchSettings(accuracy=False))
        assert [r["status"] for r in rows] == ["golden_failed"], rows[0]["error"]
        assert "golden check failed on the emulated cortex-m4" in rows[0]["error"]


@needs_cross
def test_integer_scheme_on_cortex_m0plus_is_float_free(generated, tmp_path):
    from edgelnn.runtime.c import mcu
    from edgelnn.targets import load_profile
    from edgelnn.targets.mcu import core_of

    model, files = generated("gru")
    path, info = files["int16-fixed"]
    core = core_of(load_profile("cortex-m0plus"))
    fig = mcu.figures(path, path.with_suffix(".h"), info["manifest"]["c_prefix"], core)
    assert fig.integer_api["float_free"], fig.integer_api
    assert fig.integer_api["state_bytes"] == UNITS * 2 and fig.ram_static_bytes == 0
    # and it runs on the emulated ARMv6-M board (micro:bit, Cortex-M0)
    x, dt = irregular(3, n=2, steps=40)
    y, used = mcu.golden_on_emulator(path, path.with_suffix(".h"), info["manifest"]["c_prefix"], core,
                                     x, dt, np.array([40, 25]))
    host = runner_of(path, info, model)
    for g, n in enumerate((40, 25)):
        host.reset()
        assert np.array_equal(y[g, :n], host.run(x[g, :n], dt[g, :n]))   # integer code: bit-exact
    assert 0 < used <= fig.stack_bytes


# -- missing tools: PATH without them, one line each, other formats unaffected ----------------
def _path_without(tmp_path: Path, *names: str) -> str:
    """A PATH of symlinks to everything on PATH except ``names`` (and their versioned forms)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for f in os.listdir(d):
            base = re.sub(r"-\d+(\.\d+)*$", "", f)
            if base in names or f in names or (folder / f).exists():
                continue
            try:
                (folder / f).symlink_to(os.path.join(d, f))
            except OSError:
                pass
    return str(folder)


def _cli(args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgelnn", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_no_c_compiler_is_one_line_and_other_formats_still_export(export_checkpoint, tmp_path, monkeypatch):
    from edgelnn.export import export_bundle

    path = _path_without(tmp_path, "cc", "gcc", "clang", "c99", "c89", "x86_64-linux-gnu-gcc",
                         "x86_64-linux-gnu-cc")
    env = {**os.environ, "PATH": path}
    env.pop("CC", None)
    ckpt = export_checkpoint("gru", dataset="italypowerdemand")
    out = _cli(["export", str(ckpt), "--out", str(tmp_path / "c"), "--format", "c"], env)
    assert out.returncode != 0
    err = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
    assert len(err) == 1 and "C compiler" in err[0] and "apt-get install gcc" in err[0], out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "c").exists()
    # under the default formats C is skipped with a note and the others are exported
    monkeypatch.setenv("PATH", path)
    monkeypatch.delenv("CC", raising=False)
    rep = export_bundle(ckpt, tmp_path / "onnx", schemes=["fp32"], graphs={"onnx": ["step"], "c": ["step"]})
    assert [(r.format, r.status) for r in rep.results if r.status == "passed"] == [("onnx", "passed")]
    assert any(n.startswith("c skipped") and "C compiler" in n for n in rep.notes)


def test_no_cross_compiler_is_one_line(export_checkpoint, tmp_path):
    env = {**os.environ, "PATH": _path_without(tmp_path, "arm-none-eabi-gcc")}
    out = _cli(["export", str(export_checkpoint("gru", dataset="italypowerdemand")), "--out", str(tmp_path / "m4"),
                "--target", "cortex-m4"], env)
    assert out.returncode != 0
    err = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
    assert len(err) == 1 and "gcc-arm-none-eabi" in err[0], out.stderr
    assert "Traceback" not in out.stderr


def test_c_runtime_without_a_compiler_names_the_package(generated, tmp_path, monkeypatch):
    from edgelnn.errors import RuntimeMissingError
    from edgelnn.runtime import open_runner

    model, files = generated("rnn")
    path, info = files["fp32"]
    monkeypatch.setenv("PATH", _path_without(tmp_path, "cc", "gcc", "clang", "c99", "c89",
                                             "x86_64-linux-gnu-gcc", "x86_64-linux-gnu-cc"))
    monkeypatch.delenv("CC", raising=False)
    entry = {"file": path.name, "format": "c", "graph": "step", "scheme": "fp32", **info["manifest"]}
    with pytest.raises(RuntimeMissingError, match="apt-get install gcc"):
        open_runner(path, entry, [UNITS])


def test_mcu_figures_reader_for_the_study(m4_bundles):
    from edgelnn.report import mcu_figures

    path, _ = m4_bundles["lstm"]
    figs = mcu_figures(path)
    assert {(f.scheme, f.core) for f in figs} == {("fp32", "cortex-m4"), ("int8-weight", "cortex-m4")}
    for f in figs:
        assert f.model == "lstm" and f.flash_bytes > 0 and f.ram_bytes == f.stack_bytes + f.state_bytes


def test_mcu_figures_are_read_from_the_footprint_and_from_files_written_before_it():
    from edgelnn.report import mcu_figures

    fig = {"flash_bytes": 9000, "ram_static_bytes": 0, "stack_bytes": 700, "state_bytes": 256,
           "integer_api": {"flash_bytes": 8000, "stack_bytes": 500, "state_bytes": 128, "float_free": True}}
    now = {"file": "m.step.int16-fixed.c", "format": "c", "scheme": "int16-fixed",
           "footprint": {"file_bytes": 1, "mcu": {"cortex-m4": fig, "cortex-m0plus": fig}}}
    before = {k: v for k, v in now.items() if k != "footprint"} | {"mcu": {"cortex-m4": fig, "cortex-m0plus": fig}}
    for entry in (now, before):
        assert set(mcu_of(entry)) == {"cortex-m4", "cortex-m0plus"}
        m4, m0 = sorted(mcu_figures({"name": "b", "model": {"kind": "cfc"}, "artifacts": [entry]}),
                        key=lambda f: f.core != "cortex-m4")
        assert (m4.api, m4.flash_bytes, m4.ram_bytes) == ("float", 9000, 956)
        assert (m0.api, m0.flash_bytes, m0.ram_bytes) == ("integer", 8000, 628)   # no FPU: the integer API
    assert mcu_of({"format": "onnx", "footprint": {"file_bytes": 1}}) == {}


def test_c_export_to_a_relative_folder(export_checkpoint, tmp_path):
    """`--out b` from the user's folder: the strict compile once ran the compiler in the bundle's
    temporary folder with the file's relative path ('No such file or directory')."""
    ckpt = export_checkpoint("gru", dataset="italypowerdemand")
    proc = subprocess.run([sys.executable, "-m", "edgelnn", "export", str(ckpt), "--out", "b", "--format", "c",
                           "--quant", "fp32", "--graph", "step", "--json"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    statuses = [(r["format"], r["scheme"], r["status"]) for r in json.loads(proc.stdout)["results"]]
    assert ("c", "fp32", "passed") in statuses, statuses
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
