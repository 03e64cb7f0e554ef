"""Where the runtime's CPU goes, per frame: thread CPU of each section of the runtime
loop and CPU of the process's other threads (ZeroMQ's I/O thread), under the bench's load.

    python scripts/profile_runtime.py [--streams 32] [--duration 10] [--model FILE]

Runs ``Runtime`` in this process (as ``skelact bench`` runs it in its own), the bench's
publisher process and a subscriber process, and wraps a few methods with
``time.thread_time`` accumulators (inclusive times; the wrappers themselves add ~1 µs per
call). Prints µs per processed frame, and how many frames each model call carried.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import threading
import time
from collections import defaultdict

import numpy as np

from skelact.stream import protocol as P
from skelact.stream.detector import DetectorConfig, DetectorCore
from skelact.stream.engine import Engine
from skelact.stream.runtime import Runtime, RuntimeConfig
from skelact.stream.state import StateBank
from skelact.tools.bench_load import frames_processed, publisher_proc, stat_cpu

ACC: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def wrap(cls, name: str, label: str) -> None:
    fn = getattr(cls, name)

    def timed(*a, **k):
        t0 = time.thread_time()
        try:
            return fn(*a, **k)
        finally:
            ACC[label] += time.thread_time() - t0
            CALLS[label] += 1

    setattr(cls, name, timed)


BATCHES: list[int] = []


def record_batches() -> None:
    step = StateBank.step

    def counted(self, x, slots):
        BATCHES.append(len(slots))
        return step(self, x, slots)

    StateBank.step = counted


def sub_proc(endpoint: str, stop) -> None:
    import zmq

    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    while not stop.is_set():
        if s.poll(50):
            s.recv_multipart()


def thread_cpu() -> dict[int, float]:
    """thread id -> CPU seconds so far, for every thread of this process."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        st = stat_cpu(f"/proc/self/task/{tid}/stat")
        if st is not None:
            out[int(tid)] = st[1]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="stream/assets/models/default_step.onnx")
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--batch-wait-ms", type=float, default=RuntimeConfig.batch_wait_ms)
    ap.add_argument(
        "--cprofile", metavar="FILE", help="also run cProfile in the runtime thread, stats to FILE"
    )
    a = ap.parse_args()
    wrap(Runtime, "_receive", "receive+decode+queue")
    wrap(P, "decode_frame", "  decode_frame")
    wrap(Runtime, "_take", "take")
    wrap(DetectorCore, "feed_many", "feed_many (detector)")
    wrap(DetectorCore, "_canonical", "  canonical")
    wrap(DetectorCore, "_decide", "  decide (smoothing, events, bodies)")
    record_batches()
    wrap(StateBank, "step", "  bank.step")
    wrap(Engine, "run_step", "    engine.run_step")
    wrap(Runtime, "_publish", "publish")
    wrap(P, "encode_pub", "  encode_pub")
    eng = Engine(a.model, provider="cpu")
    cfg = RuntimeConfig(
        in_endpoint="tcp://127.0.0.1:*",
        out_endpoint="tcp://127.0.0.1:*",
        detector=DetectorConfig(scores=True),
        status_interval_s=0.5,
        batch_wait_ms=a.batch_wait_ms,
    )
    rt = Runtime(eng, cfg)
    rt.bind()
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    res = ctx.Queue()
    sub = ctx.Process(target=sub_proc, args=(rt.out_endpoint, stop), daemon=True)
    sub.start()
    target = rt.run
    if a.cprofile:
        import cProfile

        prof = cProfile.Profile(time.thread_time)

        def target():
            prof.runcall(rt.run)
            prof.dump_stats(a.cprofile)

    th = threading.Thread(target=target, daemon=True, name="runtime")
    th.start()
    time.sleep(1.0)
    start_at = time.time() + 1.5
    names = [f"s{i:04d}" for i in range(a.streams)]
    pub = ctx.Process(
        target=publisher_proc,
        args=(rt.in_endpoint, names, 30.0, a.duration, start_at, res),
        daemon=True,
    )
    pub.start()
    while time.time() < start_at + 1.0:
        time.sleep(0.01)
    ACC.clear()
    CALLS.clear()
    BATCHES.clear()
    f0 = frames_processed(rt.counters)
    c0, p0 = thread_cpu(), time.process_time()
    time.sleep(a.duration - 2.0)
    c1, p1 = thread_cpu(), time.process_time()
    f1 = frames_processed(rt.counters)
    acc = dict(ACC)
    b = np.asarray(BATCHES)
    pub.join(a.duration + 10)
    rt.stop()
    th.join(10)
    stop.set()
    n = max(1, f1 - f0)
    rid = th.native_id
    per = {tid: c1.get(tid, 0) - c0.get(tid, 0) for tid in c1}
    print(f"{n} frames, {a.streams} streams, dropped {rt.counters['frames_dropped']}")
    print(f"process CPU {1e6 * (p1 - p0) / n:7.1f} us/frame")
    print(f"runtime thread {1e6 * per.get(rid, 0) / n:7.1f} us/frame (/proc, 10 ms ticks)")
    print(
        f"other threads  {1e6 * sum(v for t, v in per.items() if t != rid) / n:7.1f} us/frame (ZeroMQ I/O and the rest)"
    )
    if b.size:
        shares = " / ".join(
            f"{b[(b >= lo) & (b <= hi)].sum() / b.sum():.0%}"
            for lo, hi in ((1, 4), (5, 12), (13, 24), (25, b.max()))
        )
        print(
            f"frames per model call: mean {b.mean():.1f}; share of frames in calls of 1-4 / 5-12 / 13-24 / >24: {shares}"
        )
    for k, v in acc.items():
        print(f"{k:40s} {1e6 * v / n:7.1f} us/frame  ({CALLS[k]} calls)")


if __name__ == "__main__":
    main()
