"""Wire protocol v1: decoding every rejection reason, encoding, ordering, rate limiting."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skelact.stream import protocol as P
from skelact.stream.layouts import get_layout, layout_names

LIMITS = P.Limits()
HSET = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def header(**over) -> dict:
    """A valid pose header (kinect20, 1 person, 3 channels) with fields overridden;
    ``field=...`` set to the sentinel ``DROP`` removes the field."""
    h = {"v": 1, "type": "pose", "stream": "cam0", "seq": 0, "t": 0.0, "layout": "kinect20",
         "shape": [1, 20, 3], "dtype": "float32"}  # fmt: skip
    for k, v in over.items():
        if v is DROP:
            h.pop(k, None)
        else:
            h[k] = v
    return h


DROP = object()


def payload(p: int = 1, j: int = 20, c: int = 3, fill: float = 0.5) -> bytes:
    return np.full((p, j, c), fill, dtype="<f4").tobytes()


def msg(h: dict | bytes | str, pl: bytes | None = None) -> list[bytes]:
    if isinstance(h, dict):
        hb = json.dumps(h).encode()
    elif isinstance(h, str):
        hb = h.encode()
    else:
        hb = h
    if pl is None and isinstance(h, dict):
        shape = h.get("shape", [1, 20, 3])
        try:
            pl = payload(*shape)
        except (TypeError, ValueError):
            pl = payload()
    return [hb] if pl is None else [hb, pl]


def reject(parts, limits: P.Limits = LIMITS) -> P.ProtocolError:
    with pytest.raises(P.ProtocolError) as ei:
        P.decode_frame(parts, limits)
    assert ei.value.reason in P.REASONS
    return ei.value


# ----------------------------------------------------------------------------- constants


def test_constants():
    assert P.VERSION == 1
    assert P.DEFAULT_IN == "tcp://127.0.0.1:5555"
    assert P.DEFAULT_OUT == "tcp://127.0.0.1:5556"
    assert set(P.REASONS) == {
        "bad_json", "bad_version", "bad_field", "unknown_layout", "bad_shape", "bad_payload_size",
        "non_finite", "seq_not_increasing", "time_backwards", "too_large", "bad_parts", "unknown_stream",
        "too_many_streams", "too_many_tracks", "not_owner", "time_gap",
    }  # fmt: skip
    assert set(P.NOTICE_REASONS) == {"time_gap"}
    assert P.END_REASONS == ("score", "eos", "timeout", "shutdown", "reset")
    lim = P.Limits()
    assert (lim.max_persons, lim.max_message_bytes, lim.transport_max_bytes) == (16, 1 << 20, 16 << 20)
    assert not hasattr(lim, "silence_timeout_s")  # one home: DetectorConfig
    with pytest.raises(AttributeError):
        lim.max_persons = 3  # frozen
    for bad in (dict(max_persons=-1), dict(max_message_bytes=0),
                dict(max_message_bytes=32 << 20)):  # fmt: skip
        with pytest.raises(ValueError):
            P.Limits(**bad)


def test_protocol_error_fields():
    e = P.ProtocolError("bad_field", "x" * 1000, "cam0")
    assert (e.reason, e.stream) == ("bad_field", "cam0") and len(e.detail) <= 200
    assert P.ProtocolError("bad_json").stream is None
    with pytest.raises(ValueError):
        P.ProtocolError("no_such_reason")


# ----------------------------------------------------------------------------- valid frames


@pytest.mark.parametrize("name", layout_names())
def test_every_layout_and_alias_decodes_to_canonical_name(name):
    lay = get_layout(name)
    f = P.decode_frame(msg(header(layout=name, shape=[2, lay.num_joints, 3])), LIMITS)
    assert isinstance(f, P.PoseFrame)
    assert f.layout == lay.name
    assert f.joints.shape == (2, lay.num_joints, 3) and f.joints.dtype == np.float32
    assert f.tracks == (0, 1) and f.units == "m"


def test_round_trip_values_and_optional_fields():
    rng = np.random.default_rng(0)
    j = rng.random((3, 33, 4), dtype=np.float32)
    j[1, 5, :3] = np.nan  # missing joint
    j[2, 7, 3] = np.nan  # unknown confidence
    parts = P.encode_pose("cam-1:left.A_b", 42, 12.25, "mediapipe", j, tracks=[7, 3, 100], units="norm")
    f = P.decode_frame(parts, LIMITS)
    assert (f.stream, f.seq, f.t, f.layout, f.tracks, f.units) == ("cam-1:left.A_b", 42, 12.25, "mediapipe33",
                                                                   (7, 3, 100), "norm")  # fmt: skip
    np.testing.assert_array_equal(f.joints, j)
    assert f.has_confidence and f.num_persons == 3


def test_empty_frame():
    f = P.decode_frame(P.encode_pose("s", 0, 0.0, "coco17", np.zeros((0, 17, 3))), LIMITS)
    assert f.joints.shape == (0, 17, 3) and f.tracks == ()
    f = P.decode_frame(msg(header(shape=[0, 20, 4]), b""), LIMITS)
    assert f.joints.shape == (0, 20, 4)


def test_int_t_and_nulls_and_unknown_fields():
    h = header(t=3, type=None, tracks=None, units=None, future={"x": [1, 2, {"y": None}]}, extra="ignored")
    f = P.decode_frame(msg(h), LIMITS)
    assert f.t == 3.0 and type(f.t) is float and f.tracks == (0,) and f.units == "m"
    f = P.decode_frame(msg(header(type=DROP)), LIMITS)
    assert isinstance(f, P.PoseFrame)


def test_nan_coordinates_and_confidence_allowed():
    j = np.full((1, 20, 4), np.nan, dtype=np.float32)
    f = P.decode_frame(P.encode_pose("s", 0, 0.0, "kinect20", j), LIMITS)
    assert np.isnan(f.joints).all()
    j = np.zeros((1, 20, 4), np.float32)
    j[0, :, 3] = [0.0, 1.0] * 10  # bounds included
    P.decode_frame(P.encode_pose("s", 0, 0.0, "kinect20", j), LIMITS)


def test_norm_units_not_range_checked():
    j = np.full((1, 17, 3), -0.2, np.float32)
    assert P.decode_frame(P.encode_pose("s", 0, 0.0, "coco17", j, units="norm"), LIMITS).units == "norm"


def test_limits_boundary():
    parts = msg(header(shape=[16, 20, 3]))
    P.decode_frame(parts, LIMITS)
    size = sum(len(p) for p in parts)
    P.decode_frame(parts, P.Limits(max_message_bytes=size))
    e = reject(parts, P.Limits(max_message_bytes=size - 1))
    assert e.reason == "too_large" and e.stream == "cam0"
    e = reject(parts, P.Limits(max_persons=15))
    assert e.reason == "bad_shape"


# ----------------------------------------------------------------------------- zero copy


def _shares(arr: np.ndarray, buf) -> bool:
    return np.shares_memory(arr, np.frombuffer(buf, dtype=np.uint8))


@pytest.mark.parametrize("kind", ["bytes", "memoryview", "bytearray", "frame"])
def test_zero_copy_views(kind):
    hdr, pl = P.encode_pose("s", 1, 0.5, "ntu25", np.ones((2, 25, 3), np.float32))
    buf = {"bytes": pl, "memoryview": memoryview(pl), "bytearray": bytearray(pl), "frame": zmq.Frame(pl)}[kind]
    f = P.decode_frame([hdr, buf], LIMITS)
    target = buf.buffer if kind == "frame" else buf
    assert _shares(f.joints, target)
    assert not f.joints.flags.writeable
    with pytest.raises(ValueError):
        f.joints[0, 0, 0] = 1.0


def test_zero_copy_from_real_socket():
    ctx = zmq.Context()
    try:
        pull = ctx.socket(zmq.PULL)
        push = ctx.socket(zmq.PUSH)
        for s in (pull, push):
            s.linger = 0
        pull.bind("inproc://proto-test")
        push.connect("inproc://proto-test")
        big = np.arange(16 * 33 * 4, dtype=np.float32).reshape(16, 33, 4) / (16 * 33 * 4)
        push.send_multipart(P.encode_pose("cam0", 9, 1.0, "mediapipe33", big))
        assert pull.poll(2000)
        frames = pull.recv_multipart(copy=False)
        f = P.decode_frame(frames, LIMITS)
        np.testing.assert_array_equal(f.joints, big)
        assert _shares(f.joints, frames[1].buffer)
        eos = P.decode_frame([zmq.Frame(p) for p in P.encode_eos("cam0")], LIMITS)
        assert eos == P.EndOfStream("cam0")
        push.close()
        pull.close()
    finally:
        ctx.term()


# ----------------------------------------------------------------------------- eos


def test_eos_forms():
    assert P.decode_frame(P.encode_eos("cam0"), LIMITS) == P.EndOfStream("cam0")
    h = {"v": 1, "type": "eos", "stream": "cam0"}
    assert P.decode_frame(msg(h, b""), LIMITS) == P.EndOfStream("cam0")
    assert P.decode_frame(msg(dict(h, seq=3, shape="whatever"), b""), LIMITS) == P.EndOfStream("cam0")
    assert P.decode_frame([json.dumps(h).encode()], LIMITS) == P.EndOfStream("cam0")
    e = reject(msg(h, b"\0"))
    assert e.reason == "bad_payload_size" and e.stream == "cam0"
    assert reject(msg(dict(h, v=2), b"")).reason == "bad_version"
    assert reject(msg(dict(h, stream="bad id"), b"")).reason == "bad_field"
    assert reject(msg({"v": 1, "type": "eos"}, b"")).reason == "bad_field"
    assert reject([json.dumps(h).encode(), b"", b""]).reason == "bad_parts"


# ----------------------------------------------------------------------------- every reason

NESTED = "[" * 100_000 + "]" * 100_000
CASES = [
    # bad_parts
    ("no parts", [], "bad_parts", None),
    ("three parts", msg(header()) + [b""], "bad_parts", "cam0"),
    ("truncated multipart", msg(header())[:1], "bad_parts", "cam0"),
    ("part not bytes", ["{}", b""], "bad_parts", None),
    ("part is None", [None, b""], "bad_parts", None),
    # bad_json
    ("binary garbage", [b"\x00\xff\xfe\x13garbage", b""], "bad_json", None),
    ("not utf8", [b'{"v":1,"stream":"\xff"}', b""], "bad_json", None),
    ("utf8 bom", [("\ufeff" + json.dumps(header())).encode(), payload()], "bad_json", None),
    ("NaN token", [b'{"v":1,"stream":"a","seq":0,"t":NaN}', payload()], "bad_json", None),
    ("Infinity token", [b'{"v":1,"stream":"a","t":Infinity}', payload()], "bad_json", None),
    ("-Infinity token", [b'{"v":1,"stream":"a","t":-Infinity}', payload()], "bad_json", None),
    ("array header", [b"[1,2,3]", payload()], "bad_json", None),
    ("string header", [b'"pose"', payload()], "bad_json", None),
    ("empty header", [b"", payload()], "bad_json", None),
    ("trailing data", [json.dumps(header()).encode() + b"x", payload()], "bad_json", None),
    ("single quotes", [b"{'v':1}", payload()], "bad_json", None),
    ("duplicate keys", [b'{"v":1,"v":1,"stream":"a"}', payload()], "bad_json", None),
    ("deep nesting", [('{"v":1,"x":' + NESTED + "}").encode(), payload()], "bad_json", None),
    ("utf16", [json.dumps(header()).encode("utf-16"), payload()], "bad_json", None),
    # bad_version
    ("v=2", msg(header(v=2)), "bad_version", "cam0"),
    ("v missing", msg(header(v=DROP)), "bad_version", "cam0"),
    ("v string", msg(header(v="1")), "bad_version", "cam0"),
    ("v float", msg(header(v=1.0)), "bad_version", "cam0"),
    ("v bool", msg(header(v=True)), "bad_version", "cam0"),
    # bad_field: stream
    ("stream missing", msg(header(stream=DROP)), "bad_field", None),
    ("stream empty", msg(header(stream="")), "bad_field", None),
    ("stream 65 chars", msg(header(stream="a" * 65)), "bad_field", None),
    ("stream space", msg(header(stream="cam 0")), "bad_field", None),
    ("stream slash", msg(header(stream="cam/0")), "bad_field", None),
    ("stream newline", msg(header(stream="cam0\n")), "bad_field", None),
    ("stream unicode", msg(header(stream="kamera\u00e9")), "bad_field", None),
    ("stream int", msg(header(stream=5)), "bad_field", None),
    # bad_field: others
    ("type unknown", msg(header(type="frame")), "bad_field", "cam0"),
    ("float seq", msg(header(seq=1.0)), "bad_field", "cam0"),
    ("bool seq", msg(header(seq=True)), "bad_field", "cam0"),
    ("negative seq", msg(header(seq=-1)), "bad_field", "cam0"),
    ("seq beyond int64", msg(header(seq=2**63)), "bad_field", "cam0"),
    ("seq string", msg(header(seq="1")), "bad_field", "cam0"),
    ("seq missing", msg(header(seq=DROP)), "bad_field", "cam0"),
    ("t string", msg(header(t="0.5")), "bad_field", "cam0"),
    ("t bool", msg(header(t=False)), "bad_field", "cam0"),
    ("t missing", msg(header(t=DROP)), "bad_field", "cam0"),
    ("layout int", msg(header(layout=20)), "bad_field", "cam0"),
    ("layout missing", msg(header(layout=DROP)), "bad_field", "cam0"),
    ("dtype float64", msg(header(dtype="float64"), payload() * 2), "bad_field", "cam0"),
    ("dtype <f4", msg(header(dtype="<f4")), "bad_field", "cam0"),
    ("dtype missing", msg(header(dtype=DROP)), "bad_field", "cam0"),
    ("shape missing", msg(header(shape=DROP)), "bad_field", "cam0"),
    ("shape string", msg(header(shape="1,20,3"), payload()), "bad_field", "cam0"),
    ("shape float", msg(header(shape=[1.0, 20, 3]), payload()), "bad_field", "cam0"),
    ("shape bool", msg(header(shape=[True, 20, 3]), payload()), "bad_field", "cam0"),
    ("tracks wrong length", msg(header(shape=[2, 20, 3], tracks=[0])), "bad_field", "cam0"),
    ("tracks duplicates", msg(header(shape=[2, 20, 3], tracks=[4, 4])), "bad_field", "cam0"),
    ("tracks negative", msg(header(tracks=[-1])), "bad_field", "cam0"),
    ("tracks float", msg(header(tracks=[1.0])), "bad_field", "cam0"),
    ("tracks bool", msg(header(tracks=[True])), "bad_field", "cam0"),
    ("tracks not list", msg(header(tracks=0)), "bad_field", "cam0"),
    ("units cm", msg(header(units="cm")), "bad_field", "cam0"),
    ("confidence > 1", msg(header(shape=[1, 20, 4]), payload(1, 20, 4, 1.5)), "bad_field", "cam0"),
    ("confidence < 0", msg(header(shape=[1, 20, 4]), payload(1, 20, 4, -0.1)), "bad_field", "cam0"),
    # unknown_layout
    ("unknown layout", msg(header(layout="kinect99")), "unknown_layout", "cam0"),
    ("layout case", msg(header(layout="KINECT20")), "unknown_layout", "cam0"),
    # bad_shape
    ("huge shape", msg(header(shape=[10**9, 10**9, 10**9]), b""), "bad_shape", "cam0"),
    ("huge P", msg(header(shape=[10**18, 20, 3]), b""), "bad_shape", "cam0"),
    ("P > max", msg(header(shape=[17, 20, 3])), "bad_shape", "cam0"),
    ("P < 0", msg(header(shape=[-1, 20, 3]), b""), "bad_shape", "cam0"),
    ("J != layout", msg(header(shape=[1, 25, 3])), "bad_shape", "cam0"),
    ("C = 2", msg(header(shape=[1, 20, 2])), "bad_shape", "cam0"),
    ("C = 5", msg(header(shape=[1, 20, 5])), "bad_shape", "cam0"),
    ("shape 2-D", msg(header(shape=[20, 3]), payload()), "bad_shape", "cam0"),
    # bad_payload_size
    ("payload short", msg(header(), payload()[:-1]), "bad_payload_size", "cam0"),
    ("payload long", msg(header(), payload() + b"\0\0\0\0"), "bad_payload_size", "cam0"),
    ("payload for P=0", msg(header(shape=[0, 20, 3]), payload()), "bad_payload_size", "cam0"),
    ("payload float64", msg(header(), np.zeros((1, 20, 3)).tobytes()), "bad_payload_size", "cam0"),
    # non_finite
    ("t 1e999", [b'{"v":1,"stream":"cam0","seq":0,"t":1e999,"layout":"kinect20","shape":[1,20,3],'
                 b'"dtype":"float32"}', payload()], "non_finite", "cam0"),  # fmt: skip
    ("t -1e999", [json.dumps(header()).replace('"t": 0.0', '"t": -1e999').encode(), payload()],
     "non_finite", "cam0"),  # fmt: skip
    ("t huge int", [json.dumps(header()).replace('"t": 0.0', '"t": 1' + "0" * 400).encode(), payload()],
     "non_finite", "cam0"),  # fmt: skip
    ("1e999 in unknown field", [json.dumps(header()).replace("{", '{"x": 1e999, ', 1).encode(), payload()],
     "non_finite", "cam0"),  # fmt: skip
    ("payload +inf", msg(header(), payload(fill=np.inf)), "non_finite", "cam0"),
    ("payload -inf", msg(header(), payload(fill=-np.inf)), "non_finite", "cam0"),
    ("confidence inf", msg(header(shape=[1, 20, 4]), payload(1, 20, 4, np.inf)), "non_finite", "cam0"),
    # too_large
    ("too large", msg(header(), payload() + b"\0" * (1 << 20)), "too_large", "cam0"),
    ("too large header", [b'{"v":1,' + b" " * (1 << 20) + b'"stream":"a"}', b""], "too_large", None),
]


@pytest.mark.parametrize("name,parts,reason,stream", CASES, ids=[c[0] for c in CASES])
def test_rejections(name, parts, reason, stream):
    e = reject(parts)
    assert e.reason == reason, (name, e)
    assert e.stream == stream, (name, e)
    assert e.detail


def test_every_decoder_reason_is_covered():
    covered = {c[2] for c in CASES}
    per_stream = {"seq_not_increasing", "time_backwards", "unknown_stream",  # need the stream's state
                  "too_many_streams", "too_many_tracks", "not_owner", "time_gap"}  # fmt: skip
    assert covered == set(P.REASONS) - per_stream


def test_single_payload_inf_among_nan():
    j = np.full((2, 20, 3), np.nan, np.float32)
    j[1, 19, 2] = np.inf
    assert reject(P.encode_pose("s", 0, 0.0, "kinect20", j)).reason == "non_finite"


def test_large_integer_literal_is_cheap_and_rejected():
    h = json.dumps(header()).replace('"seq": 0', '"seq": ' + "9" * 200_000).encode()
    assert reject([h, payload()]).reason in ("bad_field", "non_finite")


# ----------------------------------------------------------------------------- ordering


def _frame(stream: str, seq: int, t: float) -> P.PoseFrame:
    return P.decode_frame(P.encode_pose(stream, seq, t, "kinect20", np.zeros((0, 20, 3))), LIMITS)


def test_stream_order():
    o = P.StreamOrder()
    o.accept(_frame("a", 5, 1.0))
    o.accept(_frame("a", 7, 1.0))  # gaps allowed, equal t allowed
    o.accept(_frame("b", 0, 0.0))  # streams are independent
    for seq, t, reason in ((7, 2.0, "seq_not_increasing"), (6, 2.0, "seq_not_increasing"),
                           (8, 0.999, "time_backwards")):  # fmt: skip
        with pytest.raises(P.ProtocolError) as ei:
            o.accept(_frame("a", seq, t))
        assert ei.value.reason == reason and ei.value.stream == "a"
    assert o.last("a") == (7, 1.0)  # rejected frames are not recorded
    o.accept(P.EndOfStream("a"))
    assert "a" not in o and len(o) == 1
    with pytest.raises(P.ProtocolError) as ei:
        o.accept(P.EndOfStream("a"))
    assert ei.value.reason == "unknown_stream"
    o.accept(_frame("a", 0, 0.0))  # same id starts again at any seq
    o.forget("a")
    o.forget("never")
    assert o.streams() == ["b"]
    P.StreamOrder.check_next(None, _frame("x", 0, 0.0))
    with pytest.raises(P.ProtocolError):
        P.StreamOrder.check_next((3, 0.0), _frame("x", 3, 0.0))


# ----------------------------------------------------------------------------- error limiter


def test_error_limiter_rate_and_counts():
    lim = P.ErrorLimiter()
    out = []
    for i in range(20):  # 20 rejections within 0.2 s
        out += lim.report("cam0", "bad_field", f"d{i}", 10.0 + i * 0.01)
    assert len(out) == 5 and all(b["count"] == 1 for b in out)
    for b in out:
        P.validate_body(b)
        assert b["stream"] == "cam0" and b["reason"] == "bad_field"
    assert lim.pending() == 15
    assert lim.flush(10.5) == []  # window still full
    assert lim.next_flush_at() == pytest.approx(11.0)
    flushed = lim.flush(11.0)
    assert len(flushed) == 1 and flushed[0]["count"] == 15 and flushed[0]["detail"] == "d19"
    assert lim.pending() == 0
    # counts restart after each message; at 11.5 the window holds only the 11.0 message
    again = lim.report("cam0", "bad_field", "x", 11.5)
    assert len(again) == 1 and again[0]["count"] == 1


def test_error_limiter_window_semantics():
    lim = P.ErrorLimiter(max_per_window=5, window_s=1.0)
    sent = [b for i in range(5) for b in lim.report("s", "bad_json", "", 0.0 + i * 0.1)]
    assert len(sent) == 5
    assert lim.report("s", "bad_json", "", 0.5) == []
    assert lim.report("s", "bad_shape", "", 0.6) == []
    assert lim.report("s", "bad_json", "", 0.7) == []
    # at 1.0 the message sent at 0.0 leaves the window: one slot, oldest pending reason first
    out = lim.flush(1.0)
    assert [(b["reason"], b["count"]) for b in out] == [("bad_json", 2)]
    out = lim.flush(1.1)
    assert [(b["reason"], b["count"]) for b in out] == [("bad_shape", 1)]
    assert lim.pending() == 0 and lim.next_flush_at() is None


def test_error_limiter_streams_independent_and_none():
    lim = P.ErrorLimiter()
    for _ in range(5):
        assert len(lim.report("a", "bad_field", "", 0.0)) == 1
    assert lim.report("a", "bad_field", "", 0.0) == []
    assert len(lim.report("b", "bad_field", "", 0.0)) == 1
    b = lim.report(None, "bad_json", "garbage", 0.0)
    assert b[0]["stream"] is None and P.error_topic(b[0]["stream"]) == "error/"
    e = P.ProtocolError("too_large", "big", "c")
    assert lim.report_error(e, 0.0)[0]["reason"] == "too_large"


def test_error_limiter_flush_within_a_second_and_cleanup():
    lim = P.ErrorLimiter()
    t = 100.0
    for i in range(50):
        lim.report("s", "bad_field", "", t + i * 0.001)
    # whatever is pending leaves at the first flush >= 1 s after the burst began
    assert sum(b["count"] for b in lim.flush(t + 1.0)) == 45
    assert lim.flush(t + 5.0) == [] and lim._streams == {}


def test_error_limiter_suppressed_counts_sum_up():
    lim = P.ErrorLimiter()
    total = 0
    now = 0.0
    for i in range(1000):
        now = i * 0.003
        total += sum(b["count"] for b in lim.report("s", "bad_field", "", now))
        total += sum(b["count"] for b in lim.flush(now))
    total += sum(b["count"] for b in lim.flush(now + 1.0))
    assert total == 1000


# ----------------------------------------------------------------------------- encoding


def test_encode_pose_header_and_validation():
    h, pl = P.encode_pose("cam0", 1, 2, "kinect20", np.zeros((1, 20, 3), np.float64))
    d = json.loads(h)
    assert d == {"v": 1, "type": "pose", "stream": "cam0", "seq": 1, "t": 2.0, "layout": "kinect20",
                 "shape": [1, 20, 3], "dtype": "float32"}  # fmt: skip
    assert len(pl) == 240 and b" " not in h
    assert P.encode_pose("a", np.int64(3), np.float32(0.5), "coco17", np.zeros((1, 17, 3)))[0].count(b'"seq":3')
    for args in (("bad id", 0, 0.0), ("s", -1, 0.0), ("s", True, 0.0), ("s", 1.0, 0.0), ("s", 0, math.nan),
                 ("s", 0, math.inf)):  # fmt: skip
        with pytest.raises(ValueError):
            P.encode_pose(*args, "kinect20", np.zeros((1, 20, 3)))
    with pytest.raises(ValueError):
        P.encode_pose("s", 0, 0.0, "kinect20", np.zeros((20, 3)))
    with pytest.raises(ValueError):
        P.encode_pose("s", 0, 0.0, "kinect20", np.zeros((1, 20, 3)), tracks=[0, 1])
    with pytest.raises(ValueError):
        P.encode_pose("s", 0, 0.0, "kinect20", np.zeros((1, 20, 3)), units="cm")


def test_payload_is_little_endian_c_order():
    j = np.arange(20 * 3, dtype=">f4").reshape(1, 20, 3)  # big-endian input is converted
    _, pl = P.encode_pose("s", 0, 0.0, "kinect20", np.asfortranarray(j))
    assert struct.unpack("<3f", pl[:12]) == (0.0, 1.0, 2.0)


def test_encode_eos():
    (h,) = P.encode_eos("cam0")
    assert json.loads(h) == {"v": 1, "type": "eos", "stream": "cam0"}
    with pytest.raises(ValueError):
        P.encode_eos("")


def test_dumps_strict():
    assert P.dumps({"a": 1, "b": [1.5, "é"]}) == '{"a":1,"b":[1.5,"é"]}'.encode()
    for bad in (math.nan, math.inf, -math.inf, np.float32("nan")):
        with pytest.raises(ValueError):
            P.dumps({"x": bad})
    assert json.loads(P.dumps({"x": np.float32(0.5), "y": np.int64(3), "z": np.arange(2), "w": (1, 2)})) == {
        "x": 0.5, "y": 3, "z": [0, 1], "w": [1, 2]}  # fmt: skip
    assert json.loads(P.dumps({"s": "\ud800"})) == {"s": "\ud800"}  # lone surrogate: ASCII escape


def test_topics():
    assert P.event_topic("cam0") == "event/cam0"
    assert P.scores_topic("cam0") == "scores/cam0"
    assert P.error_topic("cam0") == "error/cam0"
    assert P.error_topic(None) == "error/"
    assert P.STATUS_TOPIC == "status"


def test_pub_round_trip_and_errors():
    body = P.error_body("cam0", "bad_json", "oops", 3)
    parts = P.encode_pub(P.error_topic("cam0"), body)
    assert parts[0] == b"error/cam0"
    assert P.decode_pub(parts) == ("error/cam0", body)
    assert P.decode_pub([zmq.Frame(p) for p in parts]) == ("error/cam0", body)
    for bad, reason in (([b"t"], "bad_parts"), ([b"t", b"[]"], "bad_json"), ([b"\xff", b"{}"], "bad_json"),
                        ([b"t", b'{"x":NaN}'], "bad_json"), ([b"t", b'{"x":1e999}'], "non_finite")):  # fmt: skip
        with pytest.raises(P.ProtocolError) as ei:
            P.decode_pub(bad)
        assert ei.value.reason == reason
    assert P.loads('{"a":1}') == {"a": 1}


# ----------------------------------------------------------------------------- bodies


def _start(**over) -> dict:
    b = P.event_body("start", "cam0", 2, "rid-1", 1, "wave", 7, 1.5, 45, 0.9, 1e9, 3.2, 0.4)
    b.update(over)
    return b


def _end(**over) -> dict:
    b = P.event_body("end", "cam0", 2, "rid-1", 2, "wave", 7, 3.0, 90, 0.2, 1e9, 3.2, 0.4, t_start=1.5,
                     peak_score=0.95, reason="score")  # fmt: skip
    b.update(over)
    return b


def test_body_builders_match_schemas():
    s, e = _start(), _end()
    P.validate_event(s)
    P.validate_event(e)
    assert set(s) == {k for k, (_, r) in P.EVENT_FIELDS.items() if r == "yes"}
    assert set(e) == {k for k, (_, r) in P.EVENT_FIELDS.items() if r in ("yes", "end")}
    assert e["duration"] == 1.5
    joint = P.event_body("start", "cam0", -1, "rid-2", 1, "hug", 3, 0.0, 0, 0.8, 0.0, 0.0, 0.0, tracks=[1, 4])
    P.validate_event(joint)
    assert joint["tracks"] == [1, 4]
    sc = P.scores_body("cam0", 0, 3, 0.1, np.array([0.1, 0.9]))
    P.validate_body(sc)
    assert set(sc) == set(P.SCORES_FIELDS)
    er = P.error_body(None, "bad_json", "x", 2)
    P.validate_body(er)
    assert set(er) == set(P.ERROR_FIELDS)
    model = {"name": "m", "classes": [{"id": 1, "name": "wave"}], "mode": "step", "lookahead": 0.0}
    stt = P.status_body("rid", 1.0, model, ["kinect_v1_20"], 5.0, 0, 1, 0, 0, 0, 0.5, 1.0)
    P.validate_body(stt)
    optional = {k for k, (_, r) in P.STATUS_FIELDS.items() if r == "no"}  # e.g. `workers`, with serve --workers N
    assert set(stt) == set(P.STATUS_FIELDS) - optional and set(stt["model"]) == set(P.STATUS_MODEL_FIELDS)
    # every body survives the wire unchanged
    for b in (s, e, joint, sc, er, stt):
        assert P.decode_pub(P.encode_pub("t", b))[1] == b
    with pytest.raises(ValueError):
        P.event_body("end", "c", 0, "i", 1, "a", 1, 0.0, 0, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        P.event_body("start", "c", -1, "i", 1, "a", 1, 0.0, 0, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        P.event_body("middle", "c", 0, "i", 1, "a", 1, 0.0, 0, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        P.error_body("c", "nope", "")


BAD_EVENTS = [
    ("start with reason", lambda: _start(reason="score")),
    ("end without reason", lambda: {k: v for k, v in _end().items() if k != "reason"}),
    ("end without t_start", lambda: {k: v for k, v in _end().items() if k != "t_start"}),
    ("bool track", lambda: _start(track=True)),
    ("float n", lambda: _start(n=1.0)),
    ("n zero", lambda: _start(n=0)),
    ("string score", lambda: _start(score="0.9")),
    ("nan score", lambda: _start(score=math.nan)),
    ("v 2", lambda: _start(v=2)),
    ("unknown type", lambda: _start(type="middle")),
    ("unknown field", lambda: _start(extra=1)),
    ("tracks without -1", lambda: _start(tracks=[1])),
    ("-1 without tracks", lambda: _start(track=-1)),
    ("bad end reason", lambda: _end(reason="bored")),
    ("bad duration", lambda: _end(duration=5.0)),
    ("bad stream", lambda: _start(stream="a b")),
    ("missing event_id", lambda: {k: v for k, v in _start().items() if k != "event_id"}),
    ("empty event_id", lambda: _start(event_id="")),
    ("class_id float", lambda: _start(class_id=7.0)),
    ("not a dict", lambda: [1]),
]


@pytest.mark.parametrize("name,make", BAD_EVENTS, ids=[b[0] for b in BAD_EVENTS])
def test_validate_event_rejects(name, make):
    with pytest.raises(P.SchemaError):
        P.validate_event(make())


def test_validate_body_rejects():
    model = {"name": "m", "classes": [], "mode": "step", "lookahead": 0.0}
    stt = P.status_body("rid", 1.0, model, [], 5.0, 0, 0, 0, 0, 0, 0.0, 0.0)
    for bad in (dict(stt, frames_in=1.0), dict(stt, model={"name": "m"}), dict(stt, uptime_s=None),
                dict(P.error_body("c", "bad_json", "", 1), count=0),
                dict(P.error_body("c", "bad_json", "", 1), reason="nope"),
                dict(P.scores_body("c", 0, 0, 0.0, [0.5]), scores=[None]), {"type": "nope", "v": 1}, "x"):  # fmt: skip
        with pytest.raises(P.SchemaError):
            P.validate_body(bad)


# ----------------------------------------------------------------------------- properties

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)  # noqa: E501
json_values = st.recursive(json_scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
    st.text(max_size=6), kids, max_size=4), max_leaves=12)  # fmt: skip
_field_values = {
    "v": st.sampled_from([1, 1, 1, 2, 0, "1", 1.0, True, None]),
    "type": st.sampled_from(["pose", "pose", "eos", "x", None, 1]),
    "stream": st.sampled_from(["cam0", "a" * 64, "a" * 65, "", "a b", None, 3]) | st.text(max_size=70),
    "seq": st.integers(min_value=-3, max_value=2**64) | json_scalars,
    "t": st.floats() .filter(lambda x: not math.isnan(x) and not math.isinf(x)) | json_scalars,
    "layout": st.sampled_from(layout_names() + ["nope", 5]),
    "shape": st.lists(st.integers(min_value=-2, max_value=40), min_size=0, max_size=4) | json_values,
    "dtype": st.sampled_from(["float32", "float32", "float64", None]),
    "tracks": st.none() | st.lists(st.integers(min_value=-2, max_value=5) | json_scalars, max_size=5),
    "units": st.sampled_from(["m", "norm", "cm", None]),
}
headers = st.fixed_dictionaries({}, optional=_field_values).flatmap(
    lambda d: st.dictionaries(st.text(max_size=5), json_values, max_size=3).map(lambda extra: {**extra, **d}))


@HSET
@given(st.lists(st.binary(max_size=300), max_size=4))
def test_arbitrary_bytes_only_raise_protocol_error(parts):
    try:
        P.decode_frame(parts, LIMITS)
    except P.ProtocolError as e:
        assert e.reason in P.REASONS


@HSET
@given(headers, st.binary(max_size=64) | st.sampled_from([b"", payload(), payload(2, 20, 4), payload(1, 17, 3)]),
       st.integers(min_value=1, max_value=3))  # fmt: skip
def test_arbitrary_json_headers_only_raise_protocol_error(h, pl, nparts):
    parts = [json.dumps(h).encode(), pl, b""][:nparts]
    try:
        out = P.decode_frame(parts, LIMITS)
    except P.ProtocolError as e:
        assert e.reason in P.REASONS
        assert e.stream is None or P.is_valid_stream_id(e.stream)
    else:
        assert isinstance(out, (P.PoseFrame, P.EndOfStream))


finite32 = st.floats(width=32, allow_infinity=False, allow_nan=True)


@st.composite
def frames(draw):
    name = draw(st.sampled_from(layout_names()))
    j = get_layout(name).num_joints
    p = draw(st.integers(0, 4))
    c = draw(st.sampled_from([3, 4]))
    xyz = draw(st.lists(finite32, min_size=p * j * 3, max_size=p * j * 3))
    arr = np.asarray(xyz, dtype=np.float32).reshape(p, j, 3)
    if c == 4:
        conf = draw(st.lists(st.floats(0, 1, width=32) | st.just(math.nan), min_size=p * j, max_size=p * j))
        arr = np.concatenate([arr, np.asarray(conf, np.float32).reshape(p, j, 1)], axis=2)
    stream = draw(st.from_regex(P.STREAM_ID_RE, fullmatch=True))
    seq = draw(st.integers(0, 2**63 - 1))
    t = draw(st.floats(allow_nan=False, allow_infinity=False))
    tracks = draw(st.none() | st.lists(st.integers(0, 2**63 - 1), min_size=p, max_size=p, unique=True))
    units = draw(st.sampled_from([None, "m", "norm"]))
    return stream, seq, t, name, arr, tracks, units


@HSET
@given(frames())
def test_valid_frames_round_trip(fr):
    stream, seq, t, name, arr, tracks, units = fr
    out = P.decode_frame(P.encode_pose(stream, seq, t, name, arr, tracks=tracks, units=units), LIMITS)
    assert (out.stream, out.seq, out.t) == (stream, seq, t)
    assert out.layout == get_layout(name).name
    assert out.tracks == (tuple(tracks) if tracks is not None else tuple(range(arr.shape[0])))
    assert out.units == (units or "m")
    np.testing.assert_array_equal(out.joints, arr)  # NaN == NaN here
    assert out.joints.dtype == np.float32 and out.joints.shape == arr.shape
