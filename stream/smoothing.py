"""Causal smoothing of per-frame class scores, before the event state machine.

Model outputs flicker from frame to frame; a causal low-pass filter steadies them so
the hysteresis thresholds of :mod:`skelact.stream.events` see fewer spurious crossings.
Causal means each output depends only on the current and past frames, so the live
runtime (``serve``) and the offline run over a file (``detect``) agree exactly:
:func:`smooth` over a whole ``(T, K)`` array is, bit for bit, what :class:`Smoother`
returns frame by frame (both run the very same per-frame code), and what the live
detector's :class:`SmootherBank` (all tracks, a batch at a time) returns per track (the
same arithmetic per element; a randomized test holds the two to bitwise equality).

Kinds (all frame counts are *model* frames, i.e. at the model's fps):

* ``"ema"``  — exponential moving average ``y_t = alpha * x_t + (1 - alpha) * y_{t-1}``,
  started at ``y_0 = x_0``; group delay ``(1 - alpha) / alpha`` frames.
* ``"mean"`` — mean of the last ``window`` frames (fewer at the start of a track: the
  mean of the frames seen so far, never padded with zeros); delay ``(window - 1) / 2``.
* ``"none"`` — identity; no delay.

A non-finite input score (NaN, e.g. a model fed an all-missing frame, or +-inf) counts
as 0 so it cannot poison the filter state for the rest of the track.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["KINDS", "SmoothingConfig", "Smoother", "SmootherBank", "group_delay", "smooth"]

KINDS = ("ema", "mean", "none")


@dataclass(frozen=True)
class SmoothingConfig:
    """How class scores are smoothed over time.

    ``alpha``: EMA weight of the newest frame, in (0, 1] (1 = no smoothing).
    ``window``: frames averaged by ``"mean"`` (>= 1). Unused fields are still validated
    so a bad command line fails early whatever the kind.
    """

    kind: str = "ema"
    alpha: float = 0.4
    window: int = 5

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"smoothing kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)):
            raise ValueError(f"smoothing alpha must be a number in (0, 1]; got {self.alpha!r}")
        if not (0.0 < float(self.alpha) <= 1.0):
            raise ValueError(f"smoothing alpha must be in (0, 1]; got {self.alpha}")
        if isinstance(self.window, bool) or not isinstance(self.window, (int, np.integer)):
            raise ValueError(f"smoothing window must be an integer >= 1 (frames); got {self.window!r}")
        if self.window < 1:
            raise ValueError(f"smoothing window must be >= 1 frame; got {self.window}")


def group_delay(cfg: SmoothingConfig) -> float:
    """The smoother's group delay at low frequency, in model frames.

    For a slowly varying score this is how far the smoothed curve lags the raw one:
    ``(1 - alpha) / alpha`` for the EMA (centroid of its impulse response), ``(window - 1) / 2``
    for the moving average, 0 for none. Divide by the model's fps for seconds.
    """
    if cfg.kind == "ema":
        return (1.0 - float(cfg.alpha)) / float(cfg.alpha)
    if cfg.kind == "mean":
        return (cfg.window - 1) / 2.0
    return 0.0


class SmootherBank:
    """Causal smoothers of many tracks at once: row ``r`` holds one track's filter memory.

    ``step(rows, x)`` smooths one frame ``(K,)`` for each of ``B`` distinct rows in one
    pass of numpy operations over the ``(B, K)`` batch; each row's result is, bit for bit,
    what a :class:`Smoother` of its own returns. Rows grow on demand (``ensure``);
    ``reset(rows)`` forgets them.
    """

    def __init__(self, cfg: SmoothingConfig, num_classes: int, capacity: int = 16) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1; got {num_classes}")
        self.cfg = cfg
        self.num_classes = int(num_classes)
        self._kind = cfg.kind
        self._window = int(cfg.window)
        self._alpha = float(cfg.alpha)
        self._beta = 1.0 - self._alpha
        k = self.num_classes
        self.capacity = 0
        self._y = np.zeros((0, k), dtype=np.float64)  # last EMA output
        self._n = np.zeros(0, dtype=np.int64)  # frames seen (saturates at window for "mean")
        self._buf = np.zeros((0, self._window if self._kind == "mean" else 0, k), dtype=np.float64)
        self._pos = np.zeros(0, dtype=np.int64)  # next ring slot ("mean")
        self.ensure(max(1, int(capacity)))

    def ensure(self, capacity: int) -> None:
        """Make rows ``0 .. capacity - 1`` exist (new rows are fresh)."""
        if capacity <= self.capacity:
            return
        old = self.capacity
        grown = []
        for a in (self._y, self._n, self._buf, self._pos):
            b = np.zeros((capacity, *a.shape[1:]), a.dtype)
            b[:old] = a
            grown.append(b)
        self._y, self._n, self._buf, self._pos = grown
        self.capacity = capacity

    def reset(self, rows) -> None:
        """Forget the past of ``rows`` (new tracks)."""
        self._n[rows] = 0
        self._pos[rows] = 0
        if self._kind == "mean":
            self._buf[rows] = 0.0

    def frames_seen(self, row: int) -> int:
        return int(self._n[row])

    def step(self, rows: np.ndarray, x: np.ndarray) -> np.ndarray:
        """One frame ``x[i]`` (K,) for each distinct row ``rows[i]`` -> (B, K) float64.

        ``x`` must be float64 (B, K); it may be modified in place (non-finite -> 0)."""
        bad = ~np.isfinite(x)
        if bad.any():
            x[bad] = 0.0
        kind = self._kind
        n = self._n[rows]
        if kind == "ema":
            if n.all():
                y = self._alpha * x + self._beta * self._y[rows]
            else:
                y = x.copy()
                old = n > 0
                if old.any():
                    y[old] = self._alpha * x[old] + self._beta * self._y[rows[old]]
            self._y[rows] = y
            self._n[rows] = n + 1
            return y
        if kind == "mean":
            w = self._window
            pos = self._pos[rows]
            self._buf[rows, pos] = x
            self._pos[rows] = (pos + 1) % w
            n = np.minimum(n + 1, w)
            self._n[rows] = n
            full = n == w
            y = np.empty_like(x)
            if full.any() and self.num_classes > 1:
                # Fixed summation order over the ring's slots: deterministic for a given history.
                y[full] = self._buf[rows[full]].sum(axis=1) / w
                todo = np.flatnonzero(~full)
            else:
                todo = range(len(rows))
            for i in todo:
                r, m = rows[i], n[i]
                y[i] = self._buf[r, :m].sum(axis=0) / m
            return y
        self._n[rows] = n + 1
        return x.copy()


class Smoother:
    """Causal smoother of one track's K class scores (state: the filter memory).

    ``step`` takes one frame ``(K,)`` or several consecutive frames ``(B, K)`` (oldest
    first) and returns the smoothed scores with the same shape, as float64.
    """

    def __init__(self, cfg: SmoothingConfig, num_classes: int) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1; got {num_classes}")
        self.cfg = cfg
        self.num_classes = int(num_classes)
        self._alpha = float(cfg.alpha)
        self._beta = 1.0 - self._alpha
        self.reset()

    def reset(self) -> None:
        """Forget the past (a new track)."""
        self._y: np.ndarray | None = None  # last EMA output
        self._buf = np.zeros((self.cfg.window, self.num_classes), dtype=np.float64)
        self._n = 0  # frames seen (saturates at window for the buffer's fill level)
        self._pos = 0  # next ring slot

    @property
    def frames_seen(self) -> int:
        """Frames since the last reset (capped at ``window`` for ``"mean"``)."""
        return self._n

    def _one(self, x: np.ndarray) -> np.ndarray:
        x = np.where(np.isfinite(x), x, 0.0)
        kind = self.cfg.kind
        if kind == "ema":
            if self._y is None:
                y = x.copy()
            else:
                y = self._alpha * x + self._beta * self._y
            self._y = y
            self._n += 1
            return y.copy()
        if kind == "mean":
            w = self.cfg.window
            self._buf[self._pos] = x
            self._pos = (self._pos + 1) % w
            self._n = min(self._n + 1, w)
            # Fixed summation order over the ring's slots: deterministic for a given history.
            return self._buf[: self._n].sum(axis=0) / self._n
        self._n += 1
        return x.copy()

    def step(self, scores: np.ndarray) -> np.ndarray:
        """Smooth one frame ``(K,)`` or consecutive frames ``(B, K)``; returns float64."""
        x = np.asarray(scores, dtype=np.float64)
        if x.ndim == 1:
            if x.shape[0] != self.num_classes:
                raise ValueError(f"expected {self.num_classes} class scores, got {x.shape[0]}")
            return self._one(x)
        if x.ndim != 2 or x.shape[1] != self.num_classes:
            raise ValueError(f"expected scores of shape (K,) or (B, K) with K={self.num_classes}; got {x.shape}")
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = self._one(x[i])
        return out


def smooth(scores: np.ndarray, cfg: SmoothingConfig) -> np.ndarray:
    """Offline smoothing of a whole track ``(T, K)`` -> ``(T, K)`` float64.

    Bitwise identical to a fresh :class:`Smoother` stepped frame by frame (the same code
    runs), which keeps offline detection and the live runtime in exact agreement.
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"scores must be (T, K); got shape {x.shape}")
    if x.shape[0] == 0:
        return x.copy()
    return Smoother(cfg, x.shape[1]).step(x)
