"""The runtime over real loopback sockets with a real ONNX Runtime session."""

from __future__ import annotations

import json
import struct
import time
from dataclasses import replace

import numpy as np
import pytest
from harness import Harness

from skelact.stream import protocol as P
from skelact.stream.detector import DetectorConfig
from skelact.stream.engine import Engine
from skelact.stream.offline import detect_sequence
from skelact.stream.runtime import Runtime, RuntimeConfig
from skelact.stream.sources.replay import sequence_messages
from skelact.stream.synthetic import make_sequence

WALL = {"emitted_at", "latency_ms", "event_id"}


def _runtime(model, max_age_ms: float = 0.0, **det) -> Runtime:
    """Tests compare every frame's result: the age budget is off unless asked for."""
    cfg = RuntimeConfig(in_endpoint="tcp://127.0.0.1:*", out_endpoint="tcp://127.0.0.1:*",
                        detector=DetectorConfig(**det), status_interval_s=0.2, max_age_ms=max_age_ms)  # fmt: skip
    return Runtime(Engine(model), cfg)


def _strip(events: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in WALL} for e in events]


def _paired(events: list[dict]) -> bool:
    open_ids: set[str] = set()
    for e in events:
        if e["type"] == "start":
            if e["event_id"] in open_ids:
                return False
            open_ids.add(e["event_id"])
        else:
            if e["event_id"] not in open_ids:
                return False
            open_ids.remove(e["event_id"])
    return not open_ids


def _done(h: Harness, stream: str, n_end_expected: int | None = None):
    def pred():
        evs = [b for b in h.bodies("event/") if b["stream"] == stream]
        return any(e["type"] == "end" and e.get("reason") == "eos" for e in evs) or (
            n_end_expected is not None and sum(e["type"] == "end" for e in evs) >= n_end_expected)
    return pred


def _idle(h: Harness, frames_in: int) -> bool:
    """All sent frames were read and every stream ended (status shows it)."""
    st = h.bodies("status")
    return bool(st) and st[-1]["frames_in"] >= frames_in and st[-1]["streams"] == 0


@pytest.mark.parametrize("which", ["step_model", "window_model"])
def test_serve_equals_detect_golden(which, request):
    model = request.getfixturevalue(which)
    seq = make_sequence("golden", num_frames=400, seed=11)
    offline = detect_sequence(Engine(model), seq)
    assert sum(e["type"] == "start" for e in offline) >= 1
    h = Harness(_runtime(model))
    try:
        for _t, parts in sequence_messages(seq, "golden"):
            h.send(parts)
        n_end = sum(e["type"] == "end" for e in offline)
        assert h.wait_for(_done(h, "golden", n_end), 10.0)
        h.poll(0.2)
        live = [b for b in h.bodies("event/") if b["stream"] == "golden"]
    finally:
        h.close()
    assert _strip(live) == _strip(offline)
    for e in live:
        P.validate_event(e)
        assert e["latency_ms"] >= 0 and e["emitted_at"] > 1e9


def test_two_streams_garbage_does_not_disturb_the_other(step_model):
    a = make_sequence("a", num_frames=360, seed=21)
    b = make_sequence("b", num_frames=360, seed=22)
    solo = detect_sequence(Engine(step_model), a, stream="cam-a")
    h = Harness(_runtime(step_model))
    try:
        ma = list(sequence_messages(a, "cam-a"))
        mb = list(sequence_messages(b, "cam-b"))
        for i in range(max(len(ma), len(mb))):
            if i < len(ma):
                h.send(ma[i][1])
            if i < len(mb):
                if i == 150:  # garbage burst mid-way on stream b
                    h.send([b"\xff\x00garbage"])
                    h.send([P.dumps({"v": 1, "stream": "cam-b", "seq": 151, "t": 5.0, "layout": "kinect20",
                                     "shape": [1, 20, 3], "dtype": "float32"}), b"short"])  # fmt: skip
                    h.send([b'{"v": 1, "stream": "cam-b", "seq": NaN}', b""])
                    h.send(mb[i - 1][1])  # duplicate seq
                    h.send([b"x"] * 3)
                h.send(mb[i][1])
        total = len(ma) + len(mb) + 5
        assert h.wait_for(lambda: _idle(h, total), 15.0)
    finally:
        h.close()
    evs = h.bodies("event/")
    ea = [e for e in evs if e["stream"] == "cam-a"]
    eb = [e for e in evs if e["stream"] == "cam-b"]
    assert _strip(ea) == _strip(solo)
    assert _paired(ea) and _paired(eb) and len(eb) >= 2
    reasons = {b["reason"] for b in h.bodies("error/")}
    assert {"bad_payload_size", "bad_json", "seq_not_increasing", "bad_parts"} <= reasons
    status = h.bodies("status")[-1]
    assert status["frames_rejected"] >= 5 and status["frames_in"] >= len(ma) + len(mb) + 5


def test_shutdown_and_timeout_close_open_actions(step_model):
    seq = make_sequence("s", num_frames=300, seed=1)  # raise_left_arm over frames 35-80
    msgs = list(sequence_messages(seq, "cut", eos=False))[:60]
    h = Harness(_runtime(step_model, silence_timeout_s=0.6))
    try:
        for _t, parts in msgs:
            h.send(parts)
        assert h.wait_for(lambda: any(b["type"] == "start" for b in h.bodies("event/")), 5.0)
        assert h.wait_for(lambda: any(b.get("reason") == "timeout" for b in h.bodies("event/")), 5.0)
        for _t, parts in list(sequence_messages(seq, "cut2", eos=False))[:60]:
            h.send(parts)
        assert h.wait_for(lambda: any(b["type"] == "start" and b["stream"] == "cut2" for b in h.bodies("event/")), 5.0)
    finally:
        h.close()
    ends = [b for b in h.bodies("event/") if b["type"] == "end"]
    assert {(e["stream"], e["reason"]) for e in ends} == {("cut", "timeout"), ("cut2", "shutdown")}
    cut2 = [e for e in ends if e["stream"] == "cut2"][0]
    assert cut2["seq"] == 59  # forced end: the last frame received


def test_every_bad_input_is_rejected_with_its_reason(step_model):
    good = P.encode_pose("ok", 0, 0.0, "kinect20", np.zeros((1, 20, 3), np.float32))
    hdr = json.loads(good[0])
    cases = {
        "bad_version": [P.dumps({**hdr, "v": 2}), good[1]],
        "unknown_layout": [P.dumps({**hdr, "layout": "openpose99"}), good[1]],
        "bad_shape": [P.dumps({**hdr, "shape": [1, 25, 3]}), good[1]],
        "bad_field": [P.dumps({**hdr, "seq": 1.5}), good[1]],
        "non_finite": [P.dumps({**hdr, "seq": 1})[:-1] + b', "t": 1e999}', good[1]],
        "too_large": [P.dumps({**hdr, "shape": [16, 20, 3]}), b"\0" * (2 << 20)],
        "unknown_stream": P.encode_eos("never-seen"),
    }
    payload_inf = np.zeros((1, 20, 3), np.float32)
    payload_inf[0, 3, 1] = np.inf
    cases["non_finite_payload"] = P.encode_pose("ok2", 0, 0.0, "kinect20", np.zeros((1, 20, 3), np.float32))
    cases["non_finite_payload"][1] = payload_inf.tobytes()
    h = Harness(_runtime(step_model))
    try:
        h.send(good)
        for parts in cases.values():
            h.send(parts)
        h.send([struct.pack("<d", 1.0)])
        assert h.wait_for(lambda: len({b["reason"] for b in h.bodies("error/")}) >= 8, 5.0)
        h.wait_for(lambda: h.bodies("status") and h.bodies("status")[-1]["frames_rejected"] >= 9, 3.0)
    finally:
        h.close()
    got = {b["reason"] for b in h.bodies("error/")}
    expected = {k for k in cases if k != "non_finite_payload"} | {"non_finite", "bad_json"}
    assert expected <= got, expected - got
    assert h.bodies("status")[-1]["frames_rejected"] >= 9


def test_scores_flow_for_every_frame(step_model):
    seq = make_sequence("sc", num_frames=90, seed=3)
    rt = _runtime(step_model)
    rt.core.cfg = replace(rt.core.cfg, scores=True)
    h = Harness(rt)
    try:
        for _t, parts in sequence_messages(seq, "sc"):
            h.send(parts)
        assert h.wait_for(lambda: len(h.bodies("scores/sc")) >= 90, 5.0)
    finally:
        h.close()
    sc = h.bodies("scores/sc")
    assert [b["seq"] for b in sc] == list(range(90))
    assert all(len(b["scores"]) == 2 and all(0 <= s <= 1 for s in b["scores"]) for b in sc)



def _messages(names: list[str], n: int) -> dict[str, list[list[bytes]]]:
    seq = make_sequence("w", num_frames=n, seed=5)
    return {s: [parts for _t, parts in sequence_messages(seq, s)][:n] for s in names}


def test_batch_wait_runs_frames_sent_apart_in_one_model_call(step_model):
    """A turn that starts with some live streams' frames missing waits (up to
    batch_wait_ms) for them: the three frames below, sent 0.3 s apart, take one call.
    (Frames read between a turn's chunks run in its next chunk without waiting.)"""
    rt = _runtime(step_model, scores=True)
    rt.cfg = replace(rt.cfg, batch_wait_ms=3000.0)
    msgs = _messages(["a", "b", "c"], 3)
    h = Harness(rt)
    try:
        for s in "abc":
            h.send(msgs[s][0])
        assert h.wait_for(lambda: len(h.bodies("scores/")) == 3, 10.0)
        h.poll(0.2)  # let the runtime end its turn: a frame read between chunks runs at once
        calls = len(rt.core.infer_ms)
        h.send(msgs["a"][1])
        h.poll(0.3)
        assert len(h.bodies("scores/")) == 3  # a's frame waits for b's and c's
        h.send(msgs["b"][1])
        h.send(msgs["c"][1])
        assert h.wait_for(lambda: len(h.bodies("scores/")) == 6, 10.0)
        assert len(rt.core.infer_ms) == calls + 1
    finally:
        h.close()


def test_batch_wait_never_holds_a_lone_stream_nor_waits_past_its_bound(step_model):
    rt = _runtime(step_model, scores=True)
    rt.cfg = replace(rt.cfg, batch_wait_ms=30000.0)
    msgs = _messages(["solo"], 20)
    h = Harness(rt)
    try:
        t0 = time.monotonic()
        for parts in msgs["solo"]:
            h.send(parts)
        assert h.wait_for(lambda: len(h.bodies("scores/solo")) == 20, 10.0)
        assert time.monotonic() - t0 < 10.0  # a wait would have cost 30 s
    finally:
        h.close()
    rt = _runtime(step_model, scores=True)
    rt.cfg = replace(rt.cfg, batch_wait_ms=400.0)
    msgs = _messages(["a", "quiet"], 2)
    h = Harness(rt)
    try:
        for s in ("a", "quiet"):
            h.send(msgs[s][0])
        assert h.wait_for(lambda: len(h.bodies("scores/")) == 2, 10.0)
        h.poll(0.2)  # as above: the turn has ended
        t0 = time.monotonic()
        h.send(msgs["a"][1])  # "quiet" sends nothing: a's frame runs once the bound passes
        assert h.wait_for(lambda: len(h.bodies("scores/a")) == 2, 10.0)
        assert time.monotonic() - t0 >= 0.35
    finally:
        h.close()


@pytest.mark.parametrize("wait", [-1.0, float("nan"), float("inf")])
def test_batch_wait_must_be_finite_and_not_negative(wait):
    with pytest.raises(ValueError, match="batch_wait_ms"):
        RuntimeConfig(batch_wait_ms=wait)
