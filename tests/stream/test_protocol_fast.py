"""decode_frame's fast paths (hook-free JSON parse, pose header shortcut) against the
strict path alone: the same frame or the same rejection (reason and detail) for valid,
odd and hostile headers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skelact.stream import protocol as P

LIMITS = P.Limits()
J = np.zeros((2, 20, 3), np.float32)
BASE = {"v": 1, "type": "pose", "stream": "cam-1", "seq": 7, "t": 12.5, "layout": "kinect20",
        "shape": [2, 20, 3], "dtype": "float32", "tracks": [4, 9], "units": "m"}  # fmt: skip

ODD_VALUES = [None, True, False, 0, -1, 1, 2, 3, 4, 20, 2**63 - 1, 2**63, -(2**63), 10**29, 10**30, -(10**29),
              10**31, 1.0, -0.0, 0.5, 1e308, "pose", "eos", "m", "norm", "kinect20", "ntu25", "float32",
              "x", "", [], [2, 20, 3], [1, 20, 4], [2, 20], [2.0, 20, 3], [4, 9], [4, 4], [9], [-1, 3],
              [4, "9"], {}, {"a": 1}, [[1]]]  # fmt: skip
RAW_NUMBERS = ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "1" * 31, "-" + "1" * 30, "1" * 30, "1" * 5000,
               "12.5e0", "7.0", "1E2"]  # fmt: skip


def outcome(parts):
    try:
        f = P.decode_frame(parts, LIMITS)
    except P.ProtocolError as e:
        return ("error", e.reason, e.detail, e.stream)
    if isinstance(f, P.EndOfStream):
        return ("eos", f.stream)
    return ("pose", f.stream, f.seq, type(f.t), f.t, f.layout, f.joints.shape, f.tracks, f.units,
            f.joints.flags.writeable)  # fmt: skip


def strict_outcome(parts, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(P, "_fast_pose_header", lambda *a: None)
        m.setattr(P, "_FAST_SCAN", _no_fast_scan)
        return outcome(parts)


def _no_fast_scan(text, idx):
    raise StopIteration(idx)


def headers():
    rng = np.random.default_rng(0)
    yield json.dumps(BASE)
    yield json.dumps({k: v for k, v in BASE.items() if k not in ("type", "tracks", "units")})
    yield " " + json.dumps(BASE) + "\n"
    yield json.dumps(BASE)[:-1] + ',"seq":8}'  # duplicate key
    yield json.dumps(BASE)[:-1] + ',"extra":{"deep":[1,{"x":1e999}]}}'
    for key in list(BASE) + ["extra"]:
        for v in ODD_VALUES:
            yield json.dumps({**BASE, key: v})
        for raw in RAW_NUMBERS:
            yield json.dumps({**BASE, key: 0})[:-1].replace(f'"{key}": 0', f'"{key}": {raw}') + "}"
        yield json.dumps({k: v for k, v in BASE.items() if k != key})
    for _ in range(300):  # several fields changed at once
        h = dict(BASE)
        for key in rng.choice(list(BASE), size=int(rng.integers(1, 4)), replace=False):
            h[str(key)] = ODD_VALUES[int(rng.integers(len(ODD_VALUES)))]
        yield json.dumps(h)


@pytest.mark.parametrize(
    "payload", [J.tobytes(), J[:1].tobytes(), b"", np.full((2, 20, 4), 0.5, np.float32).tobytes()]
)
def test_fast_decode_equals_strict_decode(payload, monkeypatch):
    n = 0
    for text in headers():
        for parts in ([text.encode(), payload], [text.encode()]):
            assert outcome(parts) == strict_outcome(parts, monkeypatch), text
            n += 1
    assert n > 1000


def test_fast_header_is_taken_for_ordinary_frames(monkeypatch):
    calls = []
    real = P._check_header
    monkeypatch.setattr(P, "_check_header", lambda *a: calls.append(a) or real(*a))
    f = P.decode_frame(P.encode_pose("cam-1", 3, 1.5, "kinect20", J, tracks=[5, 2]), LIMITS)
    assert (f.seq, f.t, f.tracks, f.units, f.layout) == (3, 1.5, (5, 2), "m", P.get_layout("kinect20").name) and not calls
    with pytest.raises(AttributeError):
        f.seq = 4  # still a frozen PoseFrame
    assert isinstance(P.decode_frame(P.encode_eos("cam-1"), LIMITS), P.EndOfStream) and calls


def test_dumps_equals_json_dumps():
    """dumps reuses one C encoder per thread: same bytes as json.dumps, same errors, and a
    failed call leaves nothing behind for the next."""

    def ref(o):
        return json.dumps(o, allow_nan=False, separators=(",", ":"), ensure_ascii=False,
                          default=P._json_default).encode()  # fmt: skip

    bodies = [
        P.scores_body("s", 1, 2, 3.25, np.random.default_rng(1).random(8)),
        P.event_body("end", "s", -1, "id-1", 3, "wave", 4, 2.0, 60, 0.7, 1.0, 2.5, 0.1, tracks=[1, 2], t_start=1.0,
                     peak_score=0.9, reason="score"),  # fmt: skip
        {"a": np.float32(0.5), "b": np.arange(3), "c": (1, [2, {"d": np.int64(7)}]), "é": "ünï", "n": None},
        {},
    ]
    for b in bodies:
        assert P.dumps(b) == ref(b)
    circular: dict = {}
    circular["x"] = [circular]
    for bad in ({"x": float("nan")}, {"x": [1, float("inf")]}, circular):
        with pytest.raises(ValueError):
            P.dumps(bad)
    with pytest.raises(TypeError):
        P.dumps({"x": object()})
    assert P.dumps(bodies[2]) == ref(bodies[2])  # the memo was emptied after the failures
    assert P.dumps({"s": "a\ud800"}) == b'{"s":"a\\ud800"}'  # lone surrogate: ASCII escapes


@pytest.mark.parametrize("as_frame", [False, True])
def test_infinity_byte_scan_agrees_with_isinf(as_frame):
    """The payload's infinity pre-check (a byte search) rejects every infinity and lets
    through finite payloads whose bytes spell one across two floats."""
    import zmq

    head = json.dumps({**BASE, "shape": [1, 20, 3], "tracks": [4]}).encode()
    wrap = zmq.Frame if as_frame else bytes
    finite = bytearray(240)
    finite[2:8] = b"\x00\x00\x80\x7f\x00\x00"  # a float32 infinity's bytes across floats 0 and 1
    assert np.isfinite(np.frombuffer(bytes(finite), "<f4")).all() and P._POS_INF in finite
    assert P.decode_frame([wrap(head), wrap(bytes(finite))], LIMITS).joints.shape == (1, 20, 3)
    for v in (np.inf, -np.inf):
        j = np.zeros((1, 20, 3), np.float32)
        j[0, 5, 2] = v
        with pytest.raises(P.ProtocolError) as e:
            P.decode_frame([wrap(head), wrap(j.astype("<f4").tobytes())], LIMITS)
        assert e.value.reason == "non_finite"
