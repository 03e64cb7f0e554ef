"""Causal resampling of irregular skeleton streams onto a model's fixed frame rate.

Model frames lie on the grid ``t0 + k / fps`` anchored at the stream's first frame.
A grid point is produced as soon as an input frame at or after it — or at most half a
grid step before it — arrives (no look ahead beyond that frame), by linear interpolation
between the two input frames around it (the newest frame itself when it is early); a
joint missing in either of them takes the nearer frame's value. Across an input
gap longer than ``interp_gap_s`` nothing is interpolated: grid points inside the gap are
all-NaN (person absent). The live detector never lets a gap longer than its
``max_gap_s`` reach a resampler (it restarts the track instead), so one input frame
costs at most ``ceil(max_gap_s * fps)`` model frames.

The offline ``resample`` runs the same streaming code over a whole array, so offline
detection and live serving see bit-identical model frames.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["ModelFrame", "Resampler", "lerp_many", "resample"]


class ModelFrame(NamedTuple):
    """One frame on the model's grid (immutable; a named tuple: one per model frame).

    ``k`` is the grid index, ``t`` its time in seconds (source clock), ``seq`` and
    ``src_t`` the sequence number and time of the input frame nearest in time (what
    events report), ``data`` the interpolated (...) array.
    """

    k: int
    t: float
    seq: int
    src_t: float
    data: np.ndarray


_FAR = 1 << 31  # grid indices further ahead than this restart the grid

# A grid frame before its arithmetic: (k, t, seq, src_t, a, b, w); its data is _lerp(a, b, w).
Planned = tuple[int, float, int, float, np.ndarray, np.ndarray, float]


class Resampler:
    """Stateful resampler for one stream/track; see the module docstring.

    ``interp_gap_s``: input gaps longer than this are not interpolated (the grid points
    inside are all-NaN). ``max_fill``: most grid frames one ``push`` returns; past it the
    grid jumps ahead. Work per push is bounded by ``max_fill`` whatever ``t`` holds.
    """

    def __init__(self, fps: float, interp_gap_s: float = 0.5, max_fill: int = 300) -> None:
        if not fps > 0 or not math.isfinite(fps):
            raise ValueError(f"fps must be a finite number > 0, got {fps}")
        if max_fill < 1:
            raise ValueError(f"max_fill must be >= 1, got {max_fill}")
        self.fps = float(fps)
        self.interp_gap_s = float(interp_gap_s)
        self.max_fill = int(max_fill)
        # A frame up to half a grid step early stands for that grid point (no waiting for
        # the next frame): live sources at the model's rate add no resampling latency.
        self.snap_s = 0.5 / self.fps
        self.reset()

    def reset(self) -> None:
        self._t0: float | None = None
        self._k = 0  # next grid index to emit
        self._prev: tuple[float, int, np.ndarray] | None = None

    @property
    def last_t(self) -> float | None:
        """Time (s) of the last input frame, or None before the first."""
        return None if self._prev is None else self._prev[0]

    def grid_time(self, k: int) -> float:
        assert self._t0 is not None
        return self._t0 + k / self.fps

    def _last_index(self, t: float) -> int | None:
        """Largest grid index whose time is at most ``t`` plus the snap; None when ``t``
        is so far from the grid's anchor that the index is not representable."""
        assert self._t0 is not None
        span = (t - self._t0) * self.fps + 0.5
        if not span < self._k + _FAR:  # also inf and nan
            return None
        return int(math.floor(span))

    def push(self, t: float, seq: int, data: np.ndarray, fill: bool = True) -> list[ModelFrame]:
        """Feed one input frame (time ``t`` s, non-decreasing); return the grid frames it
        completes. ``fill=False`` skips the grid points between the previous frame and
        this one and returns at most the last (used when frames in between were dropped
        under overload: interpolating them would cost the model steps the drop saved)."""
        return [ModelFrame(k, tk, s, st, _lerp(a, b, w)) for k, tk, s, st, a, b, w in self.plan(t, seq, data, fill)]

    def plan(self, t: float, seq: int, data: np.ndarray, fill: bool = True) -> list[Planned]:
        """``push`` without the arithmetic: each grid frame as ``(k, t, seq, src_t, a, b,
        w)``, its data being ``lerp(a, b, w)`` (``lerp_many`` does many at once)."""
        if self._t0 is None:
            self._t0 = float(t)
            self._prev = (float(t), int(seq), data)
            self._k = 1
            return [(0, self._t0, int(seq), float(t), data, data, 1.0)]
        assert self._prev is not None
        pt, pseq, pdata = self._prev
        if t < pt:
            raise ValueError(f"time went backwards: {t} < {pt}")
        gap = t - pt
        k = self._k
        if fill and 0.0 < gap <= self.interp_gap_s:
            # The common case (a frame at about the model's rate): the same arithmetic as
            # the general loop below, which it leaves when the frame completes no grid point
            # or more than one.
            span = (t - self._t0) * self.fps + 0.5
            if k + 1 > span >= k:  # the last grid index is k: exactly one frame
                tk = self._t0 + k / self.fps
                if tk <= t + self.snap_s:
                    w = (tk - pt) / gap
                    near_seq, near_t = (pseq, pt) if w < 0.5 else (int(seq), float(t))
                    self._k = k + 1
                    self._prev = (float(t), int(seq), data)
                    return [(k, tk, near_seq, near_t, pdata, data, w)]
        last = self._last_index(t)
        if last is None:  # an absurd jump: restart the grid at this frame
            self._t0 = float(t) - self._k / self.fps
            last = self._k
        if not fill and last > self._k:
            self._k = last
        out: list[Planned] = []
        while self._k <= last and len(out) < self.max_fill:
            tk = self.grid_time(self._k)
            if tk > t + self.snap_s:
                break
            if gap > self.interp_gap_s and tk < t:
                frame = np.full_like(data, np.nan)
                near_seq, near_t = (pseq, pt) if tk - pt <= t - tk else (int(seq), float(t))
                out.append((self._k, tk, near_seq, near_t, frame, frame, 1.0))
            else:
                w = 1.0 if gap <= 0 else (tk - pt) / gap
                near_seq, near_t = (pseq, pt) if w < 0.5 else (int(seq), float(t))
                out.append((self._k, tk, near_seq, near_t, pdata, data, w))
            self._k += 1
        if len(out) >= self.max_fill and self._k <= last:
            # A gap longer than max_fill grid frames: skip the grid ahead instead of
            # emitting an unbounded burst; the caller sees the jump in ``k``.
            self._k = last + 1
        self._prev = (float(t), int(seq), data)
        return out


def lerp_many(a: list[np.ndarray], b: list[np.ndarray], w: list[float]) -> list[np.ndarray]:
    """``[_lerp(a[i], b[i], w[i]) ...]``, bit for bit, the arithmetic done in one pass over
    all interpolated frames when they share a shape and dtype."""
    out: list[np.ndarray] = [x if wi <= 0.0 else y for x, y, wi in zip(a, b, w)]
    mid = [i for i, wi in enumerate(w) if 0.0 < wi < 1.0]
    if not mid:
        return out
    if len({(a[i].shape, a[i].dtype, b[i].shape, b[i].dtype) for i in mid}) > 1:
        for i in mid:
            out[i] = _lerp(a[i], b[i], w[i])
        return out
    pa = np.stack([a[i] for i in mid])
    pb = np.stack([b[i] for i in mid])
    pw = np.array([w[i] for i in mid], dtype=np.float32).reshape(-1, *([1] * (pa.ndim - 1)))
    res = pa + pw * (pb - pa)  # each row: a + np.float32(w) * (b - a), as _lerp
    bad = ~np.isfinite(res)
    if bad.any():
        res = np.where(bad, np.where(pw >= 0.5, pb, pa), res)
    res = res.astype(pa.dtype, copy=False)
    for k, i in enumerate(mid):
        out[i] = res[k]
    return out


def _lerp(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    if w <= 0.0:
        return a
    if w >= 1.0:
        return b
    out = a + np.float32(w) * (b - a)
    bad = ~np.isfinite(out)
    if bad.any():
        out = np.where(bad, b if w >= 0.5 else a, out)
    return out.astype(a.dtype, copy=False)


def resample(
    x: np.ndarray, t: np.ndarray, fps: float, interp_gap_s: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample a whole (T, ...) array with timestamps ``t`` (s) onto the ``fps`` grid.

    Returns ``(frames (K, ...), grid_t (K,), src_index (K,))`` where ``src_index`` is the
    row of ``x`` nearest in time to each grid frame (use it to carry labels over).
    """
    x = np.asarray(x)
    t = np.asarray(t, dtype=np.float64)
    if len(x) != len(t):
        raise ValueError(f"{len(x)} frames but {len(t)} timestamps")
    if len(x) == 0:
        return x.copy(), t.copy(), np.zeros(0, dtype=np.int64)
    rs = Resampler(fps, interp_gap_s=interp_gap_s, max_fill=1 << 30)
    frames: list[np.ndarray] = []
    grid: list[float] = []
    src: list[int] = []
    for i in range(len(x)):
        for mf in rs.push(float(t[i]), i, x[i]):
            frames.append(mf.data)
            grid.append(mf.t)
            src.append(mf.seq)
    return np.stack(frames), np.asarray(grid), np.asarray(src, dtype=np.int64)
