"""The batched smoothing and event banks (what the detector runs, all tracks at once)
against the per-track reference implementations: ``EventTracker`` and ``Smoother`` as
they were before batching, copied here verbatim (renamed) so that a change on either
side is caught. Random score sequences, configs, batch compositions, closes and resets
must give bit-identical outputs; the batched resampling arithmetic likewise."""

from __future__ import annotations

import numpy as np
import pytest

from skelact.stream.events import (
    CLOSE_REASONS,
    Decision,
    EventBank,
    EventConfig,
    EventTracker,
    _is_int,
)
from skelact.stream.smoothing import Smoother, SmootherBank, SmoothingConfig

# ----------------------------------------------------------------- references (the code before batching)

class _RefClassState:
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


class RefTracker:
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
        self._busy: dict[int, _RefClassState] = {}  # classes in a live run or with an open action
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
                st = busy[c] = _RefClassState()
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
            if not st.active and not st.in_run:
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


class RefSmoother:
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




# ----------------------------------------------------------------- random inputs


def _random_event_config(rng: np.random.Generator, k: int) -> EventConfig:
    def pair():
        off = float(rng.choice([0.0, 0.1, 0.3, rng.random() * 0.6]))
        on = float(min(1.0, off + rng.choice([0.05, 0.2, rng.random() * 0.5 + 1e-3])))
        return on, off

    on, off = pair()
    kw = dict(on=on, off=off, min_frames=int(rng.integers(1, 6)), min_gap=int(rng.integers(1, 6)))
    if rng.random() < 0.5:
        pairs = [pair() for _ in range(k)]
        kw.update(on_by_class=tuple(p[0] for p in pairs), off_by_class=tuple(p[1] for p in pairs))
    if rng.random() < 0.5:
        kw.update(min_frames_by_class=tuple(int(x) for x in rng.integers(1, 6, k)))
    return EventConfig(**kw)


def _random_scores(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Smooth-ish walks in [0, 1] with plateaus, exact threshold values and non-finite holes."""
    kind = rng.integers(3)
    if kind == 0:
        x = rng.random((n, k))
    elif kind == 1:
        x = np.clip(np.cumsum(rng.normal(0, 0.12, (n, k)), axis=0) % 1.2, 0, 1)
    else:
        x = rng.choice([0.0, 0.1, 0.3, 0.5, 0.6, 1.0], size=(n, k))
    holes = rng.random((n, k)) < 0.02
    x[holes] = rng.choice([np.nan, np.inf, -np.inf], size=int(holes.sum()))
    return x


# ----------------------------------------------------------------- events


@pytest.mark.parametrize("seed", range(40))
def test_event_bank_equals_per_track_reference(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 7))
    cfg = _random_event_config(rng, k)
    n_rows = int(rng.integers(1, 9))
    bank = EventBank(cfg, k, capacity=int(rng.integers(1, 4)))
    bank.ensure(n_rows)
    refs = [RefTracker(cfg, k) for _ in range(n_rows)]
    seqs = [int(rng.integers(0, 1000)) for _ in range(n_rows)]
    steps = int(rng.integers(20, 200))
    scores = _random_scores(rng, steps, n_rows * k).reshape(steps, n_rows, k)
    for step in range(steps):
        # a random subset of the rows, in random order, each once (one round of the detector)
        rows = rng.permutation(n_rows)[: int(rng.integers(1, n_rows + 1))]
        want: list[tuple[int, Decision]] = []
        seq_b, t_b = [], []
        for i, r in enumerate(rows):
            seqs[r] += int(rng.integers(1, 3))
            seq_b.append(seqs[r])
            t_b.append(seqs[r] / 30.0)
            want += [(i, d) for d in refs[r].update(seqs[r], seqs[r] / 30.0, scores[step, r])]
        got = bank.update(rows.astype(np.intp), np.asarray(seq_b, dtype=np.int64), np.asarray(t_b),
                          scores[step, rows].copy())  # fmt: skip
        assert got == want, (seed, step)
        for r in rows:
            assert np.array_equal(bank.active(int(r)), refs[r].active)
            assert bank.last_frame(int(r)) == refs[r].last_frame
        if rng.random() < 0.03:  # a track closes (eos, timeout, ...) and starts afresh
            r = int(rng.integers(n_rows))
            reason = str(rng.choice(CLOSE_REASONS))
            assert bank.close(r, reason) == refs[r].close(reason)
    for r in range(n_rows):
        assert bank.close(r, "eos") == refs[r].close("eos")


@pytest.mark.parametrize("seed", range(20))
def test_event_tracker_equals_reference(seed):
    rng = np.random.default_rng(1000 + seed)
    k = int(rng.integers(1, 8))
    cfg = _random_event_config(rng, k)
    x = _random_scores(rng, int(rng.integers(1, 400)), k)
    a, b = EventTracker(cfg, k), RefTracker(cfg, k)
    for i, row in enumerate(x):
        assert a.update(10 + 2 * i, i / 25.0, row) == b.update(10 + 2 * i, i / 25.0, row)
        assert np.array_equal(a.active, b.active) and a.last_frame == b.last_frame
    assert a.close("shutdown") == b.close("shutdown")
    assert a.last_frame is None and not a.active.any()


# ----------------------------------------------------------------- smoothing

SMOOTHING = [SmoothingConfig("ema", alpha=a) for a in (0.05, 0.4, 0.77, 1.0)] + [
    SmoothingConfig("mean", window=w) for w in (1, 2, 5, 8, 9, 16)] + [SmoothingConfig("none")]  # fmt: skip


@pytest.mark.parametrize("cfg", SMOOTHING, ids=lambda c: f"{c.kind}-{c.alpha}-{c.window}")
@pytest.mark.parametrize("k", [1, 2, 5])
def test_smoother_bank_equals_per_track_reference_bitwise(cfg, k):
    rng = np.random.default_rng(k * 100 + cfg.window)
    n_rows = 6
    bank = SmootherBank(cfg, k, capacity=2)
    bank.ensure(n_rows)
    refs = [RefSmoother(cfg, k) for _ in range(n_rows)]
    for step in range(120):
        rows = rng.permutation(n_rows)[: int(rng.integers(1, n_rows + 1))]
        x = _random_scores(rng, len(rows), k)
        got = bank.step(rows.astype(np.intp), x.copy())
        want = np.stack([refs[r].step(x[i]) for i, r in enumerate(rows)])
        assert got.dtype == np.float64 and got.tobytes() == want.tobytes(), step
        if rng.random() < 0.05:
            r = int(rng.integers(n_rows))
            bank.reset([r])
            refs[r].reset()
            assert bank.frames_seen(r) == refs[r].frames_seen == 0


@pytest.mark.parametrize("cfg", SMOOTHING, ids=lambda c: f"{c.kind}-{c.alpha}-{c.window}")
def test_smoother_equals_reference_bitwise(cfg):
    x = _random_scores(np.random.default_rng(cfg.window), 200, 3).astype(np.float32)
    a, b = Smoother(cfg, 3), RefSmoother(cfg, 3)
    assert a.step(x).tobytes() == b.step(x).tobytes()
    assert np.stack([a.step(r) for r in x]).tobytes() == np.stack([b.step(r) for r in x]).tobytes()
    assert a.frames_seen == b.frames_seen


# ----------------------------------------------------------------- resampling


@pytest.mark.parametrize("seed", range(10))
def test_lerp_many_equals_lerp_bitwise(seed):
    from skelact.stream.resample import _lerp, lerp_many

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    a = [rng.normal(size=(1, 20, 3)).astype(np.float32) for _ in range(n)]
    b = [rng.normal(size=(1, 20, 3)).astype(np.float32) for _ in range(n)]
    for x in a + b:
        x[rng.random(x.shape) < 0.1] = np.nan
        x[rng.random(x.shape) < 0.02] = np.float32(3e38) * rng.choice([-1, 1])  # overflows in between
    w = [float(rng.choice([0.0, 1.0, -0.5, 1.5, 0.5, rng.random()])) for _ in range(n)]
    with np.errstate(over="ignore", invalid="ignore"):
        got = lerp_many(a, b, w)
        wants = [_lerp(a[i], b[i], w[i]) for i in range(n)]
    for i, want in enumerate(wants):
        assert got[i].dtype == want.dtype and got[i].tobytes() == want.tobytes()
        if not 0.0 < w[i] < 1.0:
            assert got[i] is want  # the input frame itself, as _lerp returns it
    # mixed shapes (joint models see varying persons) take the per-frame way, same result
    a2, b2 = a + [np.zeros((2, 20, 3), np.float32)], b + [np.ones((2, 20, 3), np.float32)]
    with np.errstate(over="ignore", invalid="ignore"):
        got2 = lerp_many(a2, b2, w + [0.25])
        want2 = [_lerp(x, y, wi) for x, y, wi in zip(a2, b2, w + [0.25])]
    assert all(g.tobytes() == x.tobytes() for g, x in zip(got2, want2))
    assert got2[-1].shape == (2, 20, 3)
