"""Workers as Ray actors (``stream/cluster.py``) behind the real runtime: local Ray with
a small object store and no dashboard, real loopback sockets, real ONNX Runtime in every
worker. Skipped without Ray (``pip install 'skelact[cluster]'``)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import zmq
from harness import Harness

from skelact.stream import protocol as P
from skelact.stream.detector import DetectorConfig
from skelact.stream.engine import Engine
from skelact.stream.offline import detect_sequence
from skelact.stream.runtime import Runtime, RuntimeConfig
from skelact.stream.sources.replay import sequence_messages
from skelact.stream.synthetic import make_sequence
from skelact.stream.workers import WorkerPool, WorkerSpec, shard_of

ray = pytest.importorskip("ray", reason="needs Ray: pip install 'skelact[cluster]'")

from skelact.stream.cluster import ClusterConfig, RayBackend  # noqa: E402

WALL = {"emitted_at", "latency_ms", "event_id"}


@pytest.fixture(scope="module")
def ray_local():
    """One private local Ray for the module (starting one takes seconds); stopped after."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=4, include_dashboard=False, object_store_memory=80 << 20, log_to_driver=False,
             configure_logging=False)  # fmt: skip
    yield
    ray.shutdown()


def ray_runtime(model, pools: list, workers: int = 2, max_age_ms: float = 0.0, status_interval_s: float = 0.2,
                **det) -> Runtime:  # fmt: skip
    """A Runtime whose accepted frames run in ``workers`` Ray actors; the pool is appended
    to ``pools`` so the caller can close it."""
    d = DetectorConfig(**det)
    pool = WorkerPool(RayBackend(WorkerSpec(str(model), d, provider="cpu"), ClusterConfig(workers=workers)), d)
    pools.append(pool)
    cfg = RuntimeConfig(in_endpoint="tcp://127.0.0.1:*", out_endpoint="tcp://127.0.0.1:*", detector=d,
                        status_interval_s=status_interval_s, max_age_ms=max_age_ms)  # fmt: skip
    return Runtime(Engine(model), cfg, core=pool)


def _strip(events):
    return [{k: v for k, v in e.items() if k not in WALL} for e in events]


def _paired(events) -> bool:
    open_ids: set[str] = set()
    for e in events:
        if e["type"] == "start":
            if e["event_id"] in open_ids:
                return False
            open_ids.add(e["event_id"])
        elif e["event_id"] not in open_ids:
            return False
        else:
            open_ids.remove(e["event_id"])
    return not open_ids


def test_ray_workers_equal_detect_and_report_each_worker(ray_local, step_model):
    names = ["cam0", "cam1", "cam2", "cam3"]  # workers 1, 0, 1, 1
    seqs = {s: make_sequence(s, num_frames=300, seed=i) for i, s in enumerate(names)}
    offline = {s: detect_sequence(Engine(step_model), q, stream=s) for s, q in seqs.items()}
    pools: list[WorkerPool] = []
    h = Harness(ray_runtime(step_model, pools))
    try:
        assert h.replay_interleaved(seqs, 30.0)
        h.poll(0.5)  # a status after the last expire carries the workers' stats
    finally:
        h.close()
        for p in pools:
            p.close()
    for s in names:
        assert _strip([b for b in h.bodies("event/") if b["stream"] == s]) == _strip(offline[s]), s
    st = h.bodies("status")[-1]
    P.validate_body(st)
    pids = {w["pid"] for w in st["workers"]}
    assert len(pids) == 2 and os.getpid() not in pids
    assert [w["frames"] for w in st["workers"]] == [301, 903]  # cam1 / cam0, cam2, cam3 (+ eos each)


def test_killed_worker_ends_open_actions_with_reset_and_recovers_fast(ray_local, step_model):
    """A worker process killed mid-action: each open action of its streams ends with reset,
    the other worker's streams are untouched, and its streams score again (the time it took
    is printed; docs/scaling.md has the figures: the bound here only guards against a hang,
    since a loaded machine restarts a Ray worker slower)."""
    names = ["cam0", "cam1", "cam2", "cam3"]
    victim = 1
    killed = [s for s in names if shard_of(s, 2) == victim]
    pools: list[WorkerPool] = []
    rt = ray_runtime(step_model, pools, scores=True)
    h = Harness(rt)
    seq = make_sequence("s", num_frames=1500, seed=1)  # raises its left arm over frames 35-80
    msgs = {s: list(sequence_messages(seq, s, eos=False)) for s in names}
    stop = threading.Event()

    def paced():  # four cameras at 30 fps
        push = h.ctx.socket(zmq.PUSH)
        push.linger = 0
        push.connect(rt.in_endpoint)
        t0 = time.monotonic()
        for k in range(1500):
            while time.monotonic() < t0 + k / 30 and not stop.is_set():
                time.sleep(0.002)
            if stop.is_set():
                break
            for s in names:
                push.send_multipart(msgs[s][k][1])
        push.close(0)

    th = threading.Thread(target=paced, daemon=True)
    th.start()
    recovered = None
    try:
        assert h.wait_for(lambda: {b["stream"] for b in h.bodies("event/") if b["type"] == "start"} == set(names), 10)
        t_kill = time.monotonic()
        pools[0].backend.kill(victim)

        def back() -> bool:
            resets = {b["stream"] for b in h.bodies("event/") if b.get("reason") == "reset"}
            if resets != set(killed):
                return False
            i = max(i for i, (t, b) in enumerate(h.received) if b.get("reason") == "reset")
            return any(t.startswith("scores/") and b["stream"] in killed for t, b in h.received[i + 1:])

        assert h.wait_for(back, 40.0)
        recovered = time.monotonic() - t_kill
        stop.set()
        th.join(5)
    finally:
        stop.set()
        h.close()
        for p in pools:
            p.close()
    print(f"\nkilled worker: its streams scored again after {recovered:.2f} s")
    ev = h.bodies("event/")
    for s in names:
        mine = [e for e in ev if e["stream"] == s]
        assert _paired(mine), s
        first_end = next(e for e in mine if e["type"] == "end")
        assert first_end["reason"] == ("reset" if s in killed else "score"), (s, first_end)
    for e in ev:
        P.validate_event(e)


def test_serve_cli_with_two_workers_ends_every_action_on_sigterm(step_model, tmp_path):
    """The real `skelact serve --workers 2` (its own local Ray): frames in, SIGTERM while
    actions are open -> every start gets its end with reason shutdown, and it exits 0."""
    if ray.is_initialized():
        ray.shutdown()
    cmd = [sys.executable, "-m", "skelact.tools.cli", "serve", "--model", str(step_model), "--workers", "2",
           "--in", "tcp://127.0.0.1:*", "--out", "tcp://127.0.0.1:*", "--max-age-ms", "0"]  # fmt: skip
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ctx = zmq.Context.instance()
    sub = push = None
    got: list[tuple[str, dict]] = []
    try:
        line = ""
        while "serving on" not in line:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "serve exited early"
            assert time.monotonic() - t0 < 90, "serve did not start"
        started_s = time.monotonic() - t0
        in_ep, out_ep = re.findall(r"tcp://[\d.]+:\d+", line)
        sub = ctx.socket(zmq.SUB)
        sub.linger = 0
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(out_ep)
        push = ctx.socket(zmq.PUSH)
        push.linger = 0
        push.connect(in_ep)

        def wait(pred, timeout):
            end = time.monotonic() + timeout
            while time.monotonic() < end and not pred():
                if sub.poll(50):
                    got.append(P.decode_pub(sub.recv_multipart()))
            return pred()

        assert wait(lambda: any(t == "status" for t, _ in got), 10)
        seq = make_sequence("s", num_frames=300, seed=1)
        names = ["cam0", "cam1"]  # one per worker
        for k in range(60):  # up to mid-action: every stream has an open action
            for s in names:
                push.send_multipart(list(sequence_messages(seq, s, eos=False))[k][1])
        assert wait(lambda: sum(b.get("type") == "start" for t, b in got) == 2, 20)
        proc.send_signal(signal.SIGTERM)
        assert wait(lambda: sum(b.get("reason") == "shutdown" for t, b in got) == 2, 15)
        rc = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        for s in (sub, push):
            if s is not None:
                s.close(0)
    print(f"\nserve --workers 2 was serving after {started_s:.1f} s")
    assert rc == 0
    ev = [b for t, b in got if t.startswith("event/")]
    assert sorted((e["stream"], e["type"], e.get("reason")) for e in ev) == [
        ("cam0", "end", "shutdown"), ("cam0", "start", None), ("cam1", "end", "shutdown"), ("cam1", "start", None)]
