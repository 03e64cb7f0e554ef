"""Causal resampling of irregular skeleton streams onto a model's fixed frame rate.

Model frames lie on the grid ``t0 + k / fps`` anchored at the stream's first frame.
A grid point is produced as soon as an input frame at or after it — or at most half a
grid step before it — arrives (no look ahead beyond that frame), by linear interpolation
between the two input frames around it (the newest frame itself when it is early); a
joint missing in either of them takes the nearer frame's value. Across an input
gap longer than ``max_gap_s`` nothing is interpolated: grid points inside the gap are
all-NaN (person absent).

The offline ``resample`` runs the same streaming code over a whole array, so offline
detection and live serving see bit-identical model frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ModelFrame", "Resampler", "resample"]


@dataclass(frozen=True)
class ModelFrame:
    """One frame on the model's grid.

    ``k`` is the grid index, ``t`` its time in seconds (source clock), ``seq`` and
    ``src_t`` the sequence number and time of the input frame nearest in time (what
    events report), ``data`` the interpolated (...) array.
    """

    k: int
    t: float
    seq: int
    src_t: float
    data: np.ndarray


class Resampler:
    """Stateful resampler for one stream/track; see the module docstring."""

    def __init__(self, fps: float, max_gap_s: float = 0.5, max_fill: int = 300) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.fps = float(fps)
        self.max_gap_s = float(max_gap_s)
        self.max_fill = int(max_fill)
        # A frame up to half a grid step early stands for that grid point (no waiting for
        # the next frame): live sources at the model's rate add no resampling latency.
        self.snap_s = 0.5 / self.fps
        self.reset()

    def reset(self) -> None:
        self._t0: float | None = None
        self._k = 0  # next grid index to emit
        self._prev: tuple[float, int, np.ndarray] | None = None

    def grid_time(self, k: int) -> float:
        assert self._t0 is not None
        return self._t0 + k / self.fps

    def push(self, t: float, seq: int, data: np.ndarray) -> list[ModelFrame]:
        """Feed one input frame (time ``t`` s, non-decreasing); return the grid frames it completes."""
        out: list[ModelFrame] = []
        if self._t0 is None:
            self._t0 = float(t)
            self._prev = (float(t), int(seq), data)
            out.append(ModelFrame(0, self._t0, int(seq), float(t), data))
            self._k = 1
            return out
        assert self._prev is not None
        pt, pseq, pdata = self._prev
        if t < pt:
            raise ValueError(f"time went backwards: {t} < {pt}")
        gap = t - pt
        while len(out) < self.max_fill:
            tk = self.grid_time(self._k)
            if tk > t + self.snap_s:
                break
            if gap > self.max_gap_s and tk < t:
                frame = np.full_like(data, np.nan)
                near_seq, near_t = (pseq, pt) if tk - pt <= t - tk else (int(seq), float(t))
            else:
                w = 1.0 if gap <= 0 else (tk - pt) / gap
                frame = _lerp(pdata, data, w)
                near_seq, near_t = (pseq, pt) if w < 0.5 else (int(seq), float(t))
            out.append(ModelFrame(self._k, tk, near_seq, near_t, frame))
            self._k += 1
        else:
            # A gap longer than max_fill grid frames: skip the grid ahead instead of
            # emitting an unbounded burst; the caller sees the jump in ``k``.
            self._k = int(np.floor((t - self._t0) * self.fps)) + 1
        self._prev = (float(t), int(seq), data)
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
    x: np.ndarray, t: np.ndarray, fps: float, max_gap_s: float = 0.5
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
    rs = Resampler(fps, max_gap_s=max_gap_s, max_fill=1 << 30)
    frames: list[np.ndarray] = []
    grid: list[float] = []
    src: list[int] = []
    for i in range(len(x)):
        for mf in rs.push(float(t[i]), i, x[i]):
            frames.append(mf.data)
            grid.append(mf.t)
            src.append(mf.seq)
    return np.stack(frames), np.asarray(grid), np.asarray(src, dtype=np.int64)
