"""Preview: the camera image with the skeleton and the runtime's current actions and events.

``Preview`` draws one frame at a time and sends it to an OpenCV window (``window=True``,
needs a display) and/or a video file (``out_path``; headless). ``PubFeed`` subscribes to
a runtime's PUB socket (``scores/<stream>``, ``event/<stream>``, ``status``) without ever
blocking the caller and keeps the latest class scores (names from ``status``) and the
recent events for the overlay. ``TimelineFeed`` is its offline twin for ``skelact detect
--preview-out``: the overlay of a finished run, source frame by source frame. Without a
feed only the skeleton is drawn.

Skeletons come either as image landmarks (x, y normalised to [0, 1], y down; MediaPipe)
drawn onto the image, or, for sources without an image (replay, mocap), as metric joints
drawn in a front view on a blank canvas. cv2 and zmq are imported lazily.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .layouts import get_layout, to_canonical

__all__ = ["PreviewError", "PubFeed", "TimelineFeed", "Overlay", "Preview", "draw_skeleton", "render_frame",
           "BONE_COLOR", "JOINT_COLOR"]  # fmt: skip

log = logging.getLogger(__name__)

BONE_COLOR = (0, 255, 0)  # BGR
JOINT_COLOR = (0, 0, 255)
_TEXT = (255, 255, 255)
_CANVAS = (480, 480)  # (height, width) pixels of the blank canvas for image-less sources
_EXTRA_EDGES = {"mediapipe33": ((11, 12), (23, 24)), "coco17": ((5, 6), (11, 12))}


class PreviewError(RuntimeError):
    """The preview cannot run (no display, or the video file cannot be written)."""


# ----------------------------------------------------------------------------- feed


@dataclass
class Overlay:
    """What the runtime said about the stream: ``names`` class names in the model's
    output order (from ``status``), ``scores`` latest smoothed scores, ``active`` open
    actions {event_id: text}, ``events`` recent event lines (newest last)."""

    names: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    active: dict[str, str] = field(default_factory=dict)
    events: deque = field(default_factory=lambda: deque(maxlen=5))
    status_age: float | None = None

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` highest-scoring classes as (name, score)."""
        order = np.argsort(self.scores)[::-1][:k] if self.scores else []
        return [(self.names[i] if i < len(self.names) else f"class {i}", float(self.scores[i])) for i in order]


class PubFeed:
    """A SUB socket on a runtime's PUB endpoint for one stream; ``poll()`` drains what
    arrived (never blocks) into ``overlay``. Topics are compared exactly (ZeroMQ
    subscriptions are prefix matches)."""

    def __init__(self, endpoint: str, stream: str, ctx=None) -> None:
        import zmq

        from . import protocol as P
        from .client import sub_socket

        self._P = P
        self._zmq = zmq
        self.stream = stream
        self.topics = {P.scores_topic(stream), P.event_topic(stream), P.STATUS_TOPIC}
        # raises ClientError (one line) when the endpoint cannot be connected to
        self.sock = sub_socket(ctx or zmq.Context.instance(), endpoint, sorted(self.topics), hwm=1000, linger_ms=0)
        self.overlay = Overlay()
        self.received = 0
        self._status_at: float | None = None

    def poll(self, max_messages: int = 1000) -> int:
        """Read every waiting message (up to ``max_messages``); returns how many."""
        n = 0
        while n < max_messages:
            try:
                parts = self.sock.recv_multipart(self._zmq.NOBLOCK)
            except self._zmq.Again:
                break
            n += 1
            try:
                topic, body = self._P.decode_pub(parts)
            except self._P.ProtocolError:
                continue
            if topic not in self.topics or body.get("v") != self._P.VERSION:
                continue
            self._apply(topic, body)
        self.received += n
        if self._status_at is not None:
            self.overlay.status_age = time.monotonic() - self._status_at
        return n

    def _apply(self, topic: str, body: dict) -> None:
        ov = self.overlay
        kind = body.get("type")
        if kind == "status":
            self._status_at = time.monotonic()
            classes = (body.get("model") or {}).get("classes") or []
            names = [str(c.get("name", c.get("id"))) if isinstance(c, dict) else str(c) for c in classes]
            if names:
                ov.names = names
        elif kind == "scores" and isinstance(body.get("scores"), list):
            ov.scores = [float(x) for x in body["scores"]]
        elif kind in ("start", "end"):
            name, eid = str(body.get("action", "?")), str(body.get("event_id", ""))
            if kind == "start":
                ov.active[eid] = f"{name} (track {body.get('track')})"
                ov.events.append(f"start {name}  t={float(body.get('t', 0.0)):.1f}s")
            else:
                ov.active.pop(eid, None)
                ov.events.append(f"end {name}  {float(body.get('duration', 0.0)):.1f}s ({body.get('reason', '')})")

    def close(self) -> None:
        self.sock.close(0)


class TimelineFeed:
    """The overlay of a finished detection run, source frame by source frame.

    ``names``: class names in score-column order; ``scores`` (T, K) per source frame
    (None: none drawn); ``segments``: (column, start, end) inclusive source frames of the
    detections; ``t`` (T,) source times in seconds (durations). ``at(i)`` (``i``
    non-decreasing) returns the overlay for frame ``i``: that frame's scores, the
    detections covering it, and the starts and ends reached so far. A file has no "live":
    a detection shows from its (back-dated) start frame to its end frame.
    """

    def __init__(self, names: list[str], scores: np.ndarray | None, segments: list[tuple[int, int, int]],
                 t: np.ndarray) -> None:  # fmt: skip
        self.overlay = Overlay(names=list(names))
        self.scores = scores
        self.t = np.asarray(t, dtype=np.float64)
        self._starts: dict[int, list[tuple[int, int, int]]] = {}
        self._ends: dict[int, list[tuple[int, int, int]]] = {}
        for k, (c, s, e) in enumerate(sorted(segments, key=lambda x: (x[1], x[2]))):
            self._starts.setdefault(int(s), []).append((k, int(c), int(e)))
            self._ends.setdefault(int(e), []).append((k, int(c), int(s)))
        self._next = 0

    def _name(self, c: int) -> str:
        names = self.overlay.names
        return names[c] if 0 <= c < len(names) else f"class {c}"

    def at(self, i: int) -> Overlay:
        ov = self.overlay
        while self._next <= i:
            f = self._next
            for k, c, s in self._ends.get(f - 1, []):  # inclusive ends: gone from the next frame
                ov.active.pop(str(k), None)
                dur = float(self.t[f - 1] - self.t[s]) if f - 1 < len(self.t) else 0.0
                ov.events.append(f"end {self._name(c)}  {dur:.1f}s")
            for k, c, _e in self._starts.get(f, []):
                ov.active[str(k)] = self._name(c)
                ov.events.append(f"start {self._name(c)}  t={self.t[f]:.1f}s" if f < len(self.t)
                                 else f"start {self._name(c)}")  # fmt: skip
            self._next += 1
        if self.scores is not None and 0 <= i < len(self.scores):
            ov.scores = [float(v) for v in self.scores[i]]
        return ov


# ----------------------------------------------------------------------------- drawing


def _edges(layout: str) -> tuple[tuple[int, int], ...]:
    lay = get_layout(layout)
    return lay.edges + _EXTRA_EDGES.get(lay.name, ())


def draw_skeleton(img: np.ndarray, points: np.ndarray, layout: str, min_conf: float = 0.3,
                  thickness: int = 2) -> int:  # fmt: skip
    """Draw one skeleton onto ``img`` in place. ``points`` (J, 2|3|4): pixel x, y (and
    anything, then a confidence in the 4th channel); joints that are NaN or below
    ``min_conf`` are skipped. Returns the number of bones drawn."""
    import cv2

    ok = np.isfinite(points[:, :2]).all(1)
    if points.shape[1] >= 4:
        ok &= ~(points[:, 3] < min_conf)
    pix = np.where(ok[:, None], points[:, :2], 0).round().astype(np.int64)
    n = 0
    for a, b in _edges(layout):
        if ok[a] and ok[b]:
            cv2.line(img, tuple(int(v) for v in pix[a]), tuple(int(v) for v in pix[b]), BONE_COLOR,
                     thickness, cv2.LINE_AA)  # fmt: skip
            n += 1
    for j in np.flatnonzero(ok):
        cv2.circle(img, tuple(int(v) for v in pix[j]), thickness + 1, JOINT_COLOR, -1, cv2.LINE_AA)
    return n


def _front_view(joints: np.ndarray, layout: str, size: tuple[int, int]) -> np.ndarray:
    """Metric (P, J, >=3) joints -> (P, J, 2) pixels on a ``size`` canvas: front view of
    the canonical axes (y up), 1 m = 40 % of the canvas height, centred on the pelvis
    midpoint of all persons."""
    lay = get_layout(layout)
    sign = np.asarray(lay.axes[:2])
    xy = joints[..., :2].astype(np.float64) * sign  # canonical: x to the camera's left, y up
    pelvis = to_canonical(joints, lay)[:, 0, :2] if joints.shape[0] else np.zeros((0, 2))
    ok = np.isfinite(pelvis).all(1)  # nanmean of nothing would warn: an absent person is normal
    centre = pelvis[ok].mean(0) if ok.any() else np.full(2, np.nan)
    if not np.isfinite(centre).all():
        flat = xy.reshape(-1, 2)
        good = np.isfinite(flat).all(1)
        centre = flat[good].mean(0) if good.any() else np.zeros(2)
    h, w = size
    scale = 0.4 * h
    px = w / 2 - (xy[..., 0] - centre[0]) * scale  # canonical +x (camera's left) = image left
    py = h / 2 - (xy[..., 1] - centre[1]) * scale
    return np.stack([px, py], -1)


def render_frame(image: np.ndarray | None, layout: str, landmarks: np.ndarray | None = None,
                 joints: np.ndarray | None = None, overlay: Overlay | None = None,
                 info: str = "") -> np.ndarray:  # fmt: skip
    """One preview frame (BGR uint8).

    ``image``: the camera frame (copied; None = a blank canvas). ``landmarks``
    (P, J, >=2) image landmarks normalised to [0, 1] (4th channel = confidence), drawn on
    the image; else ``joints`` (P, J, >=3) metric joints drawn in a front view.
    ``overlay``: actions and events from the runtime; ``info``: a status line.
    """
    import cv2

    canvas = np.zeros((*_CANVAS, 3), np.uint8) if image is None else image.copy()
    h, w = canvas.shape[:2]
    if landmarks is not None and len(landmarks):
        for person in np.asarray(landmarks, np.float64):
            pts = person.copy()
            pts[:, 0] *= w
            pts[:, 1] *= h
            draw_skeleton(canvas, pts, layout)
    elif joints is not None and len(joints):
        pix = _front_view(np.asarray(joints, np.float64), layout, (h, w))
        for p, person in enumerate(pix):
            pts = person if joints.shape[2] < 4 else np.concatenate([person, np.zeros_like(person[:, :1]),
                                                                     joints[p, :, 3:4]], 1)  # fmt: skip
            draw_skeleton(canvas, pts, layout)
    y = 18
    font, fs = cv2.FONT_HERSHEY_SIMPLEX, max(0.4, min(0.6, w / 800))
    lines: list[tuple[str, tuple[int, int, int]]] = []
    if info:
        lines.append((info, _TEXT))
    if overlay is not None:
        for name, score in overlay.top(3):
            lines.append((f"{name:<14.14} {score:4.2f} " + "#" * int(round(score * 10)), (0, 255, 255)))
        for text in overlay.active.values():
            lines.append((f"ACTIVE {text}", (0, 165, 255)))
        for text in list(overlay.events)[-3:]:
            lines.append((text, (255, 200, 0)))
    for text, color in lines:
        cv2.putText(canvas, text, (6, y), font, fs, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(canvas, text, (6, y), font, fs, color, 1, cv2.LINE_AA)
        y += int(22 * fs / 0.5)
    return canvas


# ----------------------------------------------------------------------------- sinks


def _has_display() -> bool:
    if sys.platform.startswith(("win", "darwin")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Preview:
    """Shows and/or writes preview frames.

    ``window``: an OpenCV window titled ``title`` (raises ``PreviewError`` without a
    display, where OpenCV's Qt backend would abort the process). ``out_path``: write an
    MP4 (``mp4v``) or AVI (``MJPG``) file at ``fps`` frames per second; the first frame
    fixes the size (later frames are resized to it). ``show`` returns False when the
    user closed the window or pressed q / Esc.
    """

    def __init__(self, window: bool = False, out_path: str | Path | None = None, fps: float = 30.0,
                 title: str = "skelact") -> None:  # fmt: skip
        if not window and out_path is None:
            raise ValueError("Preview needs a window or an output file")
        if window and not _has_display():
            raise PreviewError("--preview needs a display (DISPLAY/WAYLAND_DISPLAY is not set); "
                               "use --preview-out FILE.mp4 to write the preview to a video instead")  # fmt: skip
        self.window = window
        self.title = title
        self.out_path = Path(out_path) if out_path is not None else None
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self._writer = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def _open_writer(self, w: int, h: int) -> None:
        import cv2

        assert self.out_path is not None
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        fourcc = "MJPG" if self.out_path.suffix.lower() == ".avi" else "mp4v"
        writer = cv2.VideoWriter(str(self.out_path), cv2.VideoWriter_fourcc(*fourcc), self.fps, (w, h))
        if not writer.isOpened():
            raise PreviewError(f"{self.out_path}: OpenCV cannot write a {fourcc} video here (use .mp4 or .avi)")
        self._writer = writer

    def show(self, frame: np.ndarray) -> bool:
        """Display/write one BGR frame; False when the user asked to stop."""
        import cv2

        if self._size is None:
            self._size = (frame.shape[1], frame.shape[0])
            if self.out_path is not None:
                self._open_writer(*self._size)
        if (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size)
        if self._writer is not None:
            self._writer.write(np.ascontiguousarray(frame))
        self.frames += 1
        if self.window:
            try:
                cv2.imshow(self.title, frame)
                key = cv2.waitKey(1) & 0xFF
                if key in (ord("q"), 27):
                    return False
                if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                    return False
            except cv2.error as e:
                raise PreviewError(f"OpenCV cannot show a window ({e}); use --preview-out FILE.mp4") from None
        return True

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self.window:
            try:
                import cv2

                cv2.destroyWindow(self.title)
            except Exception:  # the window may already be gone
                pass

    def __enter__(self) -> Preview:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
