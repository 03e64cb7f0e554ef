"""Wire protocol v1: the one module that knows what goes over the ZeroMQ sockets.

Producers PUSH pose frames (multipart ``[header JSON, float32 payload]``) to the
runtime's PULL socket; the runtime PUBlishes ``[topic, body JSON]`` messages (events,
scores, status, errors). The normative contract is ``PROTOCOL.md``; the public
description is ``docs/protocol.md`` and ``tests/stream/test_protocol_doc.py`` checks
that the schemas below (``POSE_HEADER_FIELDS``, ``EVENT_FIELDS``, ...) and that document
agree.

Everything here is pure and torch-free: decoding validates one message and either
returns a ``PoseFrame`` / ``EndOfStream`` or raises ``ProtocolError`` with one of the
``REASONS``. Per-stream ordering (``StreamOrder``) and error rate limiting
(``ErrorLimiter``) keep small explicit state objects owned by the caller; time is always
passed in (monotonic seconds), never read from a global clock.

Decisions where PROTOCOL.md is silent (all documented in docs/protocol.md):

* Duplicate keys in any JSON object, a UTF-8 byte-order mark, or nesting too deep for
  the parser are ``bad_json``.
* A header whose ``v`` is missing or is not the JSON integer ``1`` is ``bad_version``
  (checked before any other field).
* JSON ``null`` for an optional header field (``type``, ``tracks``, ``units``) means
  "absent".
* Any number in the header that parses to infinity (also in unknown fields, also a huge
  integer) is ``non_finite``. Integers (``seq``, ``tracks``) must fit in a signed 64-bit
  integer.
* A NaN confidence is accepted (unknown confidence, like a missing joint); an infinite
  one is ``non_finite``; a finite one outside [0, 1] is ``bad_field``.
* ``units = "norm"`` coordinates are not range-checked (off-image landmarks are real).
* An ``eos`` with a non-empty second part is ``bad_payload_size``; a pose message with
  one part, or any message with 0 or more than 2 parts, is ``bad_parts``.
* The stream id of a rejected message is read on a best-effort basis even for
  ``too_large`` / ``bad_parts`` (so the error goes to ``error/<stream>``).
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import zmq

from .layouts import get_layout

__all__ = [
    "VERSION",
    "DEFAULT_IN",
    "DEFAULT_OUT",
    "REASONS",
    "NOTICE_REASONS",
    "END_REASONS",
    "EVENT_TYPES",
    "UNITS",
    "STREAM_ID_RE",
    "STATUS_TOPIC",
    "Limits",
    "ProtocolError",
    "SchemaError",
    "PoseFrame",
    "EndOfStream",
    "decode_frame",
    "checked_pose_frame",
    "StreamOrder",
    "ErrorLimiter",
    "encode_pose",
    "encode_eos",
    "dumps",
    "loads",
    "encode_pub",
    "decode_pub",
    "event_topic",
    "scores_topic",
    "error_topic",
    "is_valid_stream_id",
    "event_body",
    "scores_body",
    "error_body",
    "status_body",
    "validate_event",
    "validate_body",
    "POSE_HEADER_FIELDS",
    "EVENT_FIELDS",
    "STATUS_FIELDS",
    "STATUS_MODEL_FIELDS",
    "ERROR_FIELDS",
    "SCORES_FIELDS",
    "SCHEMAS",
]

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- constants

VERSION = 1
"""Protocol major version carried as ``v`` in every header and body."""

DEFAULT_IN = "tcp://127.0.0.1:5555"
"""Runtime's PULL endpoint (pose frames in). Loopback only by default."""

DEFAULT_OUT = "tcp://127.0.0.1:5556"
"""Runtime's PUB endpoint (events, scores, status, errors out)."""

REASONS: tuple[str, ...] = (
    "bad_json",
    "bad_version",
    "bad_field",
    "unknown_layout",
    "bad_shape",
    "bad_payload_size",
    "non_finite",
    "seq_not_increasing",
    "time_backwards",
    "too_large",
    "bad_parts",
    "unknown_stream",
    "too_many_streams",
    "too_many_tracks",
    "not_owner",
    "time_gap",
)
"""Every ``reason`` an ``error`` body may carry (PROTOCOL.md revision 4 added the last four).

``time_gap`` is a notice, not a rejection: the frame after the gap was accepted and
started the stream afresh (its open actions ended with reason ``reset``), so it is not
counted in ``frames_rejected``."""

NOTICE_REASONS: tuple[str, ...] = ("time_gap",)
"""Error reasons published for an accepted frame (not counted as rejections)."""

END_REASONS: tuple[str, ...] = ("score", "eos", "timeout", "shutdown", "reset")
"""Every ``reason`` an ``end`` event may carry."""

EVENT_TYPES: tuple[str, ...] = ("start", "end")
UNITS: tuple[str, ...] = ("m", "norm")
FRAME_TYPES: tuple[str, ...] = ("pose", "eos")

STREAM_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
"""Valid stream ids (match with ``fullmatch``)."""

STATUS_TOPIC = "status"
EVENT_PREFIX = "event/"
SCORES_PREFIX = "scores/"
ERROR_PREFIX = "error/"

INT64_MAX = 2**63 - 1
_MAX_INT_DIGITS = 30  # longer integer literals are parsed as floats (no quadratic int())
_PEEK_LIMIT = 64 * 1024  # header bytes parsed just to find the stream id of a rejected message
_DETAIL_MAX = 200  # characters of an error's detail text


@dataclass(frozen=True)
class Limits:
    """Input limits of the runtime.

    ``max_persons``: most persons (P) per frame. ``max_message_bytes``: largest accepted
    message, all parts together (bytes). ``transport_max_bytes``: ZMQ_MAXMSGSIZE for the
    PULL socket (bytes; a bigger message drops the sender's connection). The silence
    timeout is a decision setting and lives in ``DetectorConfig.silence_timeout_s``.
    """

    max_persons: int = 16
    max_message_bytes: int = 1 << 20
    transport_max_bytes: int = 16 << 20

    def __post_init__(self) -> None:
        if not isinstance(self.max_persons, int) or self.max_persons < 0:
            raise ValueError(f"max_persons must be an int >= 0, got {self.max_persons!r}")
        if not isinstance(self.max_message_bytes, int) or self.max_message_bytes <= 0:
            raise ValueError(f"max_message_bytes must be an int > 0, got {self.max_message_bytes!r}")
        if not isinstance(self.transport_max_bytes, int) or self.transport_max_bytes <= 0:
            raise ValueError(f"transport_max_bytes must be an int > 0, got {self.transport_max_bytes!r}")
        if self.max_message_bytes > self.transport_max_bytes:
            raise ValueError(
                f"max_message_bytes ({self.max_message_bytes}) exceeds the transport limit "
                f"({self.transport_max_bytes}); raise transport_max_bytes too"
            )


class ProtocolError(Exception):
    """A message broke the protocol.

    ``reason`` is one of ``REASONS``; ``detail`` a short human-readable text; ``stream``
    the stream id when it could be read from the message (else None, and the error goes
    to topic ``error/``).
    """

    def __init__(self, reason: str, detail: str = "", stream: str | None = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown protocol error reason {reason!r}")
        detail = detail if len(detail) <= _DETAIL_MAX else detail[: _DETAIL_MAX - 3] + "..."
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.stream = stream


class SchemaError(ValueError):
    """A published body (event, status, error, scores) does not match its schema."""


# ----------------------------------------------------------------------------- schemas
# field name -> (JSON type, required). Types: "int", "float" (any finite JSON number),
# "str", "str or null", "object", "[int]", "[float]", "[str]", "[object]", "[int, int, int]".
# Required: "yes", "no", "pose" (pose frames only), "end" (end events only),
# "track=-1" (only when track is -1). docs/protocol.md has one table per schema.

POSE_HEADER_FIELDS: dict[str, tuple[str, str]] = {
    "v": ("int", "yes"),
    "type": ("str", "no"),
    "stream": ("str", "yes"),
    "seq": ("int", "pose"),
    "t": ("float", "pose"),
    "layout": ("str", "pose"),
    "shape": ("[int, int, int]", "pose"),
    "dtype": ("str", "pose"),
    "tracks": ("[int]", "no"),
    "units": ("str", "no"),
}

EVENT_FIELDS: dict[str, tuple[str, str]] = {
    "v": ("int", "yes"),
    "type": ("str", "yes"),
    "stream": ("str", "yes"),
    "track": ("int", "yes"),
    "tracks": ("[int]", "track=-1"),
    "event_id": ("str", "yes"),
    "n": ("int", "yes"),
    "action": ("str", "yes"),
    "class_id": ("int", "yes"),
    "t": ("float", "yes"),
    "seq": ("int", "yes"),
    "score": ("float", "yes"),
    "emitted_at": ("float", "yes"),
    "latency_ms": ("float", "yes"),
    "delay_s": ("float", "yes"),
    "t_start": ("float", "end"),
    "duration": ("float", "end"),
    "peak_score": ("float", "end"),
    "reason": ("str", "end"),
}

STATUS_FIELDS: dict[str, tuple[str, str]] = {
    "v": ("int", "yes"),
    "type": ("str", "yes"),
    "runtime_id": ("str", "yes"),
    "uptime_s": ("float", "yes"),
    "model": ("object", "yes"),
    "layouts": ("[str]", "yes"),
    "silence_timeout_s": ("float", "yes"),
    "streams": ("int", "yes"),
    "frames_in": ("int", "yes"),
    "frames_rejected": ("int", "yes"),
    "frames_dropped": ("int", "yes"),
    "events_out": ("int", "yes"),
    "infer_ms_p50": ("float", "yes"),
    "infer_ms_p99": ("float", "yes"),
    "workers": ("[object]", "no"),  # serve --workers N > 1 only (docs/scaling.md)
}

STATUS_MODEL_FIELDS: dict[str, tuple[str, str]] = {
    "name": ("str", "yes"),
    "classes": ("[object]", "yes"),
    "mode": ("str", "yes"),
    "lookahead": ("float", "yes"),
}

ERROR_FIELDS: dict[str, tuple[str, str]] = {
    "v": ("int", "yes"),
    "type": ("str", "yes"),
    "stream": ("str or null", "yes"),
    "reason": ("str", "yes"),
    "detail": ("str", "yes"),
    "count": ("int", "yes"),
}

SCORES_FIELDS: dict[str, tuple[str, str]] = {
    "v": ("int", "yes"),
    "type": ("str", "yes"),
    "stream": ("str", "yes"),
    "track": ("int", "yes"),
    "seq": ("int", "yes"),
    "t": ("float", "yes"),
    "scores": ("[float]", "yes"),
}

SCHEMAS: dict[str, dict[str, tuple[str, str]]] = {
    "pose_header": POSE_HEADER_FIELDS,
    "event": EVENT_FIELDS,
    "status": STATUS_FIELDS,
    "status_model": STATUS_MODEL_FIELDS,
    "error": ERROR_FIELDS,
    "scores": SCORES_FIELDS,
}
"""All schemas by name (the names tag the tables in docs/protocol.md)."""


# ----------------------------------------------------------------------------- messages


@dataclass(frozen=True, eq=False)
class PoseFrame:
    """One decoded pose frame.

    ``joints`` is a read-only (P, J, C) float32 view of the message payload (no copy):
    x, y, z in metres (``units == "m"``) or image-normalised (``"norm"``), plus a
    confidence in [0, 1] when C = 4; NaN marks a missing joint. ``t`` is the source's
    capture time in seconds. ``layout`` is the canonical layout name (aliases resolved).
    ``tracks[p]`` is the persistent id of person slot ``p``. Compared by identity.
    """

    stream: str
    seq: int
    t: float
    layout: str
    joints: np.ndarray
    tracks: tuple[int, ...]
    units: str = "m"

    @property
    def num_persons(self) -> int:
        """P, persons in this frame."""
        return int(self.joints.shape[0])

    @property
    def has_confidence(self) -> bool:
        """True when the payload carries a 4th (confidence) channel."""
        return int(self.joints.shape[2]) == 4


@dataclass(frozen=True)
class EndOfStream:
    """The producer ended ``stream``: close its actions and free its state."""

    stream: str


# ----------------------------------------------------------------------------- JSON


class _JsonReject(Exception):
    """Raised inside json hooks; turned into bad_json."""


def _reject_constant(token: str) -> Any:
    raise _JsonReject(f"{token} is not a JSON number (RFC 8259)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _JsonReject(f"duplicate key {k!r}")
        out[k] = v
    return out


class _Parse:
    """Strict JSON parsing of one text; remembers whether a number overflowed to infinity."""

    __slots__ = ("saw_inf",)

    def __init__(self) -> None:
        self.saw_inf = False

    def _float(self, s: str) -> float:
        x = float(s)
        if math.isinf(x):
            self.saw_inf = True
        return x

    def _int(self, s: str) -> int | float:
        if len(s) <= _MAX_INT_DIGITS:
            return int(s)
        return self._float(s)  # too big for any integer field: keep it a (maybe infinite) float

    def loads(self, text: str) -> Any:
        try:
            return json.loads(
                text,
                parse_constant=_reject_constant,
                object_pairs_hook=_unique_keys,
                parse_float=self._float,
                parse_int=self._int,
            )
        except _JsonReject as e:
            raise ProtocolError("bad_json", str(e)) from None
        except RecursionError:
            raise ProtocolError("bad_json", "JSON nested too deeply") from None
        except ValueError as e:  # JSONDecodeError and friends
            raise ProtocolError("bad_json", f"not valid JSON: {e}") from None


class _Fallback(Exception):
    """The fast parse met something only the strict parser may judge."""


def _pairs_fast(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Fallback  # duplicate keys: the strict parser names the key
    return out


_FAST_SCAN = json.JSONDecoder(object_pairs_hook=_pairs_fast).scan_once
_INT_HI = 10**_MAX_INT_DIGITS  # non-negative literals of at most _MAX_INT_DIGITS digits
_INT_LO = -(10 ** (_MAX_INT_DIGITS - 1))  # negative ones (the sign counts as a character)


def _plain(obj: Any) -> bool:
    """True when every number in ``obj`` parses the same with and without the strict
    parser's hooks: finite floats and ints of at most ``_MAX_INT_DIGITS`` characters."""
    for v in obj.values() if type(obj) is dict else obj:
        tv = type(v)
        if tv is str:
            continue
        if tv is int:
            if not _INT_LO < v < _INT_HI:
                return False
        elif tv is float:
            if v - v != 0.0:  # inf or nan (a NaN/Infinity constant, or an overflow)
                return False
        elif (tv is list or tv is dict) and not _plain(v):
            return False
    return True


def _decode_json_object(buf: bytes | memoryview, what: str = "header") -> tuple[dict, bool]:
    """Strict UTF-8 JSON object -> (dict, any number parsed to infinity)."""
    try:
        text = str(buf, "utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError("bad_json", f"{what} is not UTF-8: {e.reason} at byte {e.start}") from None
    if text.startswith("\ufeff"):
        raise ProtocolError("bad_json", f"{what} starts with a byte-order mark")
    # Fast path: the C parser without per-number hooks; anything unusual (an error, a
    # duplicate key, a non-finite or very long number) is parsed again by the strict
    # parser, which alone decides (and words) the outcome.
    if text[:1] == "{":
        try:
            obj, end = _FAST_SCAN(text, 0)
            if end == len(text) and _plain(obj):
                return obj, False
        except (_Fallback, StopIteration, ValueError, RecursionError):
            pass
    p = _Parse()
    obj = p.loads(text)
    if not isinstance(obj, dict):
        raise ProtocolError("bad_json", f"{what} is a JSON {type(obj).__name__}, not an object")
    return obj, p.saw_inf


def loads(data: bytes | memoryview | str) -> dict:
    """Parse one strict JSON object (UTF-8 bytes or str); ProtocolError ``bad_json`` or
    ``non_finite`` (a number that overflows to infinity) otherwise."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    obj, saw_inf = _decode_json_object(data, "body")
    if saw_inf:
        raise ProtocolError("non_finite", "a number overflows to infinity")
    return obj


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


_C_MAKE_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_ENCODERS = threading.local()


def _encoder() -> tuple[Any, dict]:
    """This thread's C iterencode as ``json.dumps(obj, allow_nan=False, separators=(",",
    ":"), ensure_ascii=False, default=_json_default)`` builds it on every call, built once
    per thread, with its circular-reference memo (emptied after each successful call,
    cleared by ``dumps`` after a failed one)."""
    enc = getattr(_ENCODERS, "enc", None)
    if enc is None:
        markers: dict = {}
        enc = _ENCODERS.enc = (_C_MAKE_ENCODER(markers, _json_default, json.encoder.encode_basestring, None, ":",
                                               ",", False, False, False), markers)  # fmt: skip
    return enc


def dumps(obj: Any) -> bytes:
    """Strict, compact UTF-8 JSON (no NaN/Infinity: ValueError instead).

    numpy scalars and arrays are converted to plain numbers/lists. Strings that cannot be
    UTF-8 (lone surrogates) fall back to ASCII escapes, so the output is always valid.
    """
    try:
        if _C_MAKE_ENCODER is not None and type(obj) is dict:
            enc, markers = _encoder()
            try:
                text = "".join(enc(obj, 0))
            except BaseException:
                markers.clear()
                raise
        else:
            text = json.dumps(obj, allow_nan=False, separators=(",", ":"), ensure_ascii=False,
                              default=_json_default)  # fmt: skip
    except ValueError as e:
        raise ValueError(f"not strict JSON (NaN or infinity?): {e}") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, allow_nan=False, separators=(",", ":"), ensure_ascii=True,
                          default=_json_default).encode("ascii")  # fmt: skip


# ----------------------------------------------------------------------------- decoding


def is_valid_stream_id(s: object) -> bool:
    """True for a str matching ``[A-Za-z0-9_.:-]{1,64}``."""
    return isinstance(s, str) and STREAM_ID_RE.fullmatch(s) is not None


def _is_int(x: object) -> bool:
    return type(x) is int  # not bool, not a float like 1.0


def _is_number(x: object) -> bool:
    return type(x) is int or type(x) is float


def _short(x: object) -> str:
    r = repr(x)
    return r if len(r) <= 60 else r[:57] + "..."


def _views(parts: Sequence[bytes | zmq.Frame | memoryview]) -> list[memoryview]:
    """Byte views of each part (no copies)."""
    try:
        items = list(parts)
    except TypeError:
        raise ProtocolError("bad_parts", "message is not a sequence of parts") from None
    views = []
    for i, p in enumerate(items):
        try:
            mv = p.buffer if isinstance(p, zmq.Frame) else memoryview(p)
        except TypeError:
            raise ProtocolError("bad_parts", f"part {i} is not a byte buffer ({type(p).__name__})") from None
        if not mv.c_contiguous:  # copy once; a received zmq part is always contiguous
            mv = memoryview(mv.tobytes())
        if mv.format != "B" or mv.ndim != 1:
            mv = mv.cast("B")
        views.append(mv)
    return views


def _peek_stream(view: memoryview) -> str | None:
    """Best-effort stream id of a message being rejected for its size or parts."""
    if view.nbytes > _PEEK_LIMIT:
        return None
    try:
        hdr, _ = _decode_json_object(view)
    except ProtocolError:
        return None
    s = hdr.get("stream")
    return s if is_valid_stream_id(s) else None


def decode_frame(parts: Sequence[bytes | zmq.Frame | memoryview], limits: Limits) -> PoseFrame | EndOfStream:
    """Validate one received multipart message and decode it.

    ``parts`` as returned by ``recv_multipart`` (``copy=False`` gives ``zmq.Frame`` and
    keeps the payload zero-copy). Returns a ``PoseFrame`` whose ``joints`` views the
    payload buffer, or an ``EndOfStream``. Raises ``ProtocolError`` (and nothing else)
    for anything PROTOCOL.md forbids; per-stream ordering is checked separately by
    ``StreamOrder``.
    """
    views = _views(parts)
    hdr, stream = _check_envelope(views, limits)
    head = _fast_pose_header(hdr, len(views), limits) or _check_header(hdr, views, stream, limits)
    if isinstance(head, EndOfStream):
        return head
    joints = _check_payload(views[1], head, stream)
    return checked_pose_frame(stream, head.seq, head.t, head.layout, joints, head.tracks, head.units)


_new = object.__new__
_setattr = object.__setattr__


def checked_pose_frame(stream: str, seq: int, t: float, layout: str, joints: np.ndarray,
                       tracks: tuple[int, ...], units: str) -> PoseFrame:  # fmt: skip
    """``PoseFrame(...)`` for fields already validated, without the frozen dataclass's
    per-field ``object.__setattr__`` (one frame per message: the hot path); the result is
    the same frozen instance."""
    frame = _new(PoseFrame)
    _setattr(frame, "__dict__", {"stream": stream, "seq": seq, "t": t, "layout": layout, "joints": joints,
                                 "tracks": tracks, "units": units})  # fmt: skip
    return frame


class _PoseHeader(NamedTuple):
    """The checked fields of a pose header; ``shape`` is the header's list [P, J, C]."""

    seq: int
    t: float
    layout: str
    shape: list[int]
    tracks: tuple[int, ...]
    units: str


def _check_envelope(views: list[memoryview], limits: Limits) -> tuple[dict, str]:
    """Parts count, total size, JSON header, version, stream id, non-finite header numbers.

    Returns the parsed header and its (valid) stream id.
    """
    n = len(views)
    if n == 0 or n > 2:
        raise ProtocolError("bad_parts", f"expected 1 or 2 parts, got {n}",
                            _peek_stream(views[0]) if n else None)  # fmt: skip
    total = sum(v.nbytes for v in views)
    if total > limits.max_message_bytes:
        raise ProtocolError("too_large", f"message is {total} bytes, limit {limits.max_message_bytes}",
                            _peek_stream(views[0]))  # fmt: skip

    hdr, saw_inf = _decode_json_object(views[0])
    raw_stream = hdr.get("stream")
    stream = raw_stream if is_valid_stream_id(raw_stream) else None

    v = hdr.get("v")
    if not (_is_int(v) and v == VERSION):
        raise ProtocolError("bad_version", f"v = {_short(v)}; this runtime speaks v = {VERSION}", stream)
    if stream is None:
        what = "missing" if raw_stream is None else _short(raw_stream)
        raise ProtocolError("bad_field", f"stream: {what} is not a stream id [A-Za-z0-9_.:-]{{1,64}}")
    if saw_inf:
        raise ProtocolError("non_finite", "a header number overflows to infinity", stream)
    return hdr, stream


def _fast_pose_header(hdr: dict, n: int, limits: Limits) -> _PoseHeader | None:
    """``_check_header``'s result for a pose header that passes every check, taking the
    shortest way; None when anything is unusual (``_check_header`` then decides and
    words the reason). Every message goes through here: the hot path of decoding."""
    g = hdr.get
    mtype = g("type")
    if (mtype is not None and mtype != "pose") or n != 2:
        return None
    seq, t, shape, tracks_raw, units = g("seq"), g("t"), g("shape"), g("tracks"), g("units")
    if type(seq) is not int or not 0 <= seq <= INT64_MAX or g("dtype") != "float32":
        return None
    if type(t) is not float:
        if type(t) is not int or not -_INT_HI < t < _INT_HI:
            return None
        t = float(t)
    if t - t != 0.0 or type(shape) is not list or len(shape) != 3:
        return None
    p, j, c = shape
    if type(p) is not int or type(j) is not int or type(c) is not int or not 0 <= p <= limits.max_persons:
        return None
    layout = g("layout")
    if type(layout) is not str:
        return None
    try:
        lay = get_layout(layout)
    except KeyError:
        return None
    if j != lay.num_joints or (c != 3 and c != 4):
        return None
    if tracks_raw is None:
        tracks = tuple(range(p))
    else:
        if type(tracks_raw) is not list or len(tracks_raw) != p:
            return None
        for x in tracks_raw:
            if type(x) is not int or not 0 <= x <= INT64_MAX:
                return None
        if len(set(tracks_raw)) != p:
            return None
        tracks = tuple(tracks_raw)
    if units is None:
        units = "m"
    elif units not in UNITS:
        return None
    return _PoseHeader(seq=seq, t=t, layout=lay.name, shape=shape, tracks=tracks, units=units)


def _check_header(hdr: dict, views: list[memoryview], stream: str,
                  limits: Limits) -> _PoseHeader | EndOfStream:  # fmt: skip
    """Type (an ``EndOfStream`` is returned here), seq, t, layout, dtype, shape, tracks, units."""

    def bad(reason: str, detail: str) -> ProtocolError:
        return ProtocolError(reason, detail, stream)

    n = len(views)
    mtype = hdr.get("type")
    if mtype is None:
        mtype = "pose"
    if mtype not in FRAME_TYPES:
        raise bad("bad_field", f"type: {_short(mtype)} is neither 'pose' nor 'eos'")
    if mtype == "eos":
        if n == 2 and views[1].nbytes:
            raise bad("bad_payload_size", f"eos payload must be empty, got {views[1].nbytes} bytes")
        return EndOfStream(stream)
    if n != 2:
        raise bad("bad_parts", "a pose message has two parts [header, payload], got 1")

    seq = hdr.get("seq")
    if not _is_int(seq) or not 0 <= seq <= INT64_MAX:
        raise bad("bad_field", f"seq: {_short(seq)} is not an integer in [0, 2^63)")
    t = hdr.get("t")
    if not _is_number(t):
        raise bad("bad_field", f"t: {_short(t)} is not a number (seconds)")
    try:
        t = float(t)
    except OverflowError:
        raise bad("non_finite", "t overflows to infinity") from None
    if not math.isfinite(t):
        raise bad("non_finite", f"t = {t}")

    layout_name = hdr.get("layout")
    if not isinstance(layout_name, str):
        raise bad("bad_field", f"layout: {_short(layout_name)} is not a string")
    try:
        lay = get_layout(layout_name)
    except KeyError:
        raise bad("unknown_layout", f"layout {_short(layout_name)} is not known to this runtime") from None

    dtype = hdr.get("dtype")
    if dtype != "float32":
        raise bad("bad_field", f"dtype: {_short(dtype)}; only 'float32' (little-endian) is allowed")

    shape = hdr.get("shape")
    if not isinstance(shape, list):
        raise bad("bad_field", f"shape: {_short(shape)} is not a list [P, J, C]")
    if len(shape) != 3:
        raise bad("bad_shape", f"shape has {len(shape)} dimensions, expected [P, J, C]")
    if not all(_is_int(d) for d in shape):
        raise bad("bad_field", f"shape: {_short(shape)} must hold integers")
    p, j, c = shape
    if not 0 <= p <= limits.max_persons:
        raise bad("bad_shape", f"P = {p} persons, allowed 0..{limits.max_persons}")
    if j != lay.num_joints:
        raise bad("bad_shape", f"J = {j}, layout {lay.name} has {lay.num_joints} joints")
    if c not in (3, 4):
        raise bad("bad_shape", f"C = {c}, expected 3 (x, y, z) or 4 (x, y, z, confidence)")

    tracks_raw = hdr.get("tracks")
    if tracks_raw is None:
        tracks = tuple(range(p))
    else:
        if not isinstance(tracks_raw, list) or not all(_is_int(x) and 0 <= x <= INT64_MAX for x in tracks_raw):
            raise bad("bad_field", f"tracks: {_short(tracks_raw)} is not a list of integers >= 0")
        if len(tracks_raw) != p:
            raise bad("bad_field", f"tracks has {len(tracks_raw)} ids for P = {p} persons")
        if len(set(tracks_raw)) != p:
            raise bad("bad_field", f"tracks {_short(tracks_raw)} has duplicates")
        tracks = tuple(tracks_raw)

    units = hdr.get("units")
    if units is None:
        units = "m"
    if units not in UNITS:
        raise bad("bad_field", f"units: {_short(units)} is neither 'm' nor 'norm'")
    return _PoseHeader(seq=seq, t=t, layout=lay.name, shape=shape, tracks=tracks, units=units)


# The little-endian float32 infinities. A payload holding neither byte string anywhere
# holds no infinite value; a hit (possibly across two floats) is checked exactly.
_POS_INF, _NEG_INF = np.float32(np.inf).astype("<f4").tobytes(), np.float32(-np.inf).astype("<f4").tobytes()


def _may_hold_inf(payload: memoryview) -> bool:
    """False when no 4 consecutive bytes of ``payload`` spell a float32 infinity (a
    substring search is far cheaper than ``np.isinf`` on a small array)."""
    raw = payload.obj if type(payload.obj) is bytes and payload.nbytes == len(payload.obj) else payload.tobytes()
    return _POS_INF in raw or _NEG_INF in raw


def _check_payload(payload: memoryview, head: _PoseHeader, stream: str) -> np.ndarray:
    """Payload size, the read-only (P, J, C) float32 view, no infinities, confidences in [0, 1]."""

    def bad(reason: str, detail: str) -> ProtocolError:
        return ProtocolError(reason, detail, stream)

    shape = head.shape
    p, j, c = shape
    expected = p * j * c * 4
    if payload.nbytes != expected:
        raise bad("bad_payload_size", f"payload is {payload.nbytes} bytes, shape {shape} needs {expected}")
    joints = np.frombuffer(payload, dtype="<f4").reshape(p, j, c)
    joints.flags.writeable = False
    if p:
        if _may_hold_inf(payload) and np.isinf(joints).any():
            raise bad("non_finite", "payload holds an infinite value (missing joints are NaN)")
        if c == 4:
            conf = joints[..., 3]
            if ((conf < 0.0) | (conf > 1.0)).any():
                raise bad("bad_field", "a confidence is outside [0, 1]")
    return joints


# ----------------------------------------------------------------------------- ordering


class StreamOrder:
    """Per-stream ``seq``/``t`` ordering (runtime state, one owner, not thread-safe).

    ``accept(msg)`` checks a decoded message against the stream's previous frame and
    records it; ``eos`` for a stream without state is ``unknown_stream`` and frees the
    state otherwise. ``forget(stream)`` frees a stream's state (silence timeout).
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, float]] = {}

    @staticmethod
    def check_next(prev: tuple[int, float] | None, frame: PoseFrame) -> None:
        """Raise ``seq_not_increasing`` / ``time_backwards`` if ``frame`` cannot follow
        ``prev`` = (seq, t seconds) of the same stream (None: first frame, always fine)."""
        if prev is None:
            return
        pseq, pt = prev
        if frame.seq <= pseq:
            raise ProtocolError("seq_not_increasing", f"seq {frame.seq} after {pseq}", frame.stream)
        if frame.t < pt:
            raise ProtocolError("time_backwards", f"t {frame.t!r} s after {pt!r} s", frame.stream)

    def accept(self, msg: PoseFrame | EndOfStream) -> None:
        """Check and record ``msg``; raises ProtocolError and records nothing on failure."""
        if isinstance(msg, EndOfStream):
            if self._last.pop(msg.stream, None) is None:
                raise ProtocolError("unknown_stream", f"eos for stream {msg.stream!r}, which has no state",
                                    msg.stream)  # fmt: skip
            return
        self.check_next(self._last.get(msg.stream), msg)
        self._last[msg.stream] = (msg.seq, msg.t)

    def last(self, stream: str) -> tuple[int, float] | None:
        """(seq, t) of the stream's last accepted frame, or None."""
        return self._last.get(stream)

    def forget(self, stream: str) -> None:
        """Free a stream's state (e.g. after a silence timeout); unknown ids are ignored."""
        self._last.pop(stream, None)

    def streams(self) -> list[str]:
        """Streams with state."""
        return list(self._last)

    def __contains__(self, stream: object) -> bool:
        return stream in self._last

    def __len__(self) -> int:
        return len(self._last)


# ----------------------------------------------------------------------------- errors


@dataclass
class _Pending:
    count: int = 0
    detail: str = ""
    since: float = 0.0  # monotonic s of the first suppressed rejection


@dataclass
class _StreamErrors:
    sent: deque = field(default_factory=deque)  # monotonic s of recent error messages
    pending: dict[str, _Pending] = field(default_factory=dict)


class ErrorLimiter:
    """Rate-limits ``error`` messages: at most ``max_per_window`` per ``window_s`` seconds
    per stream (``None`` = the unknown stream, topic ``error/``).

    Every rejection goes through ``report``; it returns the bodies to publish now (zero or
    one). A suppressed rejection is counted and carried in ``count`` of the next message
    for the same (stream, reason). ``flush(now)`` returns pending counts that may go out
    now; call it often (every loop turn is fine, it is cheap) so pending counts leave
    within ``window_s`` of being suppressed. Times are monotonic seconds, passed in.
    When more reasons are pending on one stream than the rate allows, the oldest go first.
    """

    def __init__(self, max_per_window: int = 5, window_s: float = 1.0) -> None:
        if max_per_window < 1 or window_s <= 0:
            raise ValueError("max_per_window must be >= 1 and window_s > 0")
        self.max_per_window = max_per_window
        self.window_s = window_s
        self._streams: dict[str | None, _StreamErrors] = {}

    def _room(self, st: _StreamErrors, now: float) -> bool:
        while st.sent and now - st.sent[0] >= self.window_s:
            st.sent.popleft()
        return len(st.sent) < self.max_per_window

    def report(self, stream: str | None, reason: str, detail: str, now: float) -> list[dict]:
        """Count one rejection; returns the error bodies to publish now."""
        st = self._streams.setdefault(stream, _StreamErrors())
        pend = st.pending.get(reason)
        if pend is None:
            pend = st.pending[reason] = _Pending(since=now)
        if pend.count == 0:
            pend.since = now
        pend.count += 1
        pend.detail = detail
        if not self._room(st, now):
            return []
        st.sent.append(now)
        del st.pending[reason]
        return [error_body(stream, reason, detail, pend.count)]

    def report_error(self, e: ProtocolError, now: float) -> list[dict]:
        """``report`` for a ProtocolError."""
        return self.report(e.stream, e.reason, e.detail, now)

    def flush(self, now: float) -> list[dict]:
        """Bodies for pending counts that the rate allows now (oldest first); also drops
        the bookkeeping of streams that have gone quiet."""
        out: list[dict] = []
        for stream in list(self._streams):
            st = self._streams[stream]
            for reason, pend in sorted(st.pending.items(), key=lambda kv: kv[1].since):
                if not self._room(st, now):
                    break
                st.sent.append(now)
                del st.pending[reason]
                out.append(error_body(stream, reason, pend.detail, pend.count))
            self._room(st, now)
            if not st.pending and not st.sent:
                del self._streams[stream]
        return out

    def next_flush_at(self) -> float | None:
        """Earliest monotonic time at which ``flush`` could emit something, or None."""
        best: float | None = None
        for st in self._streams.values():
            if not st.pending:
                continue
            at = st.sent[-self.max_per_window] + self.window_s if len(st.sent) >= self.max_per_window else 0.0
            best = at if best is None else min(best, at)
        return best

    def pending(self) -> int:
        """Rejections counted but not yet reported."""
        return sum(p.count for st in self._streams.values() for p in st.pending.values())


# ----------------------------------------------------------------------------- encoding


def encode_pose(stream: str, seq: int, t: float, layout: str, joints: np.ndarray | Sequence,
                tracks: Iterable[int] | None = None, units: str | None = None) -> list[bytes]:  # fmt: skip
    """Encode one pose frame as ``[header, payload]``.

    ``joints``: (P, J, C) array-like, C = 3 (x, y, z) or 4 (+ confidence); written as
    little-endian float32 in C order (NaN = missing joint). ``t``: capture time in
    seconds. ``tracks``/``units`` are written only when given (defaults: 0..P-1, "m").
    Raises ValueError for arguments the runtime would reject outright.
    """
    if not is_valid_stream_id(stream):
        raise ValueError(f"stream id {stream!r} does not match [A-Za-z0-9_.:-]{{1,64}}")
    if isinstance(seq, (bool, np.bool_)) or not isinstance(seq, (int, np.integer)) or not 0 <= seq <= INT64_MAX:
        raise ValueError(f"seq must be an integer >= 0, got {seq!r}")
    t = float(t)
    if not math.isfinite(t):
        raise ValueError(f"t must be finite seconds, got {t!r}")
    arr = np.ascontiguousarray(joints, dtype="<f4")
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"joints must be (P, J, 3|4), got shape {arr.shape}")
    hdr: dict[str, Any] = {
        "v": VERSION, "type": "pose", "stream": stream, "seq": int(seq), "t": t, "layout": str(layout),
        "shape": [int(d) for d in arr.shape], "dtype": "float32",
    }  # fmt: skip
    if tracks is not None:
        tr = [int(x) for x in tracks]
        if len(tr) != arr.shape[0]:
            raise ValueError(f"{len(tr)} tracks for {arr.shape[0]} persons")
        hdr["tracks"] = tr
    if units is not None:
        if units not in UNITS:
            raise ValueError(f"units must be one of {UNITS}, got {units!r}")
        hdr["units"] = units
    return [dumps(hdr), arr.tobytes()]


def encode_eos(stream: str) -> list[bytes]:
    """Encode an end-of-stream message (one part)."""
    if not is_valid_stream_id(stream):
        raise ValueError(f"stream id {stream!r} does not match [A-Za-z0-9_.:-]{{1,64}}")
    return [dumps({"v": VERSION, "type": "eos", "stream": stream})]


def event_topic(stream: str) -> str:
    """``event/<stream>``. Subscriptions are prefix matches: compare received topics exactly."""
    return EVENT_PREFIX + stream


def scores_topic(stream: str) -> str:
    """``scores/<stream>``."""
    return SCORES_PREFIX + stream


def error_topic(stream: str | None) -> str:
    """``error/<stream>``, or ``error/`` when the stream id could not be read."""
    return ERROR_PREFIX + (stream or "")


def encode_pub(topic: str, body: Mapping[str, Any]) -> list[bytes]:
    """``[topic UTF-8, body strict JSON]`` for the PUB socket."""
    return [topic.encode("utf-8"), dumps(body if type(body) is dict else dict(body))]


def decode_pub(parts: Sequence[bytes | zmq.Frame | memoryview]) -> tuple[str, dict]:
    """Split a PUB message into (topic, body). Raises ProtocolError (``bad_parts``,
    ``bad_json`` or ``non_finite``); does not check ``v`` (subscribers ignore unknown
    versions themselves)."""
    views = _views(parts)
    if len(views) != 2:
        raise ProtocolError("bad_parts", f"expected [topic, body], got {len(views)} parts")
    try:
        topic = str(views[0], "utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("bad_json", "topic is not UTF-8") from None
    return topic, loads(views[1])


# ----------------------------------------------------------------------------- bodies


def event_body(type: str, stream: str, track: int, event_id: str, n: int, action: str, class_id: int,
               t: float, seq: int, score: float, emitted_at: float, latency_ms: float, delay_s: float, *,
               tracks: Iterable[int] | None = None, t_start: float | None = None,
               peak_score: float | None = None, reason: str | None = None) -> dict:  # fmt: skip
    """An event body. ``type`` 'start' or 'end'; times in seconds (``latency_ms`` in ms).

    ``tracks`` is required exactly when ``track == -1``. For 'end', ``t_start``,
    ``peak_score`` and ``reason`` are required and ``duration`` = ``t - t_start``.
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"event type must be 'start' or 'end', got {type!r}")
    body: dict[str, Any] = {
        "v": VERSION, "type": type, "stream": stream, "track": int(track), "event_id": event_id, "n": int(n),
        "action": action, "class_id": int(class_id), "t": float(t), "seq": int(seq), "score": float(score),
        "emitted_at": float(emitted_at), "latency_ms": float(latency_ms), "delay_s": float(delay_s),
    }  # fmt: skip
    if int(track) == -1:
        if tracks is None:
            raise ValueError("track -1 (joint model) needs the list of tracks it saw")
        body["tracks"] = [int(x) for x in tracks]
    if type == "end":
        if t_start is None or peak_score is None or reason is None:
            raise ValueError("an end event needs t_start, peak_score and reason")
        if reason not in END_REASONS:
            raise ValueError(f"end reason must be one of {END_REASONS}, got {reason!r}")
        body["t_start"] = float(t_start)
        body["duration"] = float(t) - float(t_start)
        body["peak_score"] = float(peak_score)
        body["reason"] = reason
    return body


def scores_body(stream: str, track: int, seq: int, t: float, scores: Iterable[float]) -> dict:
    """A scores body: smoothed per-class probabilities in the model's class order."""
    return {"v": VERSION, "type": "scores", "stream": stream, "track": int(track), "seq": int(seq),
            "t": float(t), "scores": [float(s) for s in scores]}  # fmt: skip


def error_body(stream: str | None, reason: str, detail: str, count: int = 1) -> dict:
    """An error body; ``count`` = rejections of ``reason`` on ``stream`` since the last
    error message for them (this one included)."""
    if reason not in REASONS:
        raise ValueError(f"unknown error reason {reason!r}")
    return {"v": VERSION, "type": "error", "stream": stream, "reason": reason, "detail": str(detail),
            "count": int(count)}  # fmt: skip


def status_body(runtime_id: str, uptime_s: float, model: Mapping[str, Any], layouts: Iterable[str],
                silence_timeout_s: float, streams: int, frames_in: int, frames_rejected: int,
                frames_dropped: int, events_out: int, infer_ms_p50: float, infer_ms_p99: float) -> dict:  # fmt: skip
    """A status body (also the heartbeat). ``model``: {name, classes [{id, name}], mode,
    lookahead (seconds)}; times in seconds, ``infer_ms_*`` in milliseconds."""
    return {
        "v": VERSION, "type": "status", "runtime_id": runtime_id, "uptime_s": float(uptime_s),
        "model": dict(model), "layouts": list(layouts), "silence_timeout_s": float(silence_timeout_s),
        "streams": int(streams), "frames_in": int(frames_in), "frames_rejected": int(frames_rejected),
        "frames_dropped": int(frames_dropped), "events_out": int(events_out),
        "infer_ms_p50": float(infer_ms_p50), "infer_ms_p99": float(infer_ms_p99),
    }  # fmt: skip


# ----------------------------------------------------------------------------- validation


def _type_ok(value: Any, tname: str) -> bool:
    if tname == "int":
        return _is_int(value)
    if tname == "float":
        return _is_number(value) and math.isfinite(value)
    if tname == "str":
        return isinstance(value, str)
    if tname == "str or null":
        return value is None or isinstance(value, str)
    if tname == "object":
        return isinstance(value, dict)
    if tname == "[int, int, int]":
        return isinstance(value, list) and len(value) == 3 and all(_is_int(x) for x in value)
    if tname.startswith("[") and tname.endswith("]"):
        inner = tname[1:-1]
        return isinstance(value, list) and all(_type_ok(x, inner) for x in value)
    raise AssertionError(f"unknown schema type {tname!r}")


def _check_fields(body: Any, schema: Mapping[str, tuple[str, str]], required: set[str], what: str,
                  versioned: bool = True) -> None:  # fmt: skip
    if not isinstance(body, dict):
        raise SchemaError(f"{what} body is a {type(body).__name__}, not an object")
    missing = sorted(required - body.keys())
    if missing:
        raise SchemaError(f"{what} body lacks {', '.join(missing)}")
    extra = sorted(body.keys() - schema.keys())
    if extra:
        raise SchemaError(f"{what} body has unknown fields {', '.join(extra)}")
    for k, v in body.items():
        tname = schema[k][0]
        if not _type_ok(v, tname):
            raise SchemaError(f"{what} field {k!r} = {_short(v)} is not {tname}")
    if versioned and body.get("v") != VERSION:
        raise SchemaError(f"{what} body has v = {_short(body.get('v'))}, expected {VERSION}")


def _required(schema: Mapping[str, tuple[str, str]], *whens: str) -> set[str]:
    return {k for k, (_, req) in schema.items() if req in ("yes", *whens)}


def validate_event(body: Any) -> None:
    """Check an event body against ``EVENT_FIELDS``; raises SchemaError.

    Exactly the schema's fields: ``tracks`` iff ``track == -1``; ``t_start``,
    ``duration``, ``peak_score``, ``reason`` iff ``type == 'end'``. Also checks the
    values PROTOCOL.md fixes: ``type``, end ``reason``, stream id, ``n >= 1``,
    ``track >= -1``, ``duration == t - t_start``.
    """
    if not isinstance(body, dict):
        raise SchemaError(f"event body is a {type(body).__name__}, not an object")
    etype = body.get("type")
    if etype not in EVENT_TYPES:
        raise SchemaError(f"event type {_short(etype)} is neither 'start' nor 'end'")
    whens = ["end"] if etype == "end" else []
    if body.get("track") == -1:
        whens.append("track=-1")
    required = _required(EVENT_FIELDS, *whens)
    _check_fields(body, EVENT_FIELDS, required, f"{etype} event")
    extra = sorted(body.keys() - required)
    if extra:
        raise SchemaError(f"{etype} event (track {body['track']}) must not carry {', '.join(extra)}")
    if not is_valid_stream_id(body["stream"]):
        raise SchemaError(f"event stream {_short(body['stream'])} is not a stream id")
    if body["n"] < 1:
        raise SchemaError(f"event n = {body['n']}, counting starts at 1")
    if body["track"] < -1:
        raise SchemaError(f"event track = {body['track']}")
    if body["seq"] < 0:
        raise SchemaError(f"event seq = {body['seq']}")
    if not body["event_id"]:
        raise SchemaError("empty event_id")
    if etype == "end":
        if body["reason"] not in END_REASONS:
            raise SchemaError(f"end reason {_short(body['reason'])} not in {END_REASONS}")
        want = body["t"] - body["t_start"]
        if abs(body["duration"] - want) > 1e-6 * max(1.0, abs(want)):
            raise SchemaError(f"duration {body['duration']} != t - t_start = {want}")


def validate_body(body: Any) -> None:
    """Check any published body (event, status, error, scores) by its ``type``; raises
    SchemaError."""
    if not isinstance(body, dict):
        raise SchemaError(f"body is a {type(body).__name__}, not an object")
    kind = body.get("type")
    if kind in EVENT_TYPES:
        validate_event(body)
    elif kind == "status":
        _check_fields(body, STATUS_FIELDS, _required(STATUS_FIELDS), "status")
        _check_fields(body["model"], STATUS_MODEL_FIELDS, _required(STATUS_MODEL_FIELDS), "status model",
                      versioned=False)  # fmt: skip
        for k in ("streams", "frames_in", "frames_rejected", "frames_dropped", "events_out"):
            if body[k] < 0:
                raise SchemaError(f"status {k} = {body[k]} < 0")
    elif kind == "error":
        _check_fields(body, ERROR_FIELDS, _required(ERROR_FIELDS), "error")
        if body["reason"] not in REASONS:
            raise SchemaError(f"error reason {_short(body['reason'])} not in REASONS")
        if body["count"] < 1:
            raise SchemaError(f"error count = {body['count']} < 1")
    elif kind == "scores":
        _check_fields(body, SCORES_FIELDS, _required(SCORES_FIELDS), "scores")
    else:
        raise SchemaError(f"unknown body type {_short(kind)}")
