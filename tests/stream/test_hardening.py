"""What an outside tester broke, each reproduced first and held now: a crash from a valid
``t``, gap-filling CPU amplification, state memory that never came back, caps, overload
fairness and the age budget, and stream ownership under CURVE. Real sockets on random
loopback ports and real ONNX Runtime sessions throughout."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from contextlib import contextmanager

import numpy as np
import pytest
import zmq
from harness import Harness

from skelact.stream import protocol as P
from skelact.stream import security as S
from skelact.stream.assets import default_model_path
from skelact.stream.detector import DetectorConfig, DetectorCore
from skelact.stream.engine import Engine
from skelact.stream.offline import detect_sequence
from skelact.stream.protocol import EndOfStream, PoseFrame
from skelact.stream.runtime import Runtime, RuntimeConfig
from skelact.stream.sources.replay import sequence_messages
from skelact.stream.synthetic import make_sequence

WALL = {"emitted_at", "latency_ms", "event_id"}
J = make_sequence("x", num_frames=60, seed=3).joints[:, 0]  # (T, 20, 3) one person, kinect20


def _runtime(model, max_age_ms: float = 0.0, det: dict | None = None, **cfg) -> Runtime:
    c = RuntimeConfig(in_endpoint="tcp://127.0.0.1:*", out_endpoint="tcp://127.0.0.1:*",
                      detector=DetectorConfig(**(det or {})), status_interval_s=0.1, max_age_ms=max_age_ms,
                      **cfg)  # fmt: skip
    return Runtime(Engine(model), c)


def _strip(events):
    return [{k: v for k, v in e.items() if k not in WALL} for e in events]


def _frame(stream, seq, t, persons=1, tracks=None):
    joints = np.repeat(J[seq % len(J)][None], persons, axis=0)
    return PoseFrame(stream, seq, t, "kinect_v1_20", np.ascontiguousarray(joints, np.float32),
                     tuple(range(persons)) if tracks is None else tuple(tracks))  # fmt: skip


class _Counting:
    """Counts the model steps (rows) a bank runs; the real bank does the work."""

    def __init__(self, bank) -> None:
        self.bank, self.rows = bank, 0

    def __getattr__(self, name):
        return getattr(self.bank, name)

    def step(self, x, slots):
        self.rows += len(slots)
        return self.bank.step(x, slots)


# ----------------------------------------------------------------------------- time


def test_huge_valid_t_jump_neither_crashes_nor_loses_the_other_streams_end(step_model):
    """t = 0 then t = 1.7e308 on one stream used to kill serve (OverflowError)."""
    seq = make_sequence("a", num_frames=300, seed=1)  # raises its left arm over frames 35-80
    h = Harness(_runtime(step_model))
    try:
        msgs = list(sequence_messages(seq, "cam-a"))
        for _t, parts in msgs[:60]:  # cam-a is inside an action now
            h.send(parts)
        for seq_no, t in enumerate([0.0, 1.7e308, 1.7e308, -1.0]):
            h.send(P.encode_pose("evil", seq_no, t, "kinect20", J[:1]))
        assert h.wait_for(lambda: any(b["reason"] == "time_backwards" for b in h.bodies("error/evil")), 5.0)
        assert h.rt._thread.is_alive()
        for _t, parts in msgs[60:]:
            h.send(parts)
        assert h.wait_for(lambda: any(e["type"] == "end" and e["stream"] == "cam-a" for e in h.bodies("event/")),
                          5.0)  # fmt: skip
    finally:
        h.close()
    notices = [b for b in h.bodies("error/evil") if b["reason"] == "time_gap"]
    assert notices and "1.7e+308" in notices[0]["detail"]
    status = h.bodies("status")[-1]
    assert status["frames_rejected"] == 1  # only the backwards frame; time_gap is a notice


@pytest.mark.parametrize("persons,jump_s", [(16, 20.0), (16, 0.99), (1, 1e300)])
def test_model_steps_per_message_are_bounded(persons, jump_s):
    """30 frames of 16 persons whose t jumps 20 s each used to cost 144,000 model steps."""
    core = DetectorCore(Engine(default_model_path("step"), provider="cpu"), DetectorConfig(max_gap_s=1.0))
    core.bank = counting = _Counting(core.bank)
    bound = persons * math.ceil(core.cfg.max_gap_s * core.meta.fps)
    worst = 0
    for k in range(30):
        before = counting.rows
        out = core.feed(_frame("s", k, k * jump_s, persons), now=0.0)
        worst = max(worst, counting.rows - before)
        if k and jump_s > core.cfg.max_gap_s:
            assert [o.body["reason"] for o in out if o.kind == "notice"] == ["time_gap"]
    assert 0 < worst <= bound
    assert counting.rows <= 30 * bound


def test_upsampling_a_slow_source_stays_within_the_bound():
    core = DetectorCore(Engine(default_model_path("step"), provider="cpu"), DetectorConfig())
    core.bank = counting = _Counting(core.bank)
    per_msg = []
    for k in range(40):  # a 7 fps source into a 30 fps model
        before = counting.rows
        out = core.feed(_frame("slow", k, k / 7.0), now=0.0)
        assert not [o for o in out if o.kind in ("reject", "notice")]
        per_msg.append(counting.rows - before)
    assert max(per_msg) <= math.ceil(core.cfg.max_gap_s * core.meta.fps)
    assert sum(per_msg) == pytest.approx(39 / 7.0 * 30, abs=2)  # every grid frame, none skipped


def test_absent_person_restarts_after_max_gap_without_filling():
    core = DetectorCore(Engine(default_model_path("step"), provider="cpu"), DetectorConfig(max_gap_s=1.0))
    core.bank = counting = _Counting(core.bank)
    core.feed(_frame("s", 0, 0.0, 2), now=0.0)
    for k in range(1, 100):  # person 1 leaves for 3.3 s while person 0 stays
        core.feed(_frame("s", k, k / 30.0, 1), now=0.0)
    before = counting.rows
    core.feed(_frame("s", 100, 100 / 30.0, 2), now=0.0)
    assert counting.rows - before == 2  # one step each: the absent time is not filled


# ----------------------------------------------------------------------------- memory and caps


def test_state_memory_comes_back_after_streams_time_out():
    core = DetectorCore(Engine(default_model_path("step"), provider="cpu"), DetectorConfig(silence_timeout_s=1.0))
    idle = core.bank.nbytes
    for s in range(200):
        core.feed(_frame(f"s{s}", 0, 0.0), now=0.0)
    assert core.bank.in_use == 200 and core.bank.nbytes >= 200 * core.bank.bytes_per_track
    core.feed(_frame("keep", 0, 0.0), now=1.5)  # one stream lives on through the compaction
    core.expire(now=1.6)
    assert core.bank.in_use == 1 and core.bank.nbytes == idle
    out = core.feed(_frame("keep", 1, 1 / 30.0), now=1.6)  # its state followed it to a new slot
    assert [o for o in out if o.kind in ("reject", "notice")] == []


def test_window_state_is_pooled_and_compacted(window_model):
    core = DetectorCore(Engine(window_model), DetectorConfig(silence_timeout_s=1.0))
    for s in range(100):
        core.feed(_frame(f"w{s}", 0, 0.0), now=0.0)
    assert core.bank.in_use == 100
    core.expire(now=5.0)
    assert core.bank.in_use == 0 and core.bank.capacity == core.bank.min_capacity


def test_caps_reject_streams_tracks_and_state_budget(step_model):
    core = DetectorCore(Engine(step_model), DetectorConfig(max_streams=2, max_tracks=3))
    reasons = lambda out: [o.body["reason"] for o in out if o.kind == "reject"]  # noqa: E731
    assert reasons(core.feed(_frame("a", 0, 0.0, 3), now=0)) == []
    assert reasons(core.feed(_frame("a", 1, 0.03, 1, tracks=[9]), now=0)) == ["too_many_tracks"]
    assert reasons(core.feed(_frame("a", 2, 0.06, 2, tracks=[1, 2]), now=0)) == []  # known ids are fine
    assert reasons(core.feed(_frame("b", 0, 0.0), now=0)) == []
    assert reasons(core.feed(_frame("c", 0, 0.0), now=0)) == ["too_many_streams"]
    core.feed(EndOfStream("b"), now=0)
    assert reasons(core.feed(_frame("c", 0, 0.0), now=0)) == []
    tiny = DetectorCore(Engine(step_model), DetectorConfig(max_state_mb=1e-9))  # room for one track
    assert reasons(tiny.feed(_frame("x", 0, 0.0), now=0)) == []
    assert reasons(tiny.feed(_frame("y", 0, 0.0), now=0)) == ["too_many_tracks"]
    assert "MiB" in tiny.feed(_frame("y", 1, 0.0), now=0)[0].body["detail"]


def test_default_caps_keep_state_under_2_gb():
    d = DetectorConfig()
    core = DetectorCore(Engine(default_model_path("step"), provider="cpu"), d)
    worst = min(d.max_streams * d.max_tracks, core.bank.max_slots) * core.bank.bytes_per_track
    assert worst <= 2 << 30
    assert core.bank.max_slots * core.bank.bytes_per_track <= d.max_state_mb * (1 << 20)


def test_caps_over_real_sockets(step_model):
    h = Harness(_runtime(step_model, det={"max_streams": 1, "max_tracks": 2}))
    try:
        h.send(P.encode_pose("one", 0, 0.0, "kinect20", J[:1]))
        h.send(P.encode_pose("two", 0, 0.0, "kinect20", J[:1]))
        h.send(P.encode_pose("one", 1, 0.03, "kinect20", np.stack([J[0]] * 3), tracks=[0, 5, 6]))
        want = {"too_many_streams", "too_many_tracks"}
        assert h.wait_for(lambda: want <= {b["reason"] for b in h.bodies("error/")}, 5.0)
        assert h.wait_for(lambda: h.bodies("status")[-1]["frames_rejected"] == 2, 3.0)
    finally:
        h.close()


# ----------------------------------------------------------------------------- overload


def test_burst_beyond_one_turn_is_not_dropped_without_age_budget(step_model):
    """The old runtime dropped everything past max_batch (512) in one drain."""
    h = Harness(_runtime(step_model, max_age_ms=0.0))
    try:
        for k in range(1500):
            h.send(P.encode_pose("burst", k, k / 30.0, "kinect20", J[k % len(J)][None]))
        h.send(P.encode_eos("burst"))
        assert h.wait_for(lambda: h.bodies("status")[-1]["frames_in"] == 1501 and
                          h.bodies("status")[-1]["streams"] == 0, 20.0)  # fmt: skip
    finally:
        h.close()
    st = h.bodies("status")[-1]
    assert st["frames_dropped"] == 0 and st["frames_rejected"] == 0


@contextmanager
def _unrun(rt: Runtime):
    """A bound runtime whose loop is not running (the test turns it by hand) and a PUSH
    socket connected to it; both closed afterwards."""
    rt.bind()
    push = rt.ctx.socket(zmq.PUSH)
    push.linger = 0
    push.connect(rt.in_endpoint)
    try:
        yield push
    finally:
        push.close(0)
        rt.pull.close(0)
        rt.pub.close(0)


def _receive_until(rt: Runtime, frames_in: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while rt.counters["frames_in"] < frames_in and time.monotonic() < deadline:
        rt._receive()


def test_stale_frames_are_dropped_before_acceptance_and_counted(step_model):
    rt = _runtime(step_model, max_age_ms=20.0)
    with _unrun(rt) as push:
        for k in range(50):
            push.send_multipart(P.encode_pose("late", k, k / 30.0, "kinect20", J[k % len(J)][None]))
        _receive_until(rt, 50)  # received now, run later: every frame outlives its budget
        time.sleep(0.05)
        rt._turn()
        assert rt.counters["frames_dropped"] == 50 and rt.counters["frames_rejected"] == 0
        assert not rt.core.has_stream("late")  # nothing of them was accepted


FLOOD = """
import json, sys, time
import numpy as np, zmq
s = zmq.Context().socket(zmq.PUSH); s.linger = 0; s.connect(sys.argv[1])
body = np.zeros((1, 20, 3), np.float32).tobytes()
sent, k, end = 0, 0, time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    h = json.dumps({"v": 1, "stream": "flood", "seq": k, "t": k / 1000, "layout": "kinect20",
                    "shape": [1, 20, 3], "dtype": "float32"}).encode()
    k += 1
    try:
        s.send_multipart([h, body], zmq.NOBLOCK); sent += 1
    except zmq.Again:
        time.sleep(0.0005)
print(sent)
"""


def test_a_flooding_stream_does_not_change_a_paced_streams_events(step_model):
    """A producer sending as fast as it can beside a stream paced like a camera: the
    paced stream loses nothing and its events and scores equal a solo run."""
    seq = make_sequence("good", num_frames=240, seed=5)
    solo = detect_sequence(Engine(step_model), seq, stream="good", scores=True)
    h = Harness(_runtime(step_model, max_age_ms=1000.0, det={"scores": True}))  # shed by queue caps
    sub = h.ctx.socket(zmq.SUB)  # only the good stream: the flood's scores would fill any queue
    sub.linger = 0
    sub.setsockopt(zmq.RCVHWM, 0)
    for topic in (b"event/good", b"scores/good"):
        sub.setsockopt(zmq.SUBSCRIBE, topic)
    sub.connect(h.rt.out_endpoint)
    live: list[dict] = []

    def drain(wait_ms: int = 0) -> None:
        while sub.poll(wait_ms):
            live.append(P.decode_pub(sub.recv_multipart())[1])
            wait_ms = 0

    flood = subprocess.Popen([sys.executable, "-c", FLOOD, h.rt.in_endpoint, "12"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # the flood is running; the new subscription has reached the PUB socket
        good = list(sequence_messages(seq, "good"))
        t0 = time.monotonic()
        for k, (_t, parts) in enumerate(good):
            while time.monotonic() < t0 + k / 30.0:  # the good stream at its real 30 fps
                drain(1)
            h.send(parts)
        end = time.monotonic() + 10
        while time.monotonic() < end and len(live) < len(solo):
            drain(50)
        drain(300)
        sent = int(flood.communicate(timeout=30)[0])
    finally:
        flood.kill()
        sub.close(0)
        h.close()
    assert _strip(live) == _strip(solo)  # every frame of the paced stream ran, events identical
    assert sent > 10000  # the flood really flooded


# ----------------------------------------------------------------------------- ownership


@pytest.mark.skipif(not zmq.has("curve"), reason="libzmq built without CURVE")
def test_curve_stream_ids_belong_to_the_first_key(step_model, tmp_path):
    d = tmp_path / "keys"
    server = S.generate_keypair(d, "server")
    owner, other = S.generate_keypair(d, "owner"), S.generate_keypair(d, "other")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    for pub, _sec in (owner, other):
        (allowed / pub.name).write_bytes(pub.read_bytes())
    ctx = zmq.Context()
    rt = Runtime(Engine(step_model), RuntimeConfig(
        in_endpoint="tcp://127.0.0.1:*", out_endpoint="tcp://127.0.0.1:*", status_interval_s=0.1, max_age_ms=0.0,
        curve_secret_file=str(server[1]), curve_clients_dir=str(allowed)), ctx=ctx)  # fmt: skip
    rt.start()
    socks = []
    try:
        sub = ctx.socket(zmq.SUB)
        S.configure_client(sub, server[0], owner[1])
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(rt.out_endpoint)
        pushes = {}
        for name, pair in (("owner", owner), ("other", other)):
            s = ctx.socket(zmq.PUSH)
            S.configure_client(s, server[0], pair[1])
            s.connect(rt.in_endpoint)
            pushes[name] = s
        socks = [sub, *pushes.values()]
        for s in socks:
            s.linger = 0
        got: list[tuple[str, dict]] = []

        def wait(pred, timeout=5.0):
            end = time.monotonic() + timeout
            while time.monotonic() < end and not pred():
                if sub.poll(50):
                    got.append(P.decode_pub(sub.recv_multipart()))
            return pred()

        assert wait(lambda: any(t == "status" for t, _ in got))
        pushes["owner"].send_multipart(P.encode_pose("cam0", 0, 0.0, "kinect20", J[:1]))
        assert wait(lambda: got and got[-1][0] == "status" and got[-1][1]["streams"] == 1)
        pushes["other"].send_multipart(P.encode_pose("cam0", 10**12, 1.0, "kinect20", J[:1]))  # lock-out try
        pushes["other"].send_multipart(P.encode_eos("cam0"))
        pushes["other"].send_multipart(P.encode_pose("cam1", 0, 0.0, "kinect20", J[:1]))  # its own id: fine
        assert wait(lambda: sum(b.get("count", 0) for t, b in got if t == "error/cam0") == 2)
        for k in range(1, 5):  # the owner carries on undisturbed
            pushes["owner"].send_multipart(P.encode_pose("cam0", k, k / 30.0, "kinect20", J[k][None]))
        assert wait(lambda: got[-1][0] == "status" and got[-1][1]["frames_in"] == 8 and got[-1][1]["streams"] == 2)
    finally:
        rt.stop()
        for s in socks:
            s.close(0)
        ctx.destroy(linger=0)
    errors = [b for t, b in got if t.startswith("error/")]
    assert {b["reason"] for b in errors} == {"not_owner"}
    assert got[-1][1]["frames_rejected"] == 2 or [b for t, b in got if t == "status"][-1]["frames_rejected"] == 2


def test_backlog_stays_bounded_under_an_eos_flood(step_model):
    """Waiting eos messages are never dropped for a pose frame's sake, but a flood of them
    cannot grow the backlog past its caps either: the newcomers are dropped and counted."""
    rt = _runtime(step_model, max_age_ms=1000.0, max_stream_backlog=8, max_backlog=16, recv_batch=1000)
    with _unrun(rt) as push:
        for _ in range(100):
            push.send_multipart(P.encode_eos("flood"))
        for k in range(20):
            push.send_multipart(P.encode_pose("other", k, k / 30.0, "kinect20", J[k][None]))
        _receive_until(rt, 120)
        assert rt._waiting <= 16 and all(len(q) <= 8 for q in rt._queues.values())
        assert rt.counters["frames_dropped"] == 120 - rt._waiting
