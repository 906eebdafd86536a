"""The device side of a remote run: ``__main__`` of the runner zipapp (no torch, no ncps).

    python runner.pyz probe [WORKDIR [VENV]]          device facts
    python runner.pyz golden BUNDLE [--runtimes a,b]   golden check of every artifact only
    python runner.pyz bench BUNDLE --request FILE      golden check + benchmark (bench_bundle)

Prints one JSON document between the result markers on stdout; progress goes to stderr.
Errors become ``{"ok": false, "error": "<one line>", "error_kind": ...}``, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback


def choose_runtimes(preference: list[str] | None, formats: set[str]) -> list[str]:
    """Per artifact format, the first runtime of ``preference`` that imports here; when none
    does, the first one anyway, so its artifacts get a failed row with the pip line."""
    from edgelnn.errors import EdgeLNNError
    from edgelnn.runtime import RUNTIMES, resolve_runtime, runtimes_for

    chosen = []
    for fmt in sorted(formats):
        order = [r for r in (preference or []) if r in RUNTIMES and RUNTIMES[r].format == fmt]
        order = order or runtimes_for(fmt)
        for name in order:
            try:
                resolve_runtime(fmt, name)
                chosen.append(name)
                break
            except EdgeLNNError:
                continue
        else:
            chosen.append(order[0])
    return chosen


def _formats(bundle_path: str, artifacts: list[str] | None) -> set[str]:
    from edgelnn.runtime import load_bundle

    bundle = load_bundle(bundle_path)
    entries = [bundle.artifact(a) for a in artifacts] if artifacts else bundle.artifacts
    return {e["format"] for e in entries}


def _progress(msg: str) -> None:
    print(f"[device] {msg}", file=sys.stderr, flush=True)


def cmd_golden(args) -> dict:
    """Golden check only, in this process (no memory subprocess: works under qemu-user)."""
    from edgelnn.bench import bench_bundle
    from edgelnn.bench.settings import BenchSettings
    from edgelnn.targets.probe import facts

    preference = args.runtimes.split(",") if args.runtimes else None
    runtimes = choose_runtimes(preference, _formats(args.bundle, None))
    settings = BenchSettings(latency=False, memory=False, accuracy=False, shifts=False)
    rows = bench_bundle(args.bundle, runtimes=runtimes, settings=settings,
                        include_manifest_failures=False, progress=_progress)
    results = [{"artifact": r["artifact"], "format": r["format"], "graph": r["graph"],
                "scheme": r["scheme"], "runtime": r["runtime"],
                "passed": r["status"] == "passed" and bool(r["golden_ok"]),
                "max_abs": r["golden_max_abs"], "tolerance": r["golden_tolerance"],
                "error": r["error"]} for r in rows]
    return {"ok": True, "facts": facts(import_runtimes=False), "results": results}


def cmd_bench(args) -> dict:
    from edgelnn.bench import bench_bundle
    from edgelnn.bench.settings import BenchSettings
    from edgelnn.targets.probe import facts
    from edgelnn.targets.providers import annotate

    with open(args.request) as fh:
        req = json.load(fh)
    artifacts = req.get("artifacts") or None
    runtimes = choose_runtimes(req.get("runtimes"), _formats(args.bundle, artifacts))
    settings = BenchSettings(**(req.get("settings") or {}))
    providers = req.get("providers") or None
    rows = bench_bundle(args.bundle, artifacts=artifacts, target=req.get("target", "host"),
                        threads=req.get("threads", 1), providers=providers, runtimes=runtimes,
                        settings=settings, on_target=bool(req.get("on_target", True)),
                        device=req.get("device"), progress=_progress,
                        include_manifest_failures=bool(req.get("include_manifest_failures", True)),
                        accel=req.get("accel") or None)
    rows = [annotate(r, providers) for r in rows]
    return {"ok": True, "facts": facts(import_runtimes=False), "runtimes": runtimes, "rows": rows}


def cmd_probe(args) -> dict:
    from edgelnn.targets.probe import facts

    return {"ok": True, "facts": facts(args.workdir, args.venv)}


def main(argv: list[str] | None = None) -> int:
    from edgelnn.targets.probe import emit

    parser = argparse.ArgumentParser(prog="runner.pyz", description="edgelnn device runner")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("probe")
    p.add_argument("workdir", nargs="?")
    p.add_argument("venv", nargs="?")
    p.set_defaults(func=cmd_probe)
    p = sub.add_parser("golden")
    p.add_argument("bundle")
    p.add_argument("--runtimes")
    p.set_defaults(func=cmd_golden)
    p = sub.add_parser("bench")
    p.add_argument("bundle")
    p.add_argument("--request", required=True)
    p.set_defaults(func=cmd_bench)
    args = parser.parse_args(argv)
    try:
        doc = args.func(args)
    except Exception as exc:  # noqa: BLE001 - the host prints one line; the traceback rides along
        try:
            from edgelnn.errors import EdgeLNNError
            user_error = isinstance(exc, (EdgeLNNError, ValueError, OSError))
        except Exception:  # noqa: BLE001 - numpy missing: edgelnn.errors itself is fine, but be safe
            user_error = False
        lines = str(exc).strip().splitlines()
        msg = lines[0] if lines else type(exc).__name__
        if isinstance(exc, ImportError) and getattr(exc, "name", None):
            msg = f"module {exc.name} is missing on the device ({msg})"
        doc = {"ok": False, "error": msg if user_error else f"{type(exc).__name__}: {msg}",
               "error_kind": type(exc).__name__, "missing_module": getattr(exc, "name", None),
               "traceback": traceback.format_exc(limit=8)}
    emit(doc)
    return 0 if doc.get("ok") else 3


if __name__ == "__main__":
    sys.exit(main())
