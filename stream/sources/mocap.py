"""Motion-capture bridge: joints as JSON or CSV text lines, over UDP or from a file/stdin.

Commercial mocap systems (Vicon, OptiTrack, Xsens, Rokoko, ...) each have their own SDK,
but all of them can run a small script that forwards each solved skeleton frame as one
line of text; most can already stream JSON over UDP. ``skelact publish --mocap-udp PORT``
(or ``--mocap-lines FILE|-``) turns such lines into protocol v1 pose frames. A producer
that can speak the protocol itself (see ``examples/mocap_producer.py``) needs no bridge.

One frame per UDP datagram, or per line. Two encodings:

* JSON object: ``{"joints": [[x, y, z], ...]}`` (one person, J x 3 or J x 4 with a
  confidence) or ``[[[x, y, z], ...], ...]`` (P persons); optional ``"t"`` (capture time,
  seconds, the mocap system's clock), ``"seq"`` (frame number, int >= 0), ``"layout"``,
  ``"tracks"`` (person ids). ``null`` for a coordinate or a whole joint = missing.
  ``{"type": "eos"}`` ends the stream.
* CSV: ``t, x0, y0, z0, x1, y1, z1, ...`` (one person; 1 + J*3 or 1 + J*4 numbers);
  an empty ``t`` = arrival time; an empty or ``nan`` coordinate = missing joint. Lines
  starting with ``#`` and a non-numeric header line are skipped.

Coordinates are multiplied by ``scale`` (e.g. 0.001 for millimetres) and sent as metres.
Frames without ``t`` get the arrival time (monotonic seconds since the first frame);
frames without ``seq`` get the previous seq + 1. A frame whose ``seq`` does not increase
or whose ``t`` goes backwards (UDP may reorder datagrams) is dropped and counted.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..layouts import get_layout

__all__ = [
    "MocapFormatError",
    "MocapFrame",
    "parse_mocap_line",
    "MocapSequencer",
    "UdpMocapSource",
    "iter_lines",
]

log = logging.getLogger(__name__)

MAX_DATAGRAM = 65507  # largest UDP payload (bytes)


class MocapFormatError(ValueError):
    """A line/datagram is not a valid mocap frame (the message says why)."""


@dataclass
class MocapFrame:
    """One parsed frame. ``joints`` (P, J, C) float32 metres (C = 3 or 4), NaN = missing;
    ``t``/``seq``/``layout``/``tracks`` as given by the sender (None = not given);
    ``eos``: the sender ended the stream (then ``joints`` is empty)."""

    joints: np.ndarray
    layout: str | None = None
    t: float | None = None
    seq: int | None = None
    tracks: list[int] | None = None
    eos: bool = False


def _num(x: object, where: str) -> float:
    if x is None:
        return math.nan
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise MocapFormatError(f"{where}: expected a number or null, got {x!r}")
    if math.isinf(x):
        raise MocapFormatError(f"{where}: infinite coordinate")
    return float(x)


def _parse_json(obj: object, layout: str | None, scale: float) -> MocapFrame:
    if not isinstance(obj, dict):
        raise MocapFormatError("a JSON frame must be an object")
    if obj.get("type") == "eos":
        return MocapFrame(np.zeros((0, 0, 3), np.float32), eos=True)
    lay = obj.get("layout", layout)
    if lay is None:
        raise MocapFormatError("no layout: give one in the frame ('layout') or with --layout")
    nj = get_layout(str(lay)).num_joints
    raw = obj.get("joints")
    if not isinstance(raw, list):
        raise MocapFormatError("'joints' must be a list of [x, y, z(, c)] (or of persons)")
    persons = raw if raw and isinstance(raw[0], list) and raw[0] and isinstance(raw[0][0], (list, type(None))) \
        else [raw]  # fmt: skip
    out = []
    for p, person in enumerate(persons):
        if not isinstance(person, list) or len(person) != nj:
            raise MocapFormatError(f"person {p}: {len(person) if isinstance(person, list) else '?'} joints, "
                                   f"layout {lay} has {nj}")  # fmt: skip
        rows = []
        for j, pt in enumerate(person):
            if pt is None:
                rows.append(None)
                continue
            if not isinstance(pt, list) or len(pt) not in (3, 4):
                raise MocapFormatError(f"person {p} joint {j}: expected [x, y, z] or [x, y, z, c]")
            rows.append([_num(v, f"person {p} joint {j}") for v in pt])
        width = max((len(r) for r in rows if r is not None), default=3)
        arr = np.full((nj, width), np.nan, np.float32)
        for j, r in enumerate(rows):
            if r is not None:
                arr[j, : len(r)] = r
        out.append(arr)
    C = max((a.shape[1] for a in out), default=3)
    joints = np.full((len(out), nj, C), np.nan, np.float32)
    for p, a in enumerate(out):
        joints[p, :, : a.shape[1]] = a
    joints[..., :3] *= scale
    t = obj.get("t")
    if t is not None:
        t = _num(t, "t")
        if math.isnan(t):
            t = None
    seq = obj.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
        raise MocapFormatError(f"'seq' must be an integer >= 0, got {seq!r}")
    tracks = obj.get("tracks")
    if tracks is not None:
        if not isinstance(tracks, list) or len(tracks) != len(out) or \
                not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in tracks):  # fmt: skip
            raise MocapFormatError(f"'tracks' must list {len(out)} integer ids >= 0")
    return MocapFrame(joints, str(lay), t, seq, tracks)


def _parse_csv(text: str, layout: str | None, scale: float) -> MocapFrame | None:
    fields = [f.strip() for f in text.split(",")]
    try:
        vals = [math.nan if f == "" else float(f) for f in fields]
    except ValueError:
        return None  # a header line
    if layout is None:
        raise MocapFormatError("a CSV frame needs --layout (the joint layout of the columns)")
    nj = get_layout(layout).num_joints
    n = len(vals) - 1
    if n not in (nj * 3, nj * 4):
        raise MocapFormatError(f"CSV frame has {n} coordinates after t; layout {layout} needs "
                               f"{nj * 3} (x, y, z) or {nj * 4} (x, y, z, c)")  # fmt: skip
    if any(math.isinf(v) for v in vals):
        raise MocapFormatError("infinite value")
    joints = np.asarray(vals[1:], np.float32).reshape(1, nj, n // nj)
    joints[..., :3] *= scale
    t = None if math.isnan(vals[0]) else vals[0]
    return MocapFrame(joints, layout, t)


def parse_mocap_line(data: str | bytes, layout: str | None = None, scale: float = 1.0) -> MocapFrame | None:
    """Parse one JSON or CSV frame; None for a blank, comment or header line.
    Raises ``MocapFormatError`` (or KeyError for an unknown layout name)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise MocapFormatError("not UTF-8 text") from None
    text = data.strip()
    if not text or text.startswith("#"):
        return None
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise MocapFormatError(f"invalid JSON: {e.msg}") from None
        return _parse_json(obj, layout, scale)
    return _parse_csv(text, layout, scale)


class MocapSequencer:
    """Gives frames their protocol ``seq`` and ``t`` and drops out-of-order ones.

    ``clock``: monotonic seconds (arrival time for frames without ``t``).
    ``accept(frame)`` returns ``(seq, t)`` or None (dropped; counted in ``out_of_order``).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._t0: float | None = None
        self.last_seq = -1
        self.last_t = -math.inf
        self.out_of_order = 0

    def accept(self, frame: MocapFrame) -> tuple[int, float] | None:
        now = self.clock()
        if self._t0 is None:
            self._t0 = now
        seq = self.last_seq + 1 if frame.seq is None else int(frame.seq)
        t = now - self._t0 if frame.t is None else float(frame.t)
        if seq <= self.last_seq or t < self.last_t:
            self.out_of_order += 1
            return None
        self.last_seq, self.last_t = seq, t
        return seq, t


class UdpMocapSource:
    """Receives mocap frames as UDP datagrams on ``host:port`` (port 0 = any free port;
    see ``port``). Iterating yields ``MocapFrame``s (bad datagrams are counted in
    ``bad`` and logged); it ends on an eos frame, after ``idle_timeout_s`` seconds
    without datagrams (None = never), or when ``stop()`` is called."""

    def __init__(self, port: int, host: str = "127.0.0.1", layout: str | None = None, scale: float = 1.0,
                 idle_timeout_s: float | None = None) -> None:  # fmt: skip
        self.layout = layout
        self.scale = scale
        self.idle_timeout_s = idle_timeout_s
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, int(port)))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.bad = 0
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    def __iter__(self) -> Iterator[MocapFrame]:
        last = time.monotonic()
        try:
            while not self._stopped:
                try:
                    data = self.sock.recv(MAX_DATAGRAM)
                except TimeoutError:
                    if self.idle_timeout_s is not None and time.monotonic() - last > self.idle_timeout_s:
                        log.info("no mocap datagram for %.1f s: ending", self.idle_timeout_s)
                        return
                    continue
                last = time.monotonic()
                self.received += 1
                for line in data.decode("utf-8", "replace").splitlines() or [""]:
                    frame = self._parse(line)
                    if frame is None:
                        continue
                    yield frame
                    if frame.eos:
                        return
        finally:
            self.sock.close()

    def _parse(self, line: str) -> MocapFrame | None:
        try:
            return parse_mocap_line(line, self.layout, self.scale)
        except (MocapFormatError, KeyError) as e:
            self.bad += 1
            if self.bad <= 5 or self.bad % 100 == 0:
                log.warning("bad mocap datagram (%d so far): %s", self.bad, e)
            return None


def iter_lines(lines: Iterable[str], layout: str | None = None, scale: float = 1.0) -> Iterator[MocapFrame]:
    """Mocap frames from text lines (a file or stdin); a bad line raises
    ``MocapFormatError`` naming its line number. Stops at an eos frame."""
    for n, line in enumerate(lines, start=1):
        try:
            frame = parse_mocap_line(line, layout, scale)
        except (MocapFormatError, KeyError) as e:
            raise MocapFormatError(f"line {n}: {e}") from None
        if frame is None:
            continue
        yield frame
        if frame.eos:
            return
