"""The event state machine: smoothed class scores in, action start/end decisions out.

One :class:`EventTracker` per (stream, track) watches K action classes at once; the
live detector keeps all its tracks in one :class:`EventBank` (a row per track) and
steps a whole batch of tracks in one vectorised pass, in which only the (track, class)
cells that are live, in a live run or active are gathered and stepped, and Python runs
only for the cells that start or end an action. An ``EventTracker`` is a one-row bank:
both run the same code. Per class:

* a frame is **high** when its smoothed score is ``>= on``, **live** when ``> off`` and
  **low** otherwise (``<= off``). Since ``off < on``, every high frame is live.
* **start**: ``min_frames`` consecutive high frames while inactive. The action is
  back-dated to the first frame of the current run of live frames (where the score
  rose above ``off``), so the reported start does not lag by the smoothing and
  ``min_frames`` delays.
* **end**: while active, ``min_gap`` consecutive low frames. The action ends at the
  last live frame before them (inclusive). Shorter dips below ``off`` do not end it,
  and scores between ``off`` and ``on`` keep it alive (hysteresis).
* :meth:`EventTracker.close` ends every open action (stream end, silence timeout,
  shutdown, reset) at the last frame received.

Guarantees: every start is followed by exactly one end (by score or by ``close``);
a class's actions never overlap (a new run starts after the previous end's trigger
frame); decisions of one frame come ends first, then starts, each by class index.
Durations (``min_frames``, ``min_gap``) are counted in frames as fed, i.e. at the
model's fps; ``seq``/``t`` are carried through as labels of those frames.

``on``, ``off`` and ``min_frames`` may differ per class (``EventConfig.*_by_class``):
a model's metadata can carry thresholds calibrated per class on held-out negatives.

A non-finite score (NaN, +-inf) counts as 0 for decisions: a low frame. ``peak_score``
and decision ``score`` fields then report 0 for that frame, never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CLOSE_REASONS", "Decision", "EventBank", "EventConfig", "EventTracker"]

CLOSE_REASONS = ("eos", "timeout", "shutdown", "reset")


def _is_int(x: object) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


@dataclass(frozen=True)
class EventConfig:
    """Hysteresis thresholds on the smoothed score and minimum durations in model frames.

    Requires ``0 <= off < on <= 1`` and ``min_frames``, ``min_gap`` integers >= 1.
    """

    on: float = 0.5
    off: float = 0.3
    min_frames: int = 4
    min_gap: int = 4
    on_by_class: tuple[float, ...] = ()
    off_by_class: tuple[float, ...] = ()
    min_frames_by_class: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("on_by_class", "off_by_class", "min_frames_by_class"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for c, (on, off) in enumerate(zip(self.ons(len(self.on_by_class) or len(self.off_by_class) or 1),
                                          self.offs(len(self.on_by_class) or len(self.off_by_class) or 1))):
            if not (0.0 <= off < on <= 1.0):
                raise ValueError(f"event thresholds of class {c} need 0 <= off < on <= 1; got off={off}, on={on}")
        if any(not _is_int(v) or v < 1 for v in self.min_frames_by_class):
            raise ValueError(f"min_frames_by_class must hold integers >= 1; got {self.min_frames_by_class}")
        for name in ("on", "off"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not np.isfinite(v):
                raise ValueError(f"event threshold {name} must be a number in [0, 1]; got {v!r}")
        if not (0.0 <= self.off < self.on <= 1.0):
            raise ValueError(f"event thresholds need 0 <= off < on <= 1; got off={self.off}, on={self.on}")
        for name in ("min_frames", "min_gap"):
            v = getattr(self, name)
            if not _is_int(v) or v < 1:
                raise ValueError(f"event {name} must be an integer >= 1 (frames); got {v!r}")

    def _per_class(self, by_class: tuple, scalar, k: int) -> np.ndarray:
        if not by_class:
            return np.full(k, scalar)
        if len(by_class) != k:
            raise ValueError(f"{len(by_class)} per-class values for {k} classes")
        return np.asarray(by_class)

    def ons(self, k: int) -> np.ndarray:
        """(k,) start threshold per class (``on_by_class`` when given, else ``on``)."""
        return self._per_class(self.on_by_class, self.on, k).astype(np.float64)

    def offs(self, k: int) -> np.ndarray:
        """(k,) end threshold per class."""
        return self._per_class(self.off_by_class, self.off, k).astype(np.float64)

    def min_frames_per_class(self, k: int) -> np.ndarray:
        """(k,) frames above ``on`` before a start, per class."""
        return self._per_class(self.min_frames_by_class, self.min_frames, k).astype(np.int64)


@dataclass(frozen=True)
class Decision:
    """One start or end of an action of class ``class_index`` (index into the tracker's K).

    ``seq``/``t``: the action boundary — start: first frame of the rise (back-dated);
    end: last frame of the action, inclusive. ``score``: smoothed score at the frame
    that triggered the decision, ``trigger_seq``/``trigger_t``. End only: ``seq_start``,
    ``t_start`` (the matching start's ``seq``/``t``), ``peak_score`` (max smoothed score
    from start to end) and ``reason`` ("score", "eos", "timeout", "shutdown", "reset").
    Times are in seconds (the source clock of the frames), ``seq`` are frame labels.
    """

    type: str
    class_index: int
    seq: int
    t: float
    score: float
    trigger_seq: int
    trigger_t: float
    seq_start: int | None = None
    t_start: float | None = None
    peak_score: float | None = None
    reason: str | None = None


class _ClassState:
    """State of one class; only classes that are live, in a run or active hold one."""

    __slots__ = ("active", "in_run", "high", "low", "rise", "run_peak", "live", "start", "peak")

    def __init__(self) -> None:
        self.active = False
        self.in_run = False  # the previous frame was live
        self.high = 0  # consecutive high frames
        self.low = 0  # consecutive low frames while active
        self.rise: tuple[int, float] = (0, 0.0)  # first frame of the current live run
        self.run_peak = 0.0  # max score over the current live run
        self.live: tuple[int, float] = (0, 0.0)  # last live frame
        self.start: tuple[int, float] = (0, 0.0)  # of the open action
        self.peak = 0.0  # max score of the open action


def _step(st: _ClassState, c: int, v: float, seq: int, t: float, on: float, off: float, min_frames: int,
          min_gap: int, ends: list[Decision], starts: list[Decision]) -> bool:  # fmt: skip
    """One frame of one class (score ``v``, a Python float): the rules of the module
    docstring. Appends what it decides; returns False when the class is quiet again
    (no open action, not in a live run: its state may be dropped)."""
    live = v > off
    if st.active:  # ends: min_gap consecutive low frames
        if live:
            st.low = 0
            if v > st.peak:
                st.peak = v
        else:
            st.low += 1
            if st.low >= min_gap:
                ends.append(Decision(
                    "end", c, st.live[0], st.live[1], v, seq, t, seq_start=st.start[0],
                    t_start=st.start[1], peak_score=st.peak, reason="score",
                ))  # fmt: skip
                st.active = False
                st.low = 0
    if live:  # the live run: where the rise began, its peak, its last frame
        if not st.in_run:
            st.in_run = True
            st.rise = (seq, t)
            st.run_peak = v
        elif v > st.run_peak:
            st.run_peak = v
        st.live = (seq, t)
    else:
        st.in_run = False
    if v >= on:  # starts: min_frames consecutive high frames while inactive
        st.high += 1
        if not st.active and st.high >= min_frames:
            st.active = True
            st.low = 0
            st.start = st.rise
            st.peak = st.run_peak
            starts.append(Decision("start", c, st.rise[0], st.rise[1], v, seq, t))
    else:
        st.high = 0
    return st.active or st.in_run


class EventTracker:
    """Per-track state machine over K classes; see the module docstring for the rules.

    Cost per frame is a couple of vector operations over K plus a little Python work
    for each class that is live, in a run or active: quiet classes are not visited.
    """

    def __init__(self, cfg: EventConfig, num_classes: int) -> None:
        if not _is_int(num_classes) or num_classes < 1:
            raise ValueError(f"num_classes must be an integer >= 1; got {num_classes!r}")
        self.cfg = cfg
        self.num_classes = int(num_classes)
        self._on = cfg.ons(self.num_classes)
        self._off = cfg.offs(self.num_classes)
        self._min_frames = cfg.min_frames_per_class(self.num_classes)
        self._reset()

    def _reset(self) -> None:
        self._busy: dict[int, _ClassState] = {}  # classes in a live run or with an open action
        self._last_scores = np.zeros(self.num_classes, dtype=np.float64)
        self._last: tuple[int, float] | None = None  # (seq, t) of the last frame received

    @property
    def active(self) -> np.ndarray:
        """(K,) bool: classes with an open action."""
        out = np.zeros(self.num_classes, dtype=bool)
        out[[c for c, st in self._busy.items() if st.active]] = True
        return out

    @property
    def last_frame(self) -> tuple[int, float] | None:
        """(seq, t) of the last frame received since creation or the last close."""
        return self._last

    def update(self, seq: int, t: float, scores: np.ndarray) -> list[Decision]:
        """Feed one frame's smoothed scores ``(K,)``; returns the decisions it triggers.

        Frames must come in time order. Returned: ends (by class index), then starts.
        """
        s = np.array(scores, dtype=np.float64).reshape(-1)
        if s.shape[0] != self.num_classes:
            raise ValueError(f"expected {self.num_classes} class scores, got {s.shape[0]}")
        finite = np.isfinite(s)
        if not finite.all():
            s[~finite] = 0.0
        seq, t = int(seq), float(t)
        ons, offs, min_frames_c = self._on, self._off, self._min_frames
        min_gap = self.cfg.min_gap
        busy = self._busy
        visit = set(np.flatnonzero(s > offs).tolist())
        visit.update(busy)
        ends: list[Decision] = []
        starts: list[Decision] = []
        for c in sorted(visit):
            v = float(s[c])
            on, off, min_frames = ons[c], offs[c], min_frames_c[c]
            st = busy.get(c)
            if st is None:
                st = busy[c] = _ClassState()
            if not _step(st, c, v, seq, t, on, off, min_frames, min_gap, ends, starts):
                del busy[c]  # back to the quiet state (all counters zero)
        self._last_scores = s
        self._last = (seq, t)
        return ends + starts

    def close(self, reason: str) -> list[Decision]:
        """End every open action (``reason``: "eos", "timeout", "shutdown" or "reset").

        Each end is placed at the last frame received (``seq``/``t`` and trigger), with
        that frame's smoothed score. Afterwards the tracker is as new.
        """
        if reason not in CLOSE_REASONS:
            raise ValueError(f"close reason must be one of {', '.join(CLOSE_REASONS)}; got {reason!r}")
        out: list[Decision] = []
        if self._last is not None:
            seq, t = self._last
            for c in sorted(self._busy):
                st = self._busy[c]
                if st.active:
                    out.append(Decision(
                        "end", c, seq, t, float(self._last_scores[c]), seq, t, seq_start=st.start[0],
                        t_start=st.start[1], peak_score=st.peak, reason=reason,
                    ))  # fmt: skip
        self._reset()
        return out


class EventBank:
    """The state machines of many tracks at once: row ``r`` is one track's K classes.

    ``update(rows, seqs, ts, scores)`` takes one frame for each of ``B`` distinct rows:
    the thresholds are compared for the whole ``(B, K)`` batch in one numpy pass, and
    Python visits only the (row, class) cells that are live, in a live run or have an
    open action (typically a few per batch), running the very rules of
    :class:`EventTracker` on them (``_step``). Quiet cells have all-zero counters, so
    not visiting them changes nothing. Rows grow on demand (``ensure``); ``reset``
    makes a row as new.
    """

    def __init__(self, cfg: EventConfig, num_classes: int, capacity: int = 16) -> None:
        if not _is_int(num_classes) or num_classes < 1:
            raise ValueError(f"num_classes must be an integer >= 1; got {num_classes!r}")
        self.cfg = cfg
        self.num_classes = k = int(num_classes)
        self._on = cfg.ons(k)
        self._off = cfg.offs(k)
        self._on_l = self._on.tolist()
        self._off_l = self._off.tolist()
        self._min_frames_l = cfg.min_frames_per_class(k).tolist()
        self._min_gap = int(cfg.min_gap)
        self._cells: dict[int, _ClassState] = {}  # cell row * K + class -> state, busy cells only
        self.capacity = 0
        self._busy = np.zeros((0, k), dtype=bool)  # the cells that hold a state
        self._last_scores = np.zeros((0, k), dtype=np.float64)
        self._last_seq = np.zeros(0, dtype=np.int64)
        self._last_t = np.zeros(0, dtype=np.float64)
        self._has_last = np.zeros(0, dtype=bool)
        self.ensure(max(1, int(capacity)))

    def ensure(self, capacity: int) -> None:
        """Make rows ``0 .. capacity - 1`` exist (new rows are fresh)."""
        if capacity <= self.capacity:
            return
        for name in ("_busy", "_last_scores", "_last_seq", "_last_t", "_has_last"):
            a = getattr(self, name)
            b = np.zeros((capacity, *a.shape[1:]), a.dtype)
            b[: self.capacity] = a
            setattr(self, name, b)
        self.capacity = capacity

    def reset(self, row: int) -> None:
        """Make ``row`` as new (nothing open, no frame received)."""
        k = self.num_classes
        for c in np.flatnonzero(self._busy[row]).tolist():
            del self._cells[row * k + c]
        self._busy[row] = False
        self._last_scores[row] = 0.0
        self._has_last[row] = False

    def active(self, row: int) -> np.ndarray:
        """(K,) bool: classes of ``row`` with an open action."""
        k = self.num_classes
        out = np.zeros(k, dtype=bool)
        for c in np.flatnonzero(self._busy[row]).tolist():
            out[c] = self._cells[row * k + c].active
        return out

    def last_frame(self, row: int) -> tuple[int, float] | None:
        """(seq, t) of the last frame ``row`` received since its reset, or None."""
        if not self._has_last[row]:
            return None
        return int(self._last_seq[row]), float(self._last_t[row])

    def update(self, rows: np.ndarray, seqs: np.ndarray, ts: np.ndarray,
               scores: np.ndarray) -> list[tuple[int, Decision]]:  # fmt: skip
        """One frame per distinct row: ``seqs`` (B,) int64, ``ts`` (B,) float64 seconds,
        ``scores`` (B, K) float64 smoothed (may be modified in place: non-finite -> 0).

        Returns ``(i, decision)`` pairs, ``i`` indexing the batch, ordered by ``i``; per
        row, ends (by class index) come before starts (by class index)."""
        if not np.isfinite(scores).all():
            scores[~np.isfinite(scores)] = 0.0
        self._last_scores[rows] = scores
        self._last_seq[rows] = seqs
        self._last_t[rows] = ts
        self._has_last[rows] = True
        att = (scores > self._off) | self._busy[rows]
        if not att.any():
            return []
        bi, ci = np.nonzero(att)  # row-major: by batch index, then class
        k = self.num_classes
        cells_l = (rows[bi] * k + ci).tolist()
        vals = scores[bi, ci].tolist()
        seq_l, t_l = seqs[bi].tolist(), ts[bi].tolist()
        ons, offs, min_frames_l, min_gap = self._on_l, self._off_l, self._min_frames_l, self._min_gap
        cells = self._cells
        busy: list[bool] = []
        out: list[tuple[int, Decision]] = []
        ends: list[Decision] = []
        starts: list[Decision] = []
        prev = -1
        for b, c, cell, v, seq, t in zip(bi.tolist(), ci.tolist(), cells_l, vals, seq_l, t_l):
            if b != prev:
                if ends or starts:
                    out += [(prev, d) for d in ends + starts]
                    ends, starts = [], []
                prev = b
            st = cells.get(cell)
            if st is None:
                st = cells[cell] = _ClassState()
            if _step(st, c, v, seq, t, ons[c], offs[c], min_frames_l[c], min_gap, ends, starts):
                busy.append(True)
            else:
                del cells[cell]  # back to the quiet state (all counters zero)
                busy.append(False)
        if ends or starts:
            out += [(prev, d) for d in ends + starts]
        self._busy[rows[bi], ci] = busy
        return out

    def close(self, row: int, reason: str) -> list[Decision]:
        """End every open action of ``row`` at its last frame (see ``EventTracker.close``);
        afterwards the row is as new."""
        if reason not in CLOSE_REASONS:
            raise ValueError(f"close reason must be one of {', '.join(CLOSE_REASONS)}; got {reason!r}")
        out: list[Decision] = []
        if self._has_last[row]:
            k = self.num_classes
            seq, t = int(self._last_seq[row]), float(self._last_t[row])
            for c in np.flatnonzero(self._busy[row]).tolist():
                st = self._cells[row * k + c]
                if st.active:
                    out.append(Decision(
                        "end", c, seq, t, float(self._last_scores[row, c]), seq, t, seq_start=st.start[0],
                        t_start=st.start[1], peak_score=st.peak, reason=reason,
                    ))  # fmt: skip
        self.reset(row)
        return out
