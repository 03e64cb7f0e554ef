"""Actor-hop overhead of `serve --workers N` (docs/scaling.md): per-call round trip and
per-frame cost, one in-process core vs worker pools (in-process and Ray actors), and the
front's CPU per frame (this process, all threads: Ray's included) when it is paced as
`serve` runs it: small batches as frames arrive, the pool polled every millisecond while
calls are out (the runtime loop's 1 ms poll).

Usage: python scripts/bench_workers_hop.py   (needs skelact[cluster]; starts a private local Ray)
"""

from __future__ import annotations

import logging
import time

import numpy as np
import ray

from skelact.stream.assets import default_model_path
from skelact.stream.cluster import ClusterConfig, RayBackend
from skelact.stream.detector import DetectorConfig, DetectorCore, Input
from skelact.stream.engine import Engine
from skelact.stream.protocol import PoseFrame
from skelact.stream.synthetic import make_sequence
from skelact.stream.workers import InProcessBackend, WorkerPool, WorkerSpec

STREAMS, ROUNDS = 32, 150
PACED_STREAMS, PACED_FPS, PACED_S = 16, 30.0, 4.0  # the paced run: 480 frames/s, each fed when due


def batches(joints: np.ndarray) -> list[list[Input]]:
    return [[Input(PoseFrame(f"s{i:04d}", k, k / 30, "kinect_v1_20", np.ascontiguousarray(joints[k % len(joints)],
                                                                                          np.float32), (0,)), 0.0, 0.0)
             for i in range(STREAMS)] for k in range(ROUNDS)]  # fmt: skip


def per_frame_ms(feed, joints, after=None) -> float:
    bs = batches(joints)
    t0 = time.perf_counter()
    for b in bs:
        feed(b)
        if after is not None:
            after()
    return (time.perf_counter() - t0) * 1000 / (ROUNDS * STREAMS)


def paced_front_cpu(pool: WorkerPool, joints: np.ndarray) -> tuple[float, int]:
    """Front CPU ms per frame: the frames due (16 streams at 30 fps, evenly spread) fed as
    they fall due, and ``poll()`` every 1 ms while calls are out, as the runtime loop does."""
    period = 1.0 / (PACED_STREAMS * PACED_FPS)  # one frame falls due per period
    frames = 0
    k = 0
    t_start = time.perf_counter()
    c0 = time.process_time()
    due = t_start
    while time.perf_counter() - t_start < PACED_S:
        now = time.perf_counter()
        batch = []
        while due <= now:
            i = k % PACED_STREAMS
            r = k // PACED_STREAMS
            batch.append(Input(PoseFrame(f"s{i:04d}", r, r / PACED_FPS, "kinect_v1_20",
                                         np.ascontiguousarray(joints[r % len(joints)], np.float32), (0,)), 0.0, 0.0))  # fmt: skip
            k += 1
            due += period
        if batch:
            frames += len(batch)
            pool.feed_many(batch)
        pool.poll()
        time.sleep(0.001 if pool.pending else max(0.0, due - time.perf_counter()))
    while pool.pending:
        pool.poll(0.05)
    return (time.process_time() - c0) * 1000 / frames, frames


def main() -> None:
    logging.disable(logging.WARNING)
    model = str(default_model_path("step"))
    joints = make_sequence("x", num_frames=600, seed=3).joints
    d = DetectorConfig()
    core = DetectorCore(Engine(model, provider="cpu"), d)
    print(f"workers=1 in-process core: {per_frame_ms(core.feed_many, joints):.3f} ms/frame")
    pool = WorkerPool(InProcessBackend(WorkerSpec(model, d, provider="cpu"), 2), d)
    print(f"workers=2 in-process pool: {per_frame_ms(pool.feed_many, joints):.3f} ms/frame")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 << 20, log_to_driver=False)
    try:
        be = RayBackend(WorkerSpec(model, d, provider="cpu"), ClusterConfig(workers=2))
        n = 300
        t0 = time.perf_counter()
        for _ in range(n):
            ray.get(be.actors[0].ping.remote())
        print(f"empty actor call round trip: {(time.perf_counter() - t0) * 1000 / n:.3f} ms")
        pool = WorkerPool(be, d)

        def sync() -> None:
            while pool.pending:
                pool.poll(0.05)

        print(f"workers=2 Ray, synchronous per batch of {STREAMS}: {per_frame_ms(pool.feed_many, joints, sync):.3f} "
              "ms/frame")  # fmt: skip
        print(f"  call round trip p50 {np.percentile(pool.call_ms, 50):.2f} ms, p99 "
              f"{np.percentile(pool.call_ms, 99):.2f} ms ({STREAMS // 2} frames per call)")  # fmt: skip
        pool.close_all("shutdown")
        pool = WorkerPool(be, d)
        print(f"workers=2 Ray, pipelined (depth 2): {per_frame_ms(pool.feed_many, joints):.3f} ms/frame")
        sync()
        pool.close_all("shutdown")
        pool = WorkerPool(be, d)
        ms, frames = paced_front_cpu(pool, joints)
        print(f"workers=2 Ray, paced ({PACED_STREAMS} streams at {PACED_FPS:.0f} fps, {PACED_S:.0f} s, poll every 1 ms): "
              f"front CPU {ms:.3f} ms/frame ({frames} frames, {sum(pool.sent_frames) / sum(pool.sent_calls):.2f} "
              "frames per call)")  # fmt: skip
        pool.close()
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
