"""Many streams: batched step artifacts (ONNX batch axis, C ``<prefix>_step_batch``) and the
``Streams`` server equal each stream stepped alone, with per-stream dt, staggered starts, stops
and resets; bad events are rejected alone."""
from __future__ import annotations

import numpy as np
import pytest

from edgelnn.models import MODELS
from edgelnn.runtime import load_bundle

pytestmark = pytest.mark.usefixtures("c_cache")

BATCH_TOL = 1e-6        # fp32: a stream's result must not depend on the batch it ran in
LOOSE = {s: {"metric_delta": 1.0} for s in ("fp16", "int8-weight", "int8-dynamic", "int8-static")}


@pytest.fixture(scope="module")
def kind_bundle(tmp_path_factory):
    """build(kind) -> bundle path: onnx + c step artifacts of every scheme, an untrained 16-unit
    model on japanesevowels (short sequences: a cheap parity gate; 16 units: the NCP
    wirings need more units than the 9 outputs + 2)."""
    from edgelnn import data, models
    from edgelnn.export import export_bundle

    root = tmp_path_factory.mktemp("streams")
    ds = data.load("japanesevowels")
    cache = {}

    def build(kind: str):
        if kind not in cache:
            m = models.create(kind, ds.input_size, ds.output_size, units=16, task=ds.task,
                              label_names=ds.label_names, norm_mean=ds.norm_mean, norm_std=ds.norm_std,
                              dataset=ds.name, seed=0)
            m.save(root / f"{kind}.pt")
            export_bundle(root / f"{kind}.pt", root / kind, formats=["onnx", "c"], graphs=["step"],
                          tolerances=LOOSE)
            cache[kind] = root / kind
        return cache[kind]

    return build


def _schedule(rng, streams: int, steps: int, c: int):
    """Events per round: stream s starts at round s // 2, stream 1 stops after round 4, stream 2
    resets before round 5; per-stream irregular timestamps; each round's events shuffled."""
    x = rng.standard_normal((streams, steps, c)).astype(np.float32)
    t = np.cumsum(rng.uniform(0.05, 3.0, (streams, steps)), axis=1)
    rounds = []
    for k in range(steps):
        ev = [(s, x[s, k], t[s, k]) for s in range(streams) if s // 2 <= k and not (s == 1 and k > 4)]
        rng.shuffle(ev)
        rounds.append(ev)
    return x, t, rounds


def _alone(runner, x, t, first_dt, starts):
    """One stream stepped alone through ``runner.step`` from each start (reset) on."""
    out, prev = [], None
    for k in range(len(x)):
        if k in starts:
            runner.reset()
            prev = None
        out.append(runner.step(x[k], float(first_dt if prev is None else t[k] - prev)))
        prev = t[k]
    return np.array(out)


def _check_batched(bundle_path, entry, rng, streams: int = 6):
    b = load_bundle(bundle_path)
    steps = 9
    with b.open(entry) as batched, b.open(entry) as alone:
        x, t, rounds = _schedule(rng, streams, steps, batched.input_size)
        srv = batched.streams(2, first_dt=0.5)          # fewer slots than streams: joins grow it
        got = {s: [] for s in range(streams)}
        seen = {s: [] for s in range(streams)}
        for k, ev in enumerate(rounds):
            if k == 5:
                srv.reset(2)
            out = srv.step(ev)
            assert out.ok, out.rejected
            for (s, _, _), y in zip(ev, out.y):
                got[s].append(y)
                seen[s].append(k)
        worst = 0.0
        for s in range(streams):
            ks = seen[s]
            if not ks:                  # starts after the last round
                continue
            starts = {0, ks.index(5)} if s == 2 else {0}
            ref = _alone(alone, x[s, ks], t[s, ks], 0.5, starts)
            worst = max(worst, float(np.abs(ref - np.array(got[s])).max()))
        assert worst <= BATCH_TOL, f"{entry['file']} ({batched.batch_mode}): batch differs by {worst:.3g}"
        return batched.batch_mode


@pytest.mark.parametrize("kind", list(MODELS))
def test_batched_equals_alone_every_kind(kind_bundle, kind):
    """onnx (fp32, fp16, int8-dynamic, int8-static) and c (fp32, int8-weight, int16-fixed)."""
    path = kind_bundle(kind)
    b = load_bundle(path)
    rng = np.random.default_rng(0)
    modes = {(a["format"], a["scheme"]): _check_batched(path, a, rng) for a in b.artifacts}
    assert {("onnx", "fp32"), ("c", "fp32"), ("c", "int8-weight"), ("c", "int16-fixed")} <= set(modes)
    # what must really run as one batched call: the dynamic ONNX batch axis and the C batch entry
    assert modes[("onnx", "fp32")] == "batched" and modes[("c", "fp32")] == "batched"
    if ("onnx", "int8-dynamic") in modes:     # one input scale over the batch: one call per stream
        assert modes[("onnx", "int8-dynamic")] == "one stream per call"


def test_batched_equals_alone_every_format_and_scheme(tiny_bundle):
    """Every artifact of the tiny bundle (onnx, tflite, c; every scheme that passed)."""
    rng = np.random.default_rng(1)
    b = load_bundle(tiny_bundle)
    formats = {a["format"] for a in b.artifacts if a["graph"] == "step"}
    assert {"onnx", "tflite", "c"} <= formats
    for a in b.artifacts:          # every LiteRT step artifact has its files per batch size
        if a["format"] == "tflite" and a["graph"] == "step":
            assert [f["batch"] for f in a["batch_files"]] == [16, 256], a["note"]
            names = {x["file"] for x in a["extra_files"]}
            assert all(f["file"] in names and (tiny_bundle / f["file"]).is_file() for f in a["batch_files"])
    for a in b.artifacts:
        if a["graph"] == "step":
            # 21 streams: LiteRT runs a file for 16 and one for 256 (padded), leftovers alone
            _check_batched(tiny_bundle, a, rng, streams=21 if a["format"] == "tflite" else 6)


def test_litert_skips_batched_files_with_tensors_over_budget(tiny_bundle, monkeypatch):
    """A batched LiteRT file whose largest tensor is over the budget (LTC-64 at 256 streams: 4 MiB)
    is not used: the streams go as chunks of a smaller file, still equal to each stream alone."""
    from edgelnn.runtime import tflite_runner

    b = load_bundle(tiny_bundle)
    a = next(a for a in b.artifacts if a["format"] == "tflite" and a["scheme"] == "fp32" and a["graph"] == "step")
    with b.open(a) as r:
        assert r.chunk_sizes() == [16, 256]        # the tiny model's tensors: every file is used
    monkeypatch.setattr(tflite_runner, "CHUNK_TENSOR_BYTES", 0)
    with b.open(a) as r:
        assert r.chunk_sizes() == [16]             # the smallest file always stays
    _check_batched(tiny_bundle, a, np.random.default_rng(2), streams=21)   # 16 + 5 padded to 16


def test_onnxruntime_chunks_streams_by_elementwise_bytes(tiny_bundle, monkeypatch):
    """onnxruntime takes at most CHUNK_BYTES of element-wise intermediates per call (LTC-64 at 256
    streams a call ran 2x slower per stream than at 16): more streams go as several calls and
    still equal each stream alone."""
    from edgelnn.runtime import ort_runner

    b = load_bundle(tiny_bundle)
    a = next(a for a in b.artifacts if a["format"] == "onnx" and a["scheme"] == "fp32" and a["graph"] == "step")
    ew = a["footprint"]["elementwise_per_step"]
    with b.open(a) as r:
        assert r.batch_chunk == ort_runner.CHUNK_BYTES // (4 * ew) > 6
    monkeypatch.setattr(ort_runner, "CHUNK_BYTES", 4 * ew * 4)       # 4 streams a call
    with b.open(a) as r:
        assert r.batch_chunk == 4 and "at most 4 streams per call" in r.batch_note
    _check_batched(tiny_bundle, a, np.random.default_rng(3), streams=6)   # calls of 4 + 2


def test_onnx_step_graph_has_a_batch_axis(tiny_bundle):
    b = load_bundle(tiny_bundle)
    assert b.manifest["tensors"]["step"]["inputs"][0]["shape"][0] == "batch"
    with b.open(next(a for a in b.artifacts if a["file"].endswith("step.fp32.onnx"))) as r:
        feeds = [np.zeros((7, r.input_size), np.float32), np.ones((7, 1), np.float32),
                 *[np.zeros((7, s), np.float32) for s in r.state_sizes]]
        out = r.invoke(feeds)
        assert out[0].shape == (7, r.output_size)


# -- the stream server API ------------------------------------------------------------------
@pytest.fixture
def server(tiny_bundle):
    b = load_bundle(tiny_bundle)
    entry = next(a for a in b.artifacts if a["file"].endswith("step.fp32.c"))
    with b.open(entry) as batched, b.open(entry) as alone:
        yield batched.streams(4), alone


def test_events_out_of_order_and_absent_streams(server):
    srv, alone = server
    rng = np.random.default_rng(3)
    c = alone.input_size
    xa, xb = rng.standard_normal((3, c)).astype(np.float32), rng.standard_normal((2, c)).astype(np.float32)
    # stream "a" gets three events in one batch, given newest first; "b" two, "c" one then none
    out = srv.step([("a", xa[2], 3.0), ("b", xb[0], 10.0), ("a", xa[0], 1.0), ("c", xa[0], 5.0),
                    ("a", xa[1], 1.5)])
    assert out.ok and list(out.dt[[2, 4, 0]]) == [1.0, 0.5, 1.5]
    state_c = srv.state("c")
    out2 = srv.step([("b", xb[1], 10.25)])             # "a" and "c" absent: they keep their state
    assert out2.dt[0] == 0.25
    np.testing.assert_array_equal(np.concatenate(srv.state("c")), np.concatenate(state_c))
    ref_a = _alone(alone, xa, np.array([1.0, 1.5, 3.0]), 1.0, {0})
    np.testing.assert_allclose(out.y[[2, 4, 0]], ref_a, atol=BATCH_TOL, rtol=0)
    ref_b = _alone(alone, xb, np.array([10.0, 10.25]), 1.0, {0})
    np.testing.assert_allclose(np.stack([out.y[1], out2.y[0]]), ref_b, atol=BATCH_TOL, rtol=0)


def test_new_stream_joins_beyond_capacity(server):
    srv, alone = server
    x = np.ones(alone.input_size, np.float32)
    srv.step([(i, x, 1.0) for i in range(4)])
    assert srv.capacity == 4
    out = srv.step([("new", x, 7.0), (0, x, 2.0)])
    assert out.ok and len(srv) == 5 and srv.capacity >= 5
    np.testing.assert_allclose(out.y[0], _alone(alone, x[None], np.array([7.0]), 1.0, {0})[0], atol=BATCH_TOL)


def test_nan_for_one_stream_is_rejected_alone(server):
    srv, alone = server
    c = alone.input_size
    x = np.full(c, 0.5, np.float32)
    srv.step([("a", x, 1.0), ("b", x, 1.0)])
    before_a, before_b = srv.state("a"), srv.state("b")
    bad = x.copy()
    bad[0] = np.nan
    out = srv.step([("a", bad, 2.0), ("b", x, 2.0), ("b", x, 0.5)])   # b: one event before its last t
    assert set(out.rejected) == {0, 2} and "NaN" in out.rejected[0] and "not after" in out.rejected[2]
    assert np.isnan(out.y[0]).all() and np.isfinite(out.y[1]).all()
    np.testing.assert_array_equal(np.concatenate(srv.state("a")), np.concatenate(before_a))
    assert srv.last_t("a") == 1.0 and srv.last_t("b") == 2.0
    assert not np.array_equal(np.concatenate(srv.state("b")), np.concatenate(before_b))
    # a's next good event continues from the state before the NaN, with dt from its last good t
    out = srv.step([("a", x, 3.0)])
    assert out.ok and out.dt[0] == 2.0
    np.testing.assert_allclose(out.y[0], _alone(alone, np.stack([x, x]), np.array([1.0, 3.0]), 1.0, {0})[1],
                               atol=BATCH_TOL)


def test_bad_events_are_one_line_errors(server):
    from edgelnn.errors import EdgeLNNError

    srv, alone = server
    with pytest.raises(EdgeLNNError, match="values per event"):
        srv.step([("a", np.zeros(alone.input_size + 1), 1.0)])
    with pytest.raises(EdgeLNNError, match="stream id, x, t"):
        srv.step([("a", np.zeros(alone.input_size))])
    with pytest.raises(EdgeLNNError, match="first_dt"):
        alone.streams(2, first_dt=0.0)
    empty = srv.step([])
    assert empty.ok and empty.y.shape == (0, alone.output_size)


# -- bench --streams ------------------------------------------------------------------------
def test_bench_streams_rows(tiny_bundle):
    from edgelnn.bench import BenchSettings
    from edgelnn.bench.harness import bench_bundle
    from edgelnn.bench.rows import check_row
    from edgelnn.schema import ROW_STREAMS_KEYS

    b = load_bundle(tiny_bundle)
    names = [a["file"] for a in b.artifacts if a["graph"] == "step" and a["scheme"] == "fp32"]
    settings = BenchSettings(warmup=2, min_runs=20, min_seconds=0.0, memory=False, accuracy=False,
                             streams=(1, 5))
    rows = bench_bundle(tiny_bundle, artifacts=names, settings=settings)
    assert {r["format"] for r in rows} == {"onnx", "tflite", "c"}
    for r in rows:
        assert r["status"] == "passed" and not check_row(r), (r["error"], check_row(r))
        assert [s["streams"] for s in r["streams"]] == [1, 5]
        assert tuple(r["streams"][0]) == ROW_STREAMS_KEYS
        for s in r["streams"]:
            assert s["golden_ok"] and s["golden_max_abs"] <= r["golden_tolerance"]
            assert s["stream_steps_per_s"] > 0 and s["latency_us"]["p50"] <= s["latency_us"]["p99"]
            assert s["state_bytes"] == 4 * s["streams"] * 16       # LSTM-8: h and c
        assert {s["batch_mode"] for s in r["streams"]} == {"batched"}


def test_bench_streams_bad_counts_one_line(tiny_bundle, monkeypatch, capsys):
    from cli_inprocess import run_cli

    for bad in ("0", "1,x", ","):
        code, out, err = run_cli(monkeypatch, capsys, "bench", tiny_bundle, "--streams", bad, "--no-memory",
                                 "--no-accuracy")
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert code == 1 and len(lines) == 1 and lines[0].startswith("error:") and "--streams" in lines[0], err
