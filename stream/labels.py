"""One representation for every kind of action label, with conversions between them.

Frames are 0-based indices into a sequence and intervals are *inclusive* on both ends,
as in the ``labels.csv`` files of the shared datasets. Class ids are the dataset's own
ids (never model output indices). ``background`` is the id written into frame-label
arrays where no action is present (PRECOG uses 0; for the other datasets we use 0 too,
which no class of theirs uses).

Kinds, weakest last:

* ``frame``    — one class id per frame (PRECOG).
* ``interval`` — ``Interval(class_id, start, end)`` segments (UTKinect, PKU-MMD).
* ``point``    — ``Point(class_id, frame)``: one frame inside each instance (MSRC-12).
* ``video``    — only the set of classes present in the sequence.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

KINDS = ("frame", "interval", "point", "video")

__all__ = [
    "KINDS",
    "POINT_SAMPLING",
    "Interval",
    "Labels",
    "Point",
    "frames_to_intervals",
    "frames_to_seconds",
    "intervals_to_frame_matrix",
    "intervals_to_frames",
    "intervals_to_points",
    "intervals_to_video",
    "point_rng",
    "seconds_to_frames",
]


@dataclass(frozen=True, order=True)
class Interval:
    """An action instance: frames ``start``..``end`` inclusive."""

    start: int
    end: int
    class_id: int
    score: float = 1.0

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"interval ends before it starts: {self}")

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True, order=True)
class Point:
    """A single labelled frame inside an action instance (point-level supervision)."""

    frame: int
    class_id: int


def seconds_to_frames(seconds: float | np.ndarray, fps: float) -> np.ndarray | int:
    """Seconds -> nearest frame index at ``fps`` (frame k is at time k / fps)."""
    out = np.rint(np.asarray(seconds, dtype=np.float64) * fps).astype(np.int64)
    return int(out) if out.ndim == 0 else out


def frames_to_seconds(frames: int | np.ndarray, fps: float) -> float | np.ndarray:
    """Frame index -> seconds at ``fps``."""
    out = np.asarray(frames, dtype=np.float64) / fps
    return float(out) if out.ndim == 0 else out


def intervals_to_frames(intervals: Iterable[Interval], length: int, background: int = 0) -> np.ndarray:
    """Paint intervals into a (length,) int array; where intervals overlap the later wins."""
    out = np.full(length, background, dtype=np.int64)
    for iv in intervals:
        out[max(iv.start, 0) : min(iv.end, length - 1) + 1] = iv.class_id
    return out


def intervals_to_frame_matrix(
    intervals: Iterable[Interval], length: int, class_ids: list[int]
) -> np.ndarray:
    """(length, K) bool multi-hot frame labels (overlapping classes kept), K = len(class_ids)."""
    col = {c: k for k, c in enumerate(class_ids)}
    out = np.zeros((length, len(class_ids)), dtype=bool)
    for iv in intervals:
        if iv.class_id in col:
            out[max(iv.start, 0) : min(iv.end, length - 1) + 1, col[iv.class_id]] = True
    return out


def frames_to_intervals(frame_labels: np.ndarray, background: int = 0) -> list[Interval]:
    """Runs of equal non-background ids -> intervals (inverse of ``intervals_to_frames``
    for non-overlapping, non-touching-same-class intervals)."""
    lab = np.asarray(frame_labels)
    if lab.ndim != 1:
        raise ValueError(f"frame labels must be 1-D, got shape {lab.shape}")
    out: list[Interval] = []
    if lab.size == 0:
        return out
    change = np.flatnonzero(np.diff(lab)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change - 1, [lab.size - 1]])
    for s, e in zip(starts, ends, strict=True):
        c = int(lab[s])
        if c != background:
            out.append(Interval(int(s), int(e), c))
    return out


def intervals_to_video(intervals: Iterable[Interval]) -> tuple[int, ...]:
    """The sorted distinct class ids present: video-level labels."""
    return tuple(sorted({iv.class_id for iv in intervals}))


POINT_SAMPLING = ("center", "uniform", "gaussian")


def point_rng(seed: int, sequence_id: str) -> np.random.Generator:
    """A generator for one sequence's point sampling, fixed by ``seed`` and the sequence id
    (a stable CRC-32, not Python's salted ``hash``): the same points whatever the order or
    subset in which sequences are visited."""
    return np.random.default_rng([int(seed), zlib.crc32(sequence_id.encode("utf-8"))])


def intervals_to_points(intervals: Iterable[Interval], where: str = "center",
                        rng: np.random.Generator | int | None = None) -> list[Point]:  # fmt: skip
    """One point per interval (simulated point-level annotation), always inside it.

    ``where``: ``center`` — the centre frame ``(start + end) // 2`` (the lower middle frame
    of an even-length instance); ``uniform`` (alias ``random``) — a uniformly random frame of
    the instance; ``gaussian`` — ``round(N(centre, sigma))`` clipped to the instance, with
    ``sigma = length / 6`` frames (so +-3 sigma spans the instance). The LACP authors (Lee &
    Byun, ICCV 2021) train on Gaussian-sampled points by default, but their repository
    (Pilhyeon/Learning-Action-Completeness-from-Points) ships only the sampled labels
    (``dataset/THUMOS14/point_gaussian/point_labels.csv``) with no generator and no spread
    parameter (``options.py`` has none), and the stored sources do not state it; their points
    sit within a few frames of the centre even for long instances, a spread far narrower
    than length / 6. So length / 6 is our choice, not theirs.

    ``rng``: a generator or an int seed (None = seed 0); one draw per interval, in the order
    given, so a seed fixes the points. Returns the points sorted (frame, class).
    """
    if where == "random":
        where = "uniform"
    if where not in POINT_SAMPLING:
        raise ValueError(f"where must be one of {POINT_SAMPLING} (or 'random' = 'uniform'), got {where!r}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else int(rng))
    out = []
    for iv in intervals:
        if where == "center":
            f = (iv.start + iv.end) // 2
        elif where == "uniform":
            f = int(gen.integers(iv.start, iv.end + 1))
        else:
            centre = (iv.start + iv.end) / 2.0
            f = int(np.clip(np.rint(gen.normal(centre, iv.length / 6.0)), iv.start, iv.end))
        out.append(Point(f, iv.class_id))
    return sorted(out)


@dataclass(frozen=True)
class Labels:
    """Labels of one sequence, in whichever kind the dataset provides.

    The strongest available form is stored; weaker forms are derived on request
    (frame -> intervals -> points -> video). ``kind`` says what was given.
    """

    kind: str
    intervals: tuple[Interval, ...] = ()
    points: tuple[Point, ...] = ()
    video: tuple[int, ...] = ()
    frame: np.ndarray | None = field(default=None, compare=False)
    background: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS + ("none",):
            raise ValueError(f"label kind must be one of {KINDS}, got {self.kind!r}")

    @classmethod
    def from_frames(cls, frame: np.ndarray, background: int = 0) -> Labels:
        frame = np.asarray(frame, dtype=np.int64)
        ivs = tuple(frames_to_intervals(frame, background))
        return cls("frame", intervals=ivs, video=intervals_to_video(ivs), frame=frame,
                   background=background)  # fmt: skip

    @classmethod
    def from_intervals(cls, intervals: Iterable[Interval], background: int = 0) -> Labels:
        ivs = tuple(sorted(intervals))
        return cls("interval", intervals=ivs, video=intervals_to_video(ivs), background=background)

    @classmethod
    def from_points(cls, points: Iterable[Point], background: int = 0) -> Labels:
        pts = tuple(sorted(points))
        return cls("point", points=pts, video=tuple(sorted({p.class_id for p in pts})),
                   background=background)  # fmt: skip

    @classmethod
    def from_video(cls, class_ids: Iterable[int]) -> Labels:
        return cls("video", video=tuple(sorted(set(int(c) for c in class_ids))))

    def restrict(self, class_ids: Iterable[int]) -> Labels:
        """The same labels with only ``class_ids`` kept: other classes' instances (frames,
        intervals, points) become background, and leave the video-level set."""
        keep = {int(c) for c in class_ids}
        if self.kind == "frame" and self.frame is not None:
            frame = np.where(np.isin(self.frame, list(keep)), self.frame, self.background)
            return Labels.from_frames(frame, self.background)
        if self.kind == "interval":
            return Labels.from_intervals([iv for iv in self.intervals if iv.class_id in keep], self.background)
        if self.kind == "point":
            return Labels.from_points([p for p in self.points if p.class_id in keep], self.background)
        if self.kind == "video":
            return Labels.from_video(c for c in self.video if c in keep)
        return self

    def has(self, kind: str) -> bool:
        """Whether labels of ``kind`` are available (given or derivable)."""
        order = {"frame": 0, "interval": 1, "point": 2, "video": 3, "none": 4}
        if self.kind == "point" and kind == "interval":
            return False
        return order[kind] >= order[self.kind] if self.kind != "none" else False

    def frames(self, length: int) -> np.ndarray:
        """(length,) class id per frame; needs frame or interval labels."""
        if self.frame is not None:
            if len(self.frame) != length:
                raise ValueError(f"frame labels have {len(self.frame)} frames, expected {length}")
            return self.frame
        if self.kind != "interval":
            raise ValueError(f"{self.kind}-level labels carry no frame labels")
        return intervals_to_frames(self.intervals, length, self.background)

    def to_points(self, where: str = "center", rng: np.random.Generator | int | None = None) -> tuple[Point, ...]:
        """Point labels: the given points, or one per instance sampled by
        :func:`intervals_to_points` (``where`` = center, uniform or gaussian; ``rng`` a
        generator or int seed, e.g. ``point_rng(seed, sequence.id)``)."""
        if self.kind == "point":
            return self.points
        if self.kind in ("frame", "interval"):
            return tuple(intervals_to_points(self.intervals, where, rng))
        raise ValueError(f"{self.kind}-level labels carry no points")
