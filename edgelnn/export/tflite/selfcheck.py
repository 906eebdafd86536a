"""Measure every TFLite scheme against PyTorch: parity over long rollouts and file sizes.

    python -m edgelnn.export.tflite.selfcheck --kinds cfc,lstm --units 32,64 [--epochs 2]

For each model kind and width: convert the step graph, quantize it with every scheme
(static ones calibrated on whole rollouts of irregular-sine training sequences), then run
each file in ai-edge-litert from the zero state over rollouts with irregular dt (uniform in
[0.5, 1.5]) and compare every step's ``y`` and state with PyTorch stepping the same model.
Prints a markdown table. Untrained models unless ``--epochs`` > 0 (edgelnn.train).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .conversion import convert
from .quantization import CALIBRATORS, SCHEMES, quantize
from .readback import SIGNATURE


def rollout_inputs(input_size: int, steps: int, rollouts: int, seed: int = 0, x=None):
    """x (R, T, C) (standard normal unless given) and irregular dt (R, T) in [0.5, 1.5]."""
    rng = np.random.default_rng(seed)
    if x is None:
        x = rng.standard_normal((rollouts, steps, input_size)).astype(np.float32)
    dt = rng.uniform(0.5, 1.5, (rollouts, steps)).astype(np.float32)
    return np.ascontiguousarray(x, dtype=np.float32), dt


def torch_rollout(model, x, dt):
    """PyTorch stepping the cell: y (R, T, O) and the first state after each step (R, T, H)."""
    import torch

    with torch.no_grad():
        state = model.initial_state(x.shape[0])
        ys, hs = [], []
        for t in range(x.shape[1]):
            y, *state = model.cell(torch.from_numpy(x[:, t]), torch.from_numpy(dt[:, t:t + 1]), *state)
            ys.append(y.numpy())
            hs.append(state[0].numpy())
    return np.stack(ys, 1), np.stack(hs, 1)


def litert_rollout(path, state_spec, x, dt, chunk: int | None = None):
    """The same rollout through a .tflite file (step graph, or a seq window of ``chunk``)."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path), num_threads=1).get_signature_runner(SIGNATURE)
    all_y, all_h = [], []
    for r in range(x.shape[0]):
        state = {name: np.zeros((1, size), np.float32) for name, size in state_spec}
        ys, hs = [], []
        step = chunk or 1
        for t in range(0, x.shape[1] - step + 1, step):
            if chunk is None:
                out = runner(x=x[r, t:t + 1], dt=dt[r, t:t + 1, None], **state)
                ys.append(out["y"])
                hs.append(out[f"{state_spec[0][0]}_out"])
            else:
                out = runner(x=x[r:r + 1, t:t + chunk], dt=dt[r:r + 1, t:t + chunk], **state)
                ys.append(out["y"][0])
                hs.append(out[f"{state_spec[0][0]}_out"])  # state only at window ends
            state = {name: out[f"{name}_out"] for name, _ in state_spec}
        all_y.append(np.concatenate(ys, 0))
        all_h.append(np.concatenate(hs, 0))
    return np.stack(all_y), np.stack(all_h)


def _model(kind: str, units: int, epochs: int, dataset):
    if epochs > 0:
        from ...train import TrainConfig, train
        model, _ = train(TrainConfig(model=kind, dataset=dataset.name, units=units, epochs=epochs,
                                     patience=epochs), dataset=dataset)
        return model.eval()
    from ...models import create
    return create(kind, dataset.input_size, dataset.output_size, units=units).eval()


def check(kinds, units_list, schemes=SCHEMES, steps: int = 128, rollouts: int = 4,
          epochs: int = 0, dataset_name: str = "irregular-sine", calib_sequences: int = 32,
          out_dir=None, log=print, calibrator: str = "min-max") -> list[dict]:
    from ...data import load
    from ..calibration import CalibrationData

    dataset = load(dataset_name)
    rows = []
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="edgelnn-tflite-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        for units in units_list:
            model = _model(kind, units, epochs, dataset)
            # long streams of real inputs: consecutive validation sequences, irregular dt
            x_real = dataset.val.x.reshape(-1, dataset.input_size)[: rollouts * steps]
            x, dt = rollout_inputs(dataset.input_size, steps, rollouts,
                                   x=x_real.reshape(rollouts, steps, -1))
            y_ref, h_ref = torch_rollout(model, x, dt)
            calib = CalibrationData.from_split(model, dataset.train, max_sequences=calib_sequences)
            base = out_dir / f"{kind}{units}"
            t0 = time.perf_counter()
            convert(model, "step", f"{base}.fp32.tflite")
            seconds = time.perf_counter() - t0
            fp32_bytes = os.path.getsize(f"{base}.fp32.tflite")
            for scheme in ("fp32", *schemes):
                path = f"{base}.{scheme}.tflite"
                info = {"quantized": False, "note": ""}
                if scheme != "fp32":
                    t0 = time.perf_counter()
                    info = quantize(f"{base}.fp32.tflite", scheme, calib, path, calibrator=calibrator)
                    seconds = time.perf_counter() - t0
                y, h = litert_rollout(path, model.state_spec, x, dt)
                row = {"kind": kind, "units": units, "scheme": scheme,
                       "max_abs_y": float(np.abs(y - y_ref).max()),
                       "max_abs_h": float(np.abs(h - h_ref).max()),
                       "y_range": float(y_ref.max() - y_ref.min()),
                       "h_range": float(h_ref.max() - h_ref.min()),
                       "bytes": os.path.getsize(path),
                       "file_ratio": os.path.getsize(path) / fp32_bytes,
                       "quantized": info["quantized"], "seconds": seconds, "note": info["note"]}
                rows.append(row)
                log(_fmt(row))
    return rows


HEADER = ("| kind | units | scheme | max abs y | max abs h | y range | h range | bytes | ratio "
          "| quantized | s |\n|---|---|---|---|---|---|---|---|---|---|---|")


def _fmt(r: dict) -> str:
    return (f"| {r['kind']} | {r['units']} | {r['scheme']} | {r['max_abs_y']:.2e} | "
            f"{r['max_abs_h']:.2e} | {r['y_range']:.2f} | {r['h_range']:.2f} | {r['bytes']} | {r['file_ratio']:.2f} | "
            f"{r['quantized']} | {r['seconds']:.1f} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="cfc,cfc-ncp,ltc,ltc-ncp,lstm,gru,rnn")
    parser.add_argument("--units", default="32,64")
    parser.add_argument("--schemes", default=",".join(SCHEMES))
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--rollouts", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=0)
    parser.add_argument("--out", default=None)
    parser.add_argument("--calibrator", default="min-max", choices=CALIBRATORS)
    args = parser.parse_args(argv)
    print(HEADER, flush=True)
    check(args.kinds.split(","), [int(u) for u in args.units.split(",")],
          [s for s in args.schemes.split(",") if s], args.steps, args.rollouts, args.epochs,
          out_dir=args.out, log=lambda line: print(line, flush=True), calibrator=args.calibrator)


if __name__ == "__main__":
    main()
