"""The multi-worker front (``stream/workers.py``) without Ray: N detection cores in this
process behind a ``WorkerPool``, over real loopback sockets and real ONNX Runtime. The Ray
backend is tested in test_cluster*.py."""

from __future__ import annotations

import collections
import dataclasses
import subprocess
import sys
import time

import numpy as np
from harness import Harness

from skelact.stream import protocol as P
from skelact.stream.detector import DetectorConfig, Input, Outgoing
from skelact.stream.engine import Engine
from skelact.stream.offline import detect_sequence
from skelact.stream.protocol import EndOfStream, PoseFrame
from skelact.stream.runtime import Runtime, RuntimeConfig
from skelact.stream.synthetic import make_sequence
from skelact.stream.workers import (
    InProcessBackend,
    Reply,
    WorkerCore,
    WorkerPool,
    WorkerSpec,
    pack_inputs,
    pack_reply,
    shard_of,
    unpack_inputs,
    unpack_reply,
)

WALL = {"emitted_at", "latency_ms", "event_id"}
J = make_sequence("x", num_frames=60, seed=3).joints[:, 0]


def _strip(events):
    return [{k: v for k, v in e.items() if k not in WALL} for e in events]


def _pool(model, workers=2, **det) -> tuple[WorkerPool, InProcessBackend]:
    d = DetectorConfig(**det)
    be = InProcessBackend(WorkerSpec(str(model), d, provider="cpu"), workers)
    return WorkerPool(be, d), be


def _frame(stream, seq, t=None):
    return PoseFrame(stream, seq, seq / 30.0 if t is None else t, "kinect_v1_20",
                     np.ascontiguousarray(J[seq % len(J)][None], np.float32), (0,))  # fmt: skip


def test_shard_is_stable_and_spreads():
    # fixed forever: a restarted front (or another machine) must place a stream identically
    assert [shard_of(s, 2) for s in ("cam0", "cam1", "cam2", "cam3", "golden")] == [1, 0, 1, 1, 0]
    assert [shard_of(s, 3) for s in ("cam0", "cam1", "cam2", "cam3")] == [shard_of(s, 3) for s in
                                                                           ("cam0", "cam1", "cam2", "cam3")]  # fmt: skip
    counts = collections.Counter(shard_of(f"s{i:05d}", 4) for i in range(4000))
    assert set(counts) == {0, 1, 2, 3} and min(counts.values()) > 900
    code = "from skelact.stream.workers import shard_of; print([shard_of(f'cam{i}', 7) for i in range(9)])"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert other.stdout.strip() == str([shard_of(f"cam{i}", 7) for i in range(9)])  # not salted per process


def test_packed_wire_form_round_trips_every_field():
    """What crosses to a Ray worker and back (one bytes object each way) rebuilds the same
    inputs and replies: every PoseFrame field, joints bit for bit (shape, dtype, NaN),
    read-only as decoded frames are; eos items; Outgoing and the reply's lists and stats."""
    assert [f.name for f in dataclasses.fields(PoseFrame)] == ["stream", "seq", "t", "layout", "joints", "tracks",
                                                               "units"]  # a new field must be packed too  # fmt: skip
    j2 = np.arange(2 * 25 * 4, dtype=np.float32).reshape(2, 25, 4)
    j2[1, 3, 0] = np.nan
    items = [Input(_frame("cam0", 7), 1.5, 1.25), Input(EndOfStream("cam1"), 2.0, None),
             Input(PoseFrame("cam2", 3, 0.1, "kinect_v2_25", j2[:, :, :].copy(), (4, 9), "norm"), 2.5, 2.25, True),
             Input(PoseFrame("cam3", 1, 0.0, "kinect_v1_20", np.zeros((1, 20, 3), np.float64), (0,)), 3.0, 3.0),
             Input(_frame("cam0", 8), 3.5, 3.25)]  # fmt: skip
    back = unpack_inputs(pack_inputs(items))
    assert len(back) == len(items)
    for a, b in zip(items, back):
        assert type(b) is Input and (a.now, a.arrival, a.after_drop) == (b.now, b.arrival, b.after_drop)
        assert type(b.msg) is type(a.msg)
        for f in dataclasses.fields(a.msg):
            x, y = getattr(a.msg, f.name), getattr(b.msg, f.name)
            if f.name == "joints":
                assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
                assert not y.flags.writeable
            else:
                assert x == y and type(x) is type(y)
    out = [Outgoing("scores", "cam0", P.scores_body("cam0", 0, 7, 0.25, [0.1, 0.9]), 1.25),
           Outgoing("reject", "", {"reason": "too_many_streams", "detail": "x"}, 2.0)]  # fmt: skip
    r = unpack_reply(pack_reply(Reply(out, ("cam0",), ("cam1", "cam2"), {"worker": 1, "infer_ms": [0.5]})))
    assert r == Reply(out, ("cam0",), ("cam1", "cam2"), {"worker": 1, "infer_ms": [0.5]})
    assert unpack_reply(pack_reply(Reply([]))) == Reply([])


def test_packed_feed_equals_direct_feed(step_model):
    """A worker fed through the wire form says exactly what one fed the objects says."""
    spec = WorkerSpec(str(step_model), DetectorConfig(scores=True), provider="cpu")
    direct, packed = WorkerCore(spec), WorkerCore(spec)
    for k in range(40):
        batch = [Input(_frame(f"cam{i}", k), k / 30.0, k / 30.0) for i in range(3)]
        if k == 30:
            batch.append(Input(EndOfStream("cam1"), 1.0, 1.0))
        a = direct.feed(batch)
        b = unpack_reply(pack_reply(packed.feed(unpack_inputs(pack_inputs(batch)))))
        assert (a.out, set(a.added), set(a.removed)) == (b.out, set(b.added), set(b.removed))


def test_pool_runtime_equals_detect_on_every_stream(step_model):
    """Six streams over real sockets, sharded over two in-process workers: each stream's
    events equal the offline detector's, whatever else its worker ran."""
    names = ["cam0", "cam1", "cam2", "cam3", "cam-a", "golden"]
    assert {shard_of(s, 2) for s in names} == {0, 1}
    seqs = {s: make_sequence(s, num_frames=300, seed=i) for i, s in enumerate(names)}
    offline = {s: detect_sequence(Engine(step_model), q, stream=s) for s, q in seqs.items()}
    pool, _be = _pool(step_model)
    cfg = RuntimeConfig(in_endpoint="tcp://127.0.0.1:*", out_endpoint="tcp://127.0.0.1:*", status_interval_s=0.2,
                        max_age_ms=0.0)  # fmt: skip
    h = Harness(Runtime(Engine(step_model), cfg, core=pool))
    try:
        total = h.replay_interleaved(seqs, 20.0)
        assert total
    finally:
        h.close()
    for s in names:
        assert _strip([b for b in h.bodies("event/") if b["stream"] == s]) == _strip(offline[s]), s
    st = h.bodies("status")[-1]
    P.validate_body(st)
    assert [w["worker"] for w in st["workers"]] == [0, 1]
    assert sum(w["frames"] for w in st["workers"]) == total and all(w["frames"] > 0 for w in st["workers"])


def test_stream_cap_is_global_across_workers(step_model):
    pool, _be = _pool(step_model, max_streams=2)
    a, b, c = "cam1", "cam0", "cam2"  # workers 0, 1, 1
    assert [shard_of(s, 2) for s in (a, b, c)] == [0, 1, 1]
    rej = lambda out: [o.body["reason"] for o in out if o.kind == "reject"]  # noqa: E731
    assert rej(pool.feed_many([Input(_frame(a, 0), 0.0, 0.0), Input(_frame(b, 0), 0.0, 0.0)])) == []
    assert rej(pool.feed_many([Input(_frame(c, 0), 0.0, 0.0)])) == ["too_many_streams"]
    assert set(pool.streams) == {a, b}
    pool.feed_many([Input(EndOfStream(a), 0.0, 0.0)])
    assert not pool.has_stream(a)
    assert rej(pool.feed_many([Input(_frame(c, 0), 0.0, 0.0)])) == []
    assert set(pool.streams) == {b, c}
    # a stream refused by its worker (too many tracks) is not counted as live by the front
    many = PoseFrame("cam3", 0, 0.0, "kinect_v1_20", np.repeat(J[:1], 3, axis=0), (0, 1, 2))
    pool2, _ = _pool(step_model, max_tracks=2)
    assert rej(pool2.feed_many([Input(many, 0.0, 0.0)])) == ["too_many_tracks"]
    assert not pool2.has_stream("cam3")


def _run_until_start(pool, names, k_max=80):
    out = []
    for k in range(k_max):
        out += pool.feed_many([Input(_raise(s, k), 0.0, 0.0) for s in names])
    return [o.body for o in out if o.kind == "event"]


RAISE = make_sequence("r", num_frames=300, seed=1)  # raises its left arm over frames 35-80


def _raise(stream, k):
    return PoseFrame(stream, k, k / 30.0, "kinect_v1_20", np.ascontiguousarray(RAISE.joints[k], np.float32), (0,))


def test_lost_worker_ends_its_open_actions_with_reset_and_streams_continue(step_model):
    pool, be = _pool(step_model)
    names = ["cam0", "cam1"]  # workers 1 and 0
    started = _run_until_start(pool, names, 60)
    assert {e["stream"] for e in started if e["type"] == "start"} == set(names)
    be.kill(1)  # cam0's worker loses its state
    out = pool.feed_many([Input(_raise(s, 60), 0.0, 0.0) for s in names])
    ends = [o.body for o in out if o.kind == "event" and o.body["type"] == "end"]
    assert [(e["stream"], e["reason"]) for e in ends] == [("cam0", "reset")]
    e = ends[0]
    P.validate_event(e)
    start = next(s for s in started if s["stream"] == "cam0")
    assert e["event_id"] == start["event_id"] and e["seq"] == 60 and e["t_start"] == start["t"]
    assert e["n"] == start["n"] + 1
    assert pool.restarts == [0, 1]
    # the stream carries on from fresh state in the restarted worker
    later = _run_until_start(pool, ["cam0"], 1) + [o.body for k in range(62, 200) for o in
                                                   pool.feed_many([Input(_raise("cam0", k), 0.0, 0.0)])]  # fmt: skip
    assert pool.has_stream("cam0")
    del later


def test_shutdown_ends_every_open_action_even_of_a_lost_worker(step_model):
    pool, be = _pool(step_model)
    names = ["cam0", "cam1", "cam2"]  # workers 1, 0, 1
    started = [e for e in _run_until_start(pool, names, 60) if e["type"] == "start"]
    assert len(started) == 3
    be.kill(1)  # dies unnoticed: the front ends its actions from its own bookkeeping
    t0 = time.monotonic()
    ends = [o.body for o in pool.close_all("shutdown") if o.kind == "event"]
    assert time.monotonic() - t0 < 5.0
    assert sorted((e["stream"], e["reason"]) for e in ends) == [(s, "shutdown") for s in sorted(names)]
    assert {e["event_id"] for e in ends} == {e["event_id"] for e in started}
    assert pool.streams == {}


def test_single_worker_serve_path_imports_no_ray():
    code = ("import sys\nimport skelact.tools.serve, skelact.stream.runtime, skelact.stream.workers, "
            "skelact.stream.cluster\nfrom skelact.tools.serve import build_parser\nbuild_parser()\n"
            "print('ray' in sys.modules)")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "False", r.stderr


def test_workers_without_ray_is_one_line_and_exit_2():
    code = ("import sys\nsys.modules['ray'] = None  # as if skelact[cluster] were not installed\n"
            "from skelact.tools.cli import main\n"
            "sys.exit(main(['serve', '--workers', '2', '--in', 'tcp://127.0.0.1:*', '--out', 'tcp://127.0.0.1:*']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "skelact[cluster]" in lines[0], r.stderr
