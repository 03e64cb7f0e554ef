"""Load generation for `skelact bench`: runtime and publisher processes on loopback.

Publishers send synthetic 30-fps pose streams with ``t`` = their wall clock at send
(``time.time()``), non-blocking with a send high-water mark, counting what they could
not send. The runtime publishes per-frame scores; the subscriber (the bench process)
measures latency as its receive time minus ``t``: frame send -> score decision,
transport both ways included. Each process reports its CPU time.

With ``workers`` > 1 the runtime process is the front of ``serve --workers N`` (a
``WorkerPool`` on a private local Ray, built as ``serve`` builds it) and its workers are
Ray actor processes: their CPU, and that of Ray's own processes (GCS, raylet, agents),
is read from ``/proc`` over the same load window (Linux; elsewhere the workers' own
``cpu_s`` from the pool's status, sampled at its last tick, and no Ray system figure).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections import defaultdict

import numpy as np

SUB_WARMUP_S = 0.5
STATUS_INTERVAL_S = 0.5


def _make_pool(model: str, provider: str, workers: int):
    """The same pool ``skelact serve --workers N`` builds (``tools/serve.py:_pool``): N Ray
    actors on a private local Ray with ``num_cpus=N``."""
    from skelact.stream.cluster import ClusterConfig, RayBackend
    from skelact.stream.detector import DetectorConfig
    from skelact.stream.workers import WorkerPool, WorkerSpec

    dcfg = DetectorConfig(scores=True)
    spec = WorkerSpec(model, dcfg, provider=provider, threads=1)
    return WorkerPool(RayBackend(spec, ClusterConfig(workers=workers)), dcfg)


def runtime_proc(model: str, provider: str, in_ep: str, out_ep: str, ready, stop, result, batch_wait_ms: float | None,
                 window, workers: int = 1) -> None:  # fmt: skip
    import logging

    logging.disable(logging.INFO)
    from skelact.stream.detector import DetectorConfig
    from skelact.stream.engine import Engine
    from skelact.stream.runtime import Runtime, RuntimeConfig

    eng = Engine(model, provider=provider)
    pool = None
    if workers > 1:
        try:
            pool = _make_pool(model, provider, workers)
        except Exception as e:  # noqa: BLE001 - ClusterError, or Ray failing to start: the bench reports it
            ready.put(("error", f"{type(e).__name__}: {e}"))
            return
    cfg = RuntimeConfig(in_endpoint=in_ep, out_endpoint=out_ep, detector=DetectorConfig(scores=True),
                        batch_wait_ms=RuntimeConfig.batch_wait_ms if batch_wait_ms is None else batch_wait_ms,
                        status_interval_s=STATUS_INTERVAL_S,
                        publish_every=0 if pool is not None else RuntimeConfig.publish_every)  # fmt: skip
    rt = Runtime(eng, cfg, core=pool)
    rt.bind()
    ready.put((rt.in_endpoint, rt.out_endpoint))
    import threading

    th = threading.Thread(target=rt.run, daemon=True)
    th.start()
    t0, t1 = window.get()  # the publishers' load window (wall clock): CPU is sampled at its ends
    sample = _sample_between(t0, t1, rt.counters, pool)
    stop.wait()
    rt.stop()  # sets the flag only: this function started the thread
    th.join(15.0)  # its shutdown asks every worker to close its streams
    per_worker = pool.worker_status() if pool is not None else []
    result.put({**sample, **rt.counters, "infer_ms": list(rt.core.infer_ms),
                "frames_by_worker": {str(w["worker"]): w["frames"] for w in per_worker},
                "worker_restarts": sum(w["restarts"] for w in per_worker)})  # fmt: skip
    if pool is not None:
        pool.close()  # the actors go, and the local Ray this process started


def frames_processed(counters: dict) -> int:
    """Frames the runtime took in and did not reject or drop (read from another thread:
    plain ints, a snapshot is good enough)."""
    return counters["frames_in"] - counters["frames_rejected"] - counters["frames_dropped"]


def stat_cpu(path: str) -> tuple[int, float] | None:
    """(parent pid, CPU seconds user + system) from a ``/proc/<pid>/stat`` or
    ``/proc/<pid>/task/<tid>/stat`` file (Linux); None when it is gone."""
    try:
        with open(path, "rb") as f:
            s = f.read()
    except OSError:
        return None
    r = s[s.rindex(b")") + 2 :].split()  # after the command name, which may hold spaces
    return int(r[1]), (int(r[11]) + int(r[12])) / os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds user + system) of every process, from ``/proc``
    (Linux); {} where there is none."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return {}
    out = {}
    for d in names:
        if d.isdigit() and (st := stat_cpu(f"/proc/{d}/stat")) is not None:  # None: gone meanwhile
            out[int(d)] = st
    return out


def descendants_cpu(root: int) -> dict[int, float]:
    """CPU seconds so far of every descendant process of ``root`` (not ``root`` itself)."""
    table = _proc_table()
    kids: dict[int, list[int]] = defaultdict(list)
    for pid, (ppid, _) in table.items():
        kids[ppid].append(pid)
    out: dict[int, float] = {}
    todo = list(kids[root])
    while todo:
        p = todo.pop()
        out[p] = table[p][1]
        todo += kids[p]
    return out


def _worker_pids(pool) -> dict[int, int]:
    """pid -> worker index: where each actor started, and where it runs now (a restarted
    actor has a new process)."""
    pids = {int(d.get("pid", 0)): w for w, d in enumerate(pool.backend.placement)}
    pids.update({int(s["pid"]): s["worker"] for s in pool.worker_status() if s["pid"]})
    return pids


def _sample_between(t0: float, t1: float, counters: dict, pool=None) -> dict:
    """CPU seconds between wall-clock times t0 and t1 of this (the front/runtime) process,
    all threads, and, with a worker ``pool``, of each worker process and of Ray's own
    processes; and the frames the runtime processed meanwhile."""
    time.sleep(max(0.0, t0 - time.time()))
    c0 = time.process_time()
    f0 = frames_processed(counters)
    d0 = descendants_cpu(os.getpid()) if pool is not None else {}
    s0 = pool.worker_status() if pool is not None and not d0 else []
    time.sleep(max(0.0, t1 - time.time()))
    cpu = time.process_time() - c0
    frames = frames_processed(counters) - f0
    by = {"front": cpu}
    if pool is not None:
        if d0:  # /proc: every process under this one, exactly over the window
            d1 = descendants_cpu(os.getpid())
            wp = _worker_pids(pool)
            workers = [0.0] * pool.n
            ray_system = 0.0
            for pid, c in d1.items():
                used = c - d0.get(pid, 0.0)  # a process started inside the window counts whole
                if pid in wp:
                    workers[wp[pid]] += used
                else:
                    ray_system += used
        else:  # the workers' own counters, as of the last status tick
            s1 = pool.worker_status()
            workers = [max(0.0, b["cpu_s"] - a["cpu_s"]) for a, b in zip(s0, s1)]
            ray_system = None
        by.update({f"worker{w}": c for w, c in enumerate(workers)})
        if ray_system is not None:
            by["ray_system"] = ray_system
    return {"cpu_s": cpu, "cpu_s_by_process": by, "window_frames": frames,
            "runtime_cpu_s": cpu + sum(v for k, v in by.items() if k.startswith("worker"))}  # fmt: skip


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
            publishers: int = 1, batch_wait_ms: float | None = None, workers: int = 1) -> dict:  # fmt: skip
    """One end-to-end trial; returns latency percentiles (ms), drops and CPU shares.
    ``workers`` > 1: the runtime is a front with N Ray workers (as ``serve --workers N``).
    Raises RuntimeError when the runtime cannot start (e.g. Ray fails to)."""
    import zmq

    from skelact.stream import protocol as P
    from skelact.stream.client import sub_socket

    ctx = mp.get_context("spawn")
    ready, result, window = ctx.Queue(), ctx.Queue(), ctx.Queue()
    stop = ctx.Event()
    rt = ctx.Process(target=runtime_proc, args=(model, provider, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*",
                                                ready, stop, result, batch_wait_ms, window, workers),
                     daemon=True)  # fmt: skip
    rt.start()
    got = ready.get(timeout=60 if workers == 1 else 180)  # a local Ray takes seconds to start
    if got[0] == "error":
        rt.join(10)
        raise RuntimeError(f"the runtime with {workers} workers did not start: {got[1]}")
    in_ep, out_ep = got
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
    rt.join(10 if workers == 1 else 30)  # the front stops its actors and its local Ray
    for p in pubs:
        p.join(5)
    sub.close()
    zctx.term()
    sent = sum(s["sent"] for s in stats)
    pub_dropped = sum(s["dropped"] for s in stats)
    a = np.asarray(lat) if lat else np.asarray([np.nan])
    lost = max(0, sent - received)
    gen_cpu = sum(s["cpu_s"] for s in stats)
    by = {**rts["cpu_s_by_process"], "load_generator": gen_cpu, "subscriber": sub_cpu}
    return {
        "streams": streams, "fps": fps, "duration_s": duration, "workers": workers,
        "frames_sent": sent, "scores_received": received,
        "e2e_ms_p50": float(np.percentile(a, 50)), "e2e_ms_p99": float(np.percentile(a, 99)),
        "e2e_ms_max": float(np.max(a)),
        "frames_dropped": int(pub_dropped + rts["frames_dropped"] + lost),
        "dropped_at_publisher": int(pub_dropped), "dropped_at_runtime": int(rts["frames_dropped"]),
        "frames_without_scores": int(lost),
        # CPU seconds per second of the load window (1.0 = one core busy); the runtime is
        # the front plus its workers
        "runtime_cpu_share": rts["runtime_cpu_s"] / duration,
        # runtime CPU milliseconds (front + workers) per frame it processed over the load window
        "runtime_cpu_ms_per_frame": rts["runtime_cpu_s"] * 1000.0 / max(1, rts["window_frames"]),
        "load_generator_cpu_share": gen_cpu / duration,
        "subscriber_cpu_share": sub_cpu / duration,
        # CPU seconds over the load window, per process (front, worker<i>, ray_system,
        # load_generator, subscriber)
        "cpu_s_by_process": by,
        "frames_by_worker": rts["frames_by_worker"], "worker_restarts": rts["worker_restarts"],
        "infer_ms_per_frame_p50": float(np.percentile(rts["infer_ms"], 50)) if rts["infer_ms"] else None,
    }  # fmt: skip
