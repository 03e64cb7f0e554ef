"""Seeded fuzz of the live runtime over real loopback ZeroMQ sockets (no mocks).

A ``numpy.random.default_rng(seed)`` builds messages for a few fuzz streams, sent on one
PUSH socket: random bytes; valid headers with a field deleted or given a wrong type or
value; broken JSON (truncated, NaN/Infinity tokens, 1e999 and 400-digit numbers,
duplicate keys, BOM, deep nesting, bad UTF-8, non-objects, trailing garbage); 1 or 3+
parts (0 cannot be sent over ZeroMQ); huge/odd shapes; payload size mismatches; NaN/inf coordinates; confidences outside
[0, 1]; bad track lists and up to 16 tracks with random large ids; ``t``/``seq`` extremes
(t = 0 then 1.7e308, -1.7e308, 20 s jumps, going backwards, seq = 2**63-1, seq jumps and
repeats); eos for unknown streams; a few ``too_large`` messages.

Beside it, one clean synthetic stream on its own PUSH socket, interleaved with the fuzz,
must give exactly the offline events (``detect_sequence``), every start paired with an
end. Also: the runtime thread survives and keeps publishing status, ``frames_in`` equals
the messages sent, nothing is dropped (sends are paced and the overload drop is off),
every published body validates, and the error ``count``s (``time_gap`` notices aside)
add up to ``frames_rejected``.
"""

from __future__ import annotations

import dataclasses
import json
import time
import traceback
from collections import Counter

import numpy as np
import pytest
import zmq
from harness import Harness

from skelact.stream import protocol as P
from skelact.stream.engine import Engine
from skelact.stream.offline import detect_sequence
from skelact.stream.runtime import Runtime, RuntimeConfig
from skelact.stream.sources.replay import sequence_messages
from skelact.stream.synthetic import make_sequence

SEED = 20261129
FUZZ = ("fz0", "fz1", "fz2", "fz3")
CLEAN = "clean"
JOINTS = {"kinect20": 20, "kinect_v1_20": 20, "ntu25": 25, "coco17": 17}
WRONG = [None, True, -1, 0, 1.5, "x", "", [], [1, 2], {"a": 1}, 2**63, -(2**63), 1e308, "\ud800"]
TOKENS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" + "0" * 400, "+1", ".5", "0x10"]
BIG = b"\0" * ((1 << 20) + 1)  # one byte over the default message size limit
BAD_SHAPES = [[17, 20, 3], [10**6, 20, 3], [-1, 20, 3], [1, 21, 3], [1, 20, 5], [1, 20, 0], [1, 20],
              [1, 20, 3, 1], [1.0, 20, 3], [True, 20, 3], [2**63, 20, 3], []]  # fmt: skip
# message kinds (see Fuzzer.burst) and their relative weights
KINDS = {"valid": 39, "bytes": 5, "field": 10, "json": 8, "parts": 4, "shape": 5, "size": 4, "finite": 5,
         "conf": 3, "tracks": 4, "time": 8, "eos": 5, "big": 0.3}  # fmt: skip
WINDOW = 1000  # most messages in flight ahead of the runtime (well under any backlog bound)
WALL = {"emitted_at", "latency_ms", "event_id"}


class Fuzzer:
    """Seeded message factory; keeps a plausible (seq, t) per fuzz stream so many frames pass."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.state = {s: [0, 0.0] for s in FUZZ}
        # (P, J, C) -> valid float32 persons (values in [0, 1], so confidences are valid too)
        self.pool = {(p, j, c): self.rng.uniform(0, 1, (p, j, c)).astype("<f4")
                     for j in (17, 20, 25) for p in range(17) for c in (3, 4)}  # fmt: skip
        self.cache = {k: a.tobytes() for k, a in self.pool.items()}

    def frame(self, s: str, seq: int | None = None, t: float | None = None) -> tuple[dict, bytes]:
        """A valid pose frame for ``s`` (next seq, t + 1/30 unless given)."""
        r, st = self.rng, self.state[s]
        st[0] = seq if seq is not None else st[0] + (1 if r.random() < 0.95 else int(r.integers(2, 5)))
        st[1] = t if t is not None else st[1] + 1 / 30
        p = int(r.integers(0, 4)) if r.random() < 0.8 else int(r.integers(4, 17))
        layout = "kinect20" if r.random() < 0.9 else str(r.choice(list(JOINTS)))
        c = 3 if r.random() < 0.6 else 4
        hdr = {"v": 1, "type": "pose", "stream": s, "seq": st[0], "t": st[1], "layout": layout,
               "shape": [p, JOINTS[layout], c], "dtype": "float32"}  # fmt: skip
        u = r.random()
        if u < 0.3:
            hdr["tracks"] = [int(x) for x in r.permutation(40)[:p]]
        elif u < 0.5:
            hdr["tracks"] = [int(x) for x in r.integers(0, 2**63 - 1, p)]
        return hdr, self.cache[p, JOINTS[layout], c]

    def payload(self, hdr: dict, value: float, channel: int) -> bytes:
        """The frame's payload with ``value`` written at one random (person, joint, channel)."""
        a = self.pool[tuple(hdr["shape"])].copy()
        if a.size:
            a[self.rng.integers(a.shape[0]), self.rng.integers(a.shape[1]), channel] = value
        return a.tobytes()

    def broken_json(self, hdr: dict) -> bytes:
        r, text = self.rng, json.dumps(hdr)
        d = int(r.choice([10, 1000, 100_000]))
        i = int(r.integers(len(text)))
        make = [
            lambda: text[:i],  # truncated
            lambda: json.dumps({**hdr, str(r.choice(["t", "seq", "v", "extra"])): "@@"})
            .replace('"@@"', str(r.choice(TOKENS))),  # NaN, Infinity, 1e999, 400 digits, +1, .5
            lambda: text[:-1] + f', "{r.choice(["seq", "stream", "t", "v"])}": 1}}',  # duplicate key
            lambda: "\ufeff" + text,  # byte-order mark
            lambda: f'{{"v": 1, "stream": "{hdr["stream"]}", "x": {"[" * d}{"]" * d}}}',  # nesting
            lambda: text[:i] + str(r.choice(["\udcff", "\udcc3", "\udc80"])) + text[i:],  # bad UTF-8
            lambda: str(r.choice(["[1, 2]", "42", '"pose"', "null", "", " ", "{}"])),  # not an object
            lambda: text + str(r.choice([text, "x", ",", "}"])),  # trailing garbage
            lambda: text.replace('"', "'"),
        ]
        return make[int(r.integers(len(make)))]().encode("utf-8", "surrogateescape")

    def burst(self) -> list[list[bytes]]:
        """One to four messages of one randomly chosen kind (see ``KINDS``)."""
        r = self.rng
        s = str(r.choice(FUZZ))
        hdr, pay = self.frame(s)
        kind = r.choice(list(KINDS), p=np.array(list(KINDS.values())) / sum(KINDS.values()))
        if kind == "time":
            return self.time_burst(s, int(r.integers(7)))
        if kind == "eos":  # ends a fuzz stream (which then starts afresh) or names an unknown one
            target = str(r.choice([s, "ghost0", "ghost1"]))
            if target == s:
                self.state[s] = [int(r.integers(0, 1000)), float(r.uniform(-1e3, 1e6))]
            return [P.encode_eos(target) + [[], [b""], [b"x"]][int(r.integers(3))]]
        if kind == "bytes":
            return [[r.bytes(int(r.integers(0, 300))) for _ in range(int(r.integers(1, 4)))]]
        if kind == "field":  # a wrong value, or the field deleted
            key = str(r.choice(list(hdr) + ["tracks", "units"]))
            hdr[key] = WRONG[int(r.integers(len(WRONG)))]
            if r.random() < 0.3:
                del hdr[key]
        elif kind == "shape":
            hdr["shape"] = BAD_SHAPES[int(r.integers(len(BAD_SHAPES)))]
        elif kind == "tracks":
            p = hdr["shape"][0]
            bad = [[0] * p, [-1] * p, [2**63] * p, [0.5] * p, [True] * p, ["a"] * p, list(range(p + 1)), 7]
            hdr["tracks"] = bad[int(r.integers(len(bad)))]
        elif kind == "finite":
            v = float(r.choice([np.inf, -np.inf, np.nan]))
            pay = self.payload(hdr, v, int(r.integers(hdr["shape"][2])))
        elif kind == "conf":
            hdr["shape"][2] = 4
            pay = self.payload(hdr, float(r.choice([-0.1, 1.5, -1e-7, 1.0000001, 3e38])), 3)
        elif kind == "size":
            cut = int(r.integers(1, 8))
            pay = pay[:-cut] if r.random() < 0.5 and pay else pay + b"\0" * cut
        elif kind == "big":
            hdr["shape"], pay = [16, 20, 4], BIG
        head = self.broken_json(hdr) if kind == "json" else json.dumps(hdr).encode()
        if kind == "parts":
            return [[head] if r.random() < 0.4 else [head, pay, *(r.bytes(9) for _ in range(r.integers(1, 4)))]]
        return [[head, pay]]

    def time_burst(self, s: str, k: int) -> list[list[bytes]]:
        """Extreme or out-of-order ``t``/``seq``; the first two start the stream afresh."""
        seq, t = self.state[s]
        plan = [
            [(0, 0.0), (1, 1.7e308), (2, 1.7e308)],  # t overflows any grid arithmetic
            [(0, -1.7e308), (1, -1.7e308), (2, 0.0)],
            [(seq + 1, t + 20.0), (seq + 2, None)],  # a 20 s gap
            [(seq + 1, t - 1.0)],  # time going backwards
            [(2**63 - 1, None), (None, None)],  # seq at the int64 limit, then one past it
            [(seq + int(self.rng.choice([2, 100, 10**6, 10**15])), None)],
            [(seq, t)],  # seq repeated
        ][k]
        out = [P.encode_eos(s)] if k < 2 else []
        for q, tq in plan:
            hdr, pay = self.frame(s, q, tq)
            out.append([json.dumps(hdr).encode(), pay])  # json writes seq 2**63 too (bad_field)
        return out

    def messages(self, n: int) -> list[list[bytes]]:
        out: list[list[bytes]] = []
        while len(out) < n:
            out += self.burst()
        return out[:n]


def _runtime(model) -> tuple[Runtime, list[str]]:
    """A runtime with overload drops off, and a list that receives its thread's traceback."""
    names = {f.name for f in dataclasses.fields(RuntimeConfig)}
    no_drop = {"max_age_ms": 0} if "max_age_ms" in names else {"max_backlog": 0}
    cfg = RuntimeConfig(in_endpoint="tcp://127.0.0.1:*", out_endpoint="tcp://127.0.0.1:*",
                        status_interval_s=0.05, **no_drop)  # fmt: skip
    rt, crash = Runtime(Engine(model), cfg), []
    run = rt.run

    def guarded() -> None:
        try:
            run()
        except BaseException:
            crash.append(traceback.format_exc())

    rt.run = guarded  # Runtime.start runs self.run in its thread
    return rt, crash


def _pump(h: Harness) -> None:
    while h.sub.poll(0):
        h.received.append(P.decode_pub(h.sub.recv_multipart()))


def _last_status(h: Harness) -> dict:
    return next((b for t, b in reversed(h.received) if t == "status"), {"frames_in": 0})


def _error_sum(h: Harness) -> int:
    return sum(b["count"] for b in h.bodies("error/") if b.get("reason") != "time_gap")


@pytest.mark.parametrize("n_fuzz", [3000, pytest.param(100_000, marks=pytest.mark.slow)])
def test_fuzz_beside_a_clean_stream(step_model, n_fuzz):
    seed = SEED + n_fuzz
    fuzz = Fuzzer(seed).messages(n_fuzz)
    seq = make_sequence(CLEAN, num_frames=400 if n_fuzz < 10_000 else 1200, seed=5)
    clean = [m for _, m in sequence_messages(seq, CLEAN)]
    offline = detect_sequence(Engine(step_model), seq, stream=CLEAN)
    assert any(e["type"] == "start" for e in offline)
    rt, crash = _runtime(step_model)
    h = Harness(rt)
    h.push.setsockopt(zmq.SNDTIMEO, 5000)
    clean_push = h.ctx.socket(zmq.PUSH)
    clean_push.setsockopt(zmq.LINGER, 0)
    clean_push.setsockopt(zmq.SNDTIMEO, 5000)
    clean_push.connect(rt.in_endpoint)
    step = n_fuzz / len(clean)  # clean message k goes before fuzz message round(k * step)
    plan = sorted([(round(k * step), 0, clean_push, m) for k, m in enumerate(clean)]
                  + [(i, 1, h.push, m) for i, m in enumerate(fuzz)], key=lambda x: x[:2])  # fmt: skip

    def alive(where: str) -> None:
        assert rt._thread.is_alive(), (f"runtime thread died {where} (seed {seed}):\n"
                                       + (crash[0] if crash else "no exception recorded"))  # fmt: skip

    t0 = time.monotonic()
    try:  # sends block (5 s at most) when the runtime falls behind: nothing is lost
        for i, (_, _, sock, parts) in enumerate(plan):
            if i % 200 == 0:
                _pump(h)
                alive(f"after {i} of {len(plan)} messages")
                stuck_at = time.monotonic() + 10.0
                while i - _last_status(h)["frames_in"] > WINDOW:  # pace: stay near the runtime
                    h.wait_for(lambda i=i: i - _last_status(h)["frames_in"] <= WINDOW, 0.5)
                    alive(f"while {i} messages were sent")
                    assert time.monotonic() < stuck_at, f"runtime stopped reading at {i} (seed {seed})"
            sock.send_multipart(parts)  # zmq.Again after 5 s
        sent = len(plan)

        def settled() -> bool:  # all read, and every pending error count flushed
            st = _last_status(h)
            return st["frames_in"] == sent and _error_sum(h) == st.get("frames_rejected")

        h.wait_for(settled, 5.0 + n_fuzz / 5000)
        alive("before the end")
        n_status = len(h.bodies("status"))
        assert h.wait_for(lambda: len(h.bodies("status")) >= n_status + 3, 3.0), "status stopped"
        alive("at the end")
        elapsed = time.monotonic() - t0
    except zmq.Again:
        alive("(a send timed out)")
        raise
    finally:
        h.close()
        clean_push.close(0)
    status = _last_status(h)
    reasons = Counter(b["reason"] for b in h.bodies("error/"))
    counters = {k: status[k] for k in ("frames_in", "frames_rejected", "frames_dropped", "events_out")}
    print(f"seed {seed}: {sent} messages in {elapsed:.1f} s; {counters}; error bodies {reasons}")
    assert status["frames_in"] == sent, f"frames_in {status['frames_in']} != {sent} sent"
    assert status["frames_dropped"] == 0
    assert _error_sum(h) == status["frames_rejected"], "error counts do not add up to frames_rejected"
    for topic, body in h.received:
        if body.get("type") == "error" and body.get("reason") not in P.REASONS:
            body = {**body, "reason": "bad_field"}  # a reason newer than this checkout's list
        try:
            P.validate_body(body)
        except P.SchemaError as e:
            pytest.fail(f"{topic}: {e}: {body}")
    live = [b for b in h.bodies(f"event/{CLEAN}") if b["stream"] == CLEAN]
    strip = lambda evs: [{k: v for k, v in e.items() if k not in WALL} for e in evs]  # noqa: E731
    assert strip(live) == strip(offline), f"clean stream events differ (seed {seed})"
    starts = [e["event_id"] for e in live if e["type"] == "start"]
    assert len(set(starts)) == len(starts) and sorted(starts) == sorted(e["event_id"] for e in live if e["type"] == "end")
