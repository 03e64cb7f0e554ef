"""Load generation for `skelact bench`: runtime and publisher processes on loopback.

Publishers send synthetic 30-fps pose streams with ``t`` = their wall clock at send
(``time.time()``), non-blocking with a send high-water mark, counting what they could
not send. The runtime publishes per-frame scores; the subscriber (the bench process)
measures latency as its receive time minus ``t``: frame send -> score decision,
transport both ways included. Each process reports its CPU time.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time

import numpy as np

SUB_WARMUP_S = 0.5


def runtime_proc(model: str, provider: str, in_ep: str, out_ep: str, ready, stop, result, batch_wait_ms: float,
                 window) -> None:  # fmt: skip
    import logging

    logging.disable(logging.INFO)
    from skelact.stream.detector import DetectorConfig
    from skelact.stream.engine import Engine
    from skelact.stream.runtime import Runtime, RuntimeConfig

    eng = Engine(model, provider=provider)
    cfg = RuntimeConfig(in_endpoint=in_ep, out_endpoint=out_ep, detector=DetectorConfig(scores=True),
                        batch_wait_ms=batch_wait_ms, status_interval_s=0.5)  # fmt: skip
    rt = Runtime(eng, cfg)
    rt.bind()
    ready.put((rt.in_endpoint, rt.out_endpoint))
    import threading

    th = threading.Thread(target=rt.run, daemon=True)
    th.start()
    t0, t1 = window.get()  # the publishers' load window (wall clock): CPU is sampled at its ends
    cpu, frames = _cpu_between(t0, t1, rt.counters)
    stop.wait()
    rt.stop()
    result.put({"cpu_s": cpu, "window_frames": frames, **rt.counters, "infer_ms": list(rt.core.infer_ms)})


def _frames_processed(counters: dict) -> int:
    """Frames the runtime took in and did not reject or drop (read from another thread:
    plain ints, a snapshot is good enough)."""
    return counters["frames_in"] - counters["frames_rejected"] - counters["frames_dropped"]


def _cpu_between(t0: float, t1: float, counters: dict | None = None) -> tuple[float, int]:
    """This process's CPU seconds (all threads) between wall-clock times t0 and t1, and
    the frames the runtime processed meanwhile (0 without ``counters``)."""
    time.sleep(max(0.0, t0 - time.time()))
    c0 = time.process_time()
    f0 = _frames_processed(counters) if counters is not None else 0
    time.sleep(max(0.0, t1 - time.time()))
    cpu = time.process_time() - c0
    return cpu, (_frames_processed(counters) - f0 if counters is not None else 0)


def publisher_proc(endpoint: str, streams: list[str], fps: float, duration: float, start_at: float, result) -> None:
    import zmq

    from skelact.stream import protocol as P
    from skelact.stream.client import push_socket
    from skelact.stream.synthetic import make_sequence

    ctx = zmq.Context()
    sock = push_socket(ctx, endpoint, hwm=1000, linger_ms=0)
    seq = make_sequence("bench", num_frames=600, seed=os.getpid() % 1000)
    joints = np.ascontiguousarray(seq.joints, dtype=np.float32)
    sent = dropped = 0
    c0 = time.process_time()
    while time.time() < start_at:
        time.sleep(0.001)
    n_frames = int(duration * fps)
    for k in range(n_frames):
        due = start_at + k / fps
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        for s in streams:
            parts = P.encode_pose(s, k, time.time(), "kinect20", joints[k % len(joints)])
            try:
                sock.send_multipart(parts, zmq.NOBLOCK)
                sent += 1
            except zmq.Again:
                dropped += 1
    for s in streams:
        try:
            sock.send_multipart(P.encode_eos(s), zmq.NOBLOCK)
        except zmq.Again:
            pass
    result.put({"sent": sent, "dropped": dropped, "cpu_s": time.process_time() - c0})
    sock.close()
    ctx.term()


def run_e2e(model: str, streams: int, fps: float, duration: float, provider: str = "cpu",
            publishers: int = 1, batch_wait_ms: float = 0.0) -> dict:  # fmt: skip
    """One end-to-end trial; returns latency percentiles (ms), drops and CPU shares."""
    import zmq

    from skelact.stream import protocol as P
    from skelact.stream.client import sub_socket

    ctx = mp.get_context("spawn")
    ready, result, window = ctx.Queue(), ctx.Queue(), ctx.Queue()
    stop = ctx.Event()
    rt = ctx.Process(target=runtime_proc, args=(model, provider, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*",
                                                ready, stop, result, batch_wait_ms, window), daemon=True)  # fmt: skip
    rt.start()
    in_ep, out_ep = ready.get(timeout=60)
    zctx = zmq.Context()
    sub = sub_socket(zctx, out_ep, ["scores/", P.STATUS_TOPIC], hwm=0)  # unbounded: every score is measured
    names = [f"s{i:04d}" for i in range(streams)]
    groups = [names[i::publishers] for i in range(publishers)]
    start_at = time.time() + 1.5 + 0.02 * streams
    window.put((start_at, start_at + duration))
    pubs = [ctx.Process(target=publisher_proc, args=(in_ep, g, fps, duration, start_at, result), daemon=True)
            for g in groups if g]  # fmt: skip
    for p in pubs:
        p.start()
    lat: list[float] = []
    received = 0
    end = start_at + duration + 2.0
    c0 = c1 = None
    while time.time() < end:
        now = time.time()
        if c0 is None and now >= start_at:
            c0 = time.process_time()
        if c1 is None and now >= start_at + duration:
            c1 = time.process_time()
        if not sub.poll(20):
            continue
        parts = sub.recv_multipart()
        now = time.time()
        topic, body = P.decode_pub(parts)
        if topic.startswith("scores/"):
            received += 1
            if body["t"] >= start_at + SUB_WARMUP_S:
                lat.append((now - body["t"]) * 1000.0)
    sub_cpu = (c1 or time.process_time()) - (c0 or 0.0)
    stats = [result.get(timeout=30) for _ in pubs]
    stop.set()
    rts = result.get(timeout=30)
    rt.join(10)
    for p in pubs:
        p.join(5)
    sub.close()
    zctx.term()
    sent = sum(s["sent"] for s in stats)
    pub_dropped = sum(s["dropped"] for s in stats)
    a = np.asarray(lat) if lat else np.asarray([np.nan])
    lost = max(0, sent - received)
    return {
        "streams": streams, "fps": fps, "duration_s": duration,
        "frames_sent": sent, "scores_received": received,
        "e2e_ms_p50": float(np.percentile(a, 50)), "e2e_ms_p99": float(np.percentile(a, 99)),
        "e2e_ms_max": float(np.max(a)),
        "frames_dropped": int(pub_dropped + rts["frames_dropped"] + lost),
        "dropped_at_publisher": int(pub_dropped), "dropped_at_runtime": int(rts["frames_dropped"]),
        "frames_without_scores": int(lost),
        # CPU seconds per second of the load window (1.0 = one core busy)
        "runtime_cpu_share": rts["cpu_s"] / duration,
        # runtime CPU milliseconds per frame it processed over the load window
        "runtime_cpu_ms_per_frame": rts["cpu_s"] * 1000.0 / max(1, rts["window_frames"]),
        "load_generator_cpu_share": sum(s["cpu_s"] for s in stats) / duration,
        "subscriber_cpu_share": sub_cpu / duration,
        "infer_ms_per_frame_p50": float(np.percentile(rts["infer_ms"], 50)) if rts["infer_ms"] else None,
    }  # fmt: skip
