"""A/B timing of step graphs in ONNX Runtime alone: alternating rounds, one intra-op thread.

    python scripts/ort_step_ab.py OLD.onnx NEW.onnx [--batch 32] [--rounds 30] [--calls 40]

Every file gets the same random inputs (so the files must share their input shapes);
prints each file's median and best microseconds per frame over the rounds, and the
largest output difference between the first file and each other one.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import onnxruntime as ort


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="ONNX step graphs with the same inputs")
    ap.add_argument("--batch", type=int, default=32, help="tracks per call (default 32)")
    ap.add_argument("--rounds", type=int, default=30, help="alternating rounds (default 30)")
    ap.add_argument("--calls", type=int, default=40, help="timed calls per file per round (default 40)")
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sessions = [ort.InferenceSession(p, so, providers=["CPUExecutionProvider"]) for p in a.models]
    rng = np.random.default_rng(0)
    feeds = {i.name: rng.random([a.batch if not isinstance(d, int) else d for d in i.shape]).astype(np.float32)
             for i in sessions[0].get_inputs()}  # fmt: skip
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(a.rounds):
        for s, ts in zip(sessions, times):
            for _ in range(5):
                s.run(None, feeds)
            t0 = time.perf_counter()
            for _ in range(a.calls):
                s.run(None, feeds)
            ts.append((time.perf_counter() - t0) / a.calls / a.batch * 1e6)
    ref = sessions[0].run(None, feeds)[0]
    for p, s, ts in zip(a.models, sessions, times):
        diff = float(np.abs(s.run(None, feeds)[0] - ref).max())
        print(f"{p}: median {np.median(ts):.1f} us/frame, best {min(ts):.1f}; max |diff| vs first {diff:.2e}")


if __name__ == "__main__":
    main()
