"""edgelnn.runtime with real onnxruntime and LiteRT sessions on a real (tiny) bundle."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edgelnn.errors import BundleError, RuntimeMissingError
from edgelnn.runtime import RUNTIMES, load_bundle, open_runner
from edgelnn.runtime.runners import RuntimeSpec, _open_ort, resolve_runtime

REPO = Path(__file__).resolve().parents[1]


def _replay(runner, golden):
    """Max |y - golden| over the valid steps of every golden sequence, from the zero state."""
    worst = 0.0
    for i, length in enumerate(golden.lengths):
        runner.reset()
        y = runner.run(golden.x[i, :length], golden.dt[i, :length])
        worst = max(worst, float(np.abs(y - golden.y[i, :length]).max()))
    return worst


def test_every_artifact_agrees_with_golden(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    golden = bundle.golden()
    kinds = set()
    for entry in bundle.artifacts:
        with bundle.open(entry) as runner:
            err = _replay(runner, golden)
            assert err <= entry["golden"]["tolerance"], (entry["file"], err)
            assert runner.runtime_version and runner.providers_used
            kinds.add((entry["format"], entry["graph"]))
    assert {("onnx", "step"), ("tflite", "step"), ("onnx", "seq"), ("tflite", "seq")} <= kinds


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "c"])
def test_state_carries_across_steps_and_reset_clears_it(tiny_bundle, fmt):
    bundle = load_bundle(tiny_bundle)
    golden = bundle.golden()
    entry = next(a for a in bundle.artifacts
                 if a["format"] == fmt and a["graph"] == "step" and a["scheme"] == "fp32")
    x, dt, ref = golden.x[0], golden.dt[0], golden.y[0]
    with bundle.open(entry) as runner:
        ys = np.stack([runner.step(x[t], float(dt[t])) for t in range(len(x))])
        np.testing.assert_allclose(ys, ref, atol=1e-4)        # carried state -> matches PyTorch
        assert any(np.abs(s).sum() > 0 for s in runner.state)
        runner.reset()
        assert all(np.abs(s).sum() == 0 for s in runner.state)
        np.testing.assert_allclose(runner.step(x[0], float(dt[0])), ref[0], atol=1e-4)
        # run() continues from the current state: steps 1.. after step 0
        np.testing.assert_allclose(runner.run(x[1:], dt[1:]), ref[1:], atol=1e-4)


def test_seq_tflite_partial_chunk_ends_stream(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    golden = bundle.golden()
    entry = next(a for a in bundle.artifacts if a["format"] == "tflite" and a["graph"] == "seq")
    i = int(np.argmax(golden.lengths))
    x, dt, ref, length = golden.x[i], golden.dt[i], golden.y[i], int(golden.lengths[i])
    with bundle.open(entry) as runner:
        k = runner.chunk
        assert k == entry["chunk"] and length > k, "golden needs a sequence longer than a chunk"
        # one full chunk, then the rest (partial): the state carries across the calls
        np.testing.assert_allclose(runner.run(x[:k], dt[:k]), ref[:k], atol=1e-4)
        np.testing.assert_allclose(runner.run(x[k:length], dt[k:length]), ref[k:length], atol=1e-4)
        if length % k:     # a padded tail ends the stream: continuing would be wrong
            with pytest.raises(ValueError, match="reset"):
                runner.run(x[:1], dt[:1])
        runner.reset()
        with pytest.raises(ValueError, match="single steps"):
            runner.step(x[0], float(dt[0]))
        np.testing.assert_allclose(runner.run(x[:length], dt[:length]), ref[:length], atol=1e-4)


def test_tampered_artifact_refused(bundle_copy):
    bundle = load_bundle(bundle_copy)
    entry = bundle.artifacts[0]
    path = bundle.artifact_path(entry)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="was modified: sha256"):
        bundle.open(entry)
    bundle.open(entry, verify=False).close()   # the runtime itself would have loaded it


def test_a_bundle_written_before_the_file_ratio_rename_still_loads(bundle_copy):
    """Manifests before 2026-12 called the file ratio size_ratio: read as file_ratio, one name."""
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    ratios = [a.pop("file_ratio") for a in manifest["artifacts"]]
    for a, r in zip(manifest["artifacts"], ratios):
        a["size_ratio"] = r
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    bundle = load_bundle(bundle_copy)
    assert [a["file_ratio"] for a in bundle.artifacts] == ratios and all(r is not None for r in ratios)
    assert not any("size_ratio" in a for a in bundle.artifacts)


def test_nan_and_bad_inputs_are_one_line_errors(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    with bundle.open(bundle.artifacts[0]) as runner:
        c = runner.input_size
        nan, inf, ok = np.zeros(c), np.zeros(c), np.zeros(c)
        nan[-1], inf[0] = np.nan, np.inf
        for x, dt in ((nan, 1.0), (inf, 1.0), (ok, np.nan), (ok, 0.0), (ok, -1.0), (ok[:-1], 1.0)):
            with pytest.raises(ValueError) as info:
                runner.step(x, dt)
            assert "\n" not in str(info.value)
        runner.step(np.full(c, 1e20), 1.0)  # finite, though x.x overflows float32: accepted
        with pytest.raises(ValueError, match="NaN"):
            runner.run(np.stack([ok, nan]), np.ones(2))


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "c", "c-ctypes"])
def test_step_fast_path_keeps_every_input_check(tiny_bundle, fmt, monkeypatch):
    """float32 samples of shape (C,) take step()'s inline checks (c: the extension call's):
    NaN/inf anywhere, wrong length and bad dt are refused with the state untouched; huge
    finite values and (1, C) pass."""
    if fmt.startswith("c"):
        from edgelnn.runtime.c import find_cc
        if find_cc() is None:
            pytest.skip("no C compiler")
        if fmt == "c-ctypes":
            monkeypatch.setenv("EDGELNN_C_CTYPES", "1")
        fmt = "c"
    bundle = load_bundle(tiny_bundle)
    entry = next(a for a in bundle.artifacts if a["format"] == fmt and a["graph"] == "step")
    with bundle.open(entry) as runner:
        c = runner.input_size
        ok = np.linspace(-1, 1, c).astype(np.float32)
        runner.step(ok, 0.5)
        before = runner.state
        for i in range(c):
            for bad in (np.nan, np.inf, -np.inf):
                x = ok.copy()
                x[i] = bad
                with pytest.raises(ValueError, match="NaN or inf"):
                    runner.step(x, 0.5)
        for x, dt in ((ok[:-1], 0.5), (np.append(ok, 0).astype(np.float32), 0.5), (ok, float("nan")),
                      (ok, 0.0), (ok, -0.5), (ok, float("inf"))):
            with pytest.raises(ValueError):
                runner.step(x, dt)
        assert all(np.array_equal(a, b) for a, b in zip(before, runner.state))
        y_flat = runner.step(np.full(c, 3e38, np.float32), 0.5)       # the sum overflows; all finite
        assert y_flat.shape == (runner.output_size,)
        runner.reset()
        y1 = runner.step(ok, 0.5)
        runner.reset()
        y2 = runner.step(ok.reshape(1, c), 0.5)
        runner.reset()
        y3 = runner.step(ok.astype(np.float64), np.float32(0.5))
        assert y1.shape == (runner.output_size,) and np.array_equal(y1, y2) and np.array_equal(y1, y3)


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="no manifest.json"):
        load_bundle(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": "something-else"}))
    with pytest.raises(BundleError, match="not an edgelnn bundle"):
        load_bundle(tmp_path)
    with pytest.raises(BundleError, match="not a folder"):
        load_bundle(tmp_path / "nope")


def test_missing_runtime_names_the_pip_line(tiny_bundle, monkeypatch):
    bundle = load_bundle(tiny_bundle)
    entry = bundle.artifacts[0]
    fake = RuntimeSpec("onnxruntime", "onnx", "edgelnn_no_such_runtime", "onnxruntime", _open_ort)
    monkeypatch.setitem(RUNTIMES, "onnxruntime", fake)
    with pytest.raises(RuntimeMissingError, match="pip install onnxruntime"):
        open_runner(bundle.artifact_path(entry), entry, bundle.state_sizes)
    with pytest.raises(ValueError, match="unknown runtime"):
        resolve_runtime("onnx", "tensorrt-llm")
    with pytest.raises(ValueError, match="runs tflite"):
        resolve_runtime("onnx", "litert")


def test_runtime_runs_a_bundle_without_torch(tiny_bundle, tmp_path):
    """A fake `torch` package that raises ImportError is first on the path."""
    fake = tmp_path / "fake"
    for mod in ("torch", "ncps"):
        (fake / mod).mkdir(parents=True)
        (fake / mod / "__init__.py").write_text(f"raise ImportError('{mod} is not allowed here')\n")
    code = textwrap.dedent(f"""
        import sys, numpy as np
        try:
            import torch
        except ImportError:
            pass
        else:
            raise SystemExit("torch imported")
        from edgelnn.runtime import load_bundle
        b = load_bundle({str(tiny_bundle)!r})
        g = b.golden()
        for a in b.artifacts:
            with b.open(a) as r:
                L = int(g.lengths[0])
                err = float(np.abs(r.run(g.x[0, :L], g.dt[0, :L]) - g.y[0, :L]).max())
                assert err <= a["golden"]["tolerance"], (a["file"], err)
        assert "torch" not in sys.modules or sys.modules["torch"] is None
        print("ok", len(b.artifacts))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), str(REPO)])}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ok")


def _identity_onnx(path: Path, names_in, names_out, c=3, h=4):
    import onnx
    from onnx import TensorProto, helper

    shapes = [[1, c], [1, 1], [1, h]]
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in zip(names_in, shapes)]
    outs = [helper.make_tensor_value_info(names_out[0], TensorProto.FLOAT, [1, c]),
            helper.make_tensor_value_info(names_out[1], TensorProto.FLOAT, [1, h])]
    nodes = [helper.make_node("Identity", [names_in[0]], [names_out[0]]),
             helper.make_node("Add", [names_in[2], names_in[2]], [names_out[1]])]
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", ins, outs),
                                opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_onnx_binds_by_order_when_names_differ(tmp_path):
    """A file whose tensor names are not the manifest's (e.g. renamed by a tool): canonical order."""
    path = tmp_path / "m.onnx"
    _identity_onnx(path, ["input_0", "input_1", "input_2"], ["output_0", "output_1"])
    art = {"format": "onnx", "graph": "step", "io": {"inputs": ["x", "dt", "h"], "outputs": ["y", "h_out"]}}
    with open_runner(path, art, [4]) as r:
        np.testing.assert_array_equal(r.step([1, 2, 3], 1.0), [1, 2, 3])
        r._state = [np.ones((1, 4), np.float32)]
        r.step([0, 0, 0], 1.0)
        np.testing.assert_array_equal(r.state[0], 2 * np.ones((1, 4)))   # h_out = h + h
    with pytest.raises(BundleError, match="manifest lists 4 inputs"):
        open_runner(path, {**art, "io": {"inputs": ["x", "dt", "h", "c"], "outputs": ["y", "h_out"]}}, [4])


def test_tflite_binding_order_rules():
    from edgelnn.runtime.tflite_runner import _ordered

    sig = {"args_0": {"index": 7}, "args_10": {"index": 9}, "args_2": {"index": 8}}
    assert _ordered(sig, [], ["x", "dt", "h"], "inputs", "f") == [7, 8, 9]        # natural order
    named = {"x": {"index": 3}, "dt": {"index": 1}, "h": {"index": 2}}
    assert _ordered(named, [], ["x", "dt", "h"], "inputs", "f") == [3, 1, 2]      # by name
    details = [{"name": "serving_default_dt:0", "index": 5}, {"name": "serving_default_x:0", "index": 4}]
    assert _ordered({}, details, ["x", "dt"], "inputs", "f") == [4, 5]           # tensor names
    with pytest.raises(BundleError, match="manifest lists 2"):
        _ordered(sig, [], ["x", "dt"], "inputs", "f")


def test_c_extension_call_equals_the_ctypes_call(tiny_bundle, monkeypatch):
    """The c runtime's CPython-extension calls (built where Python's headers are) give the same
    bits as its ctypes calls, through step(), invoke(), run() and invoke_run(), and hand what
    they do not take (float64, a list, a scalar dt array) to the ctypes path."""
    from edgelnn.runtime.c import find_cc
    from edgelnn.runtime.c.runner import python_include
    if find_cc() is None or python_include() is None:
        pytest.skip("needs a C compiler and this Python's headers")
    bundle = load_bundle(tiny_bundle)
    entry = next(a for a in bundle.artifacts if a["format"] == "c" and a["scheme"] == "fp32")
    g = bundle.golden()
    n = int(g.lengths[0])

    def rollout(runner):
        assert runner.providers_used[0].endswith(f"called by {runner.call}")
        runner.reset()
        ys = [runner.step(g.x[0, t].copy(), float(g.dt[0, t])) for t in range(n)]
        ys.append(runner.step(g.x[0, 0].astype(np.float64), float(g.dt[0, 0])))
        ys.append(runner.step(list(map(float, g.x[0, 1])), np.float64(g.dt[0, 1])))
        runner.reset()
        state = runner.state
        for t in range(n):
            dt = g.dt[0, t:t + 1].reshape(1, 1) if t % 2 else np.float32(g.dt[0, t])
            out = runner.invoke([g.x[0, t:t + 1].copy(), dt, *state])
            ys.append(out[0].copy())
            state = [s.copy() for s in out[1:]]
        runner.reset()
        ys.append(runner.run(g.x[0, :n], g.dt[0, :n]))                     # whole sequence, one call
        ys.append(runner.run(g.x[0, :n].astype(np.float64), list(g.dt[0, :n])))
        runner.reset()
        x32, dt32 = np.ascontiguousarray(g.x[0, :n]), np.ascontiguousarray(g.dt[0, :n])
        ys.append(runner.invoke_run(x32, dt32, np.empty((n, runner.output_size), np.float32)).copy())
        bad = x32.copy()
        bad[n // 2, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            runner.invoke_run(bad, dt32, np.empty((n, runner.output_size), np.float32))
        ys.append(runner.state[0].copy())                # a refused run leaves the state as it was
        return ys

    with bundle.open(entry) as fast:
        assert fast.call == "python extension"
        a = rollout(fast)
    monkeypatch.setenv("EDGELNN_C_CTYPES", "1")
    with bundle.open(entry) as slow:
        assert slow.call == "ctypes"
        b = rollout(slow)
    assert len(a) == len(b) == 2 * n + 6
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
