"""The event state machine: exact boundaries, hysteresis, close(), invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skelact.stream.events import CLOSE_REASONS, Decision, EventConfig, EventTracker

DT = 0.1  # seconds per frame in these tests; seq starts at SEQ0 to tell seq from index
SEQ0 = 100


def feed(scores, cfg=None, k=None):
    """Feed rows (T,) or (T, K); returns (tracker, decisions with frame index of the update)."""
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    tr = EventTracker(cfg or EventConfig(), k or x.shape[1])
    out = []
    for i, row in enumerate(x):
        for d in tr.update(SEQ0 + i, i * DT, row):
            out.append((i, d))
    return tr, out


# ----------------------------------------------------------------- config
@pytest.mark.parametrize(
    "kw",
    [dict(on=0.3, off=0.3), dict(on=0.2, off=0.3), dict(off=-0.1), dict(on=1.1), dict(on=float("nan")),
     dict(min_frames=0), dict(min_gap=0), dict(min_frames=2.0), dict(min_gap=True), dict(on=True)],  # fmt: skip
)
def test_config_validation(kw):
    with pytest.raises(ValueError):
        EventConfig(**kw)


def test_config_extremes_are_valid():
    EventConfig(on=1.0, off=0.0, min_frames=1, min_gap=1)
    c = EventConfig()
    assert (c.on, c.off, c.min_frames, c.min_gap) == (0.5, 0.3, 4, 4)


# ----------------------------------------------------------------- hand-made sequences
def test_start_back_dated_and_end_at_last_live_frame():
    s = [0.0, 0.35, 0.6, 0.6, 0.6, 0.6, 0.4, 0.2, 0.2, 0.5, 0.2, 0.2, 0.2, 0.2, 0.0]
    tr, ds = feed(s)
    assert [(i, d.type) for i, d in ds] == [(5, "start"), (13, "end")]
    start, end = ds[0][1], ds[1][1]
    # start: back-dated to frame 1 (first above off), triggered by the 4th high frame (5)
    assert start == Decision("start", 0, SEQ0 + 1, 1 * DT, 0.6, SEQ0 + 5, 5 * DT)
    # end: a 2-frame dip (7, 8) does not end it; 4 low frames (10..13) do, at frame 9
    assert end.seq == SEQ0 + 9 and end.t == pytest.approx(0.9)
    assert (end.trigger_seq, end.trigger_t, end.score) == (SEQ0 + 13, 13 * DT, 0.2)
    assert (end.seq_start, end.t_start, end.peak_score, end.reason) == (SEQ0 + 1, 0.1, 0.6, "score")
    assert not tr.active.any()


def test_min_frames():
    cfg = EventConfig(min_frames=4)
    assert feed([0.9, 0.9, 0.9, 0.0], cfg)[1] == []
    _, ds = feed([0.9, 0.9, 0.9, 0.9], cfg)
    assert [(i, d.type, d.seq) for i, d in ds] == [(3, "start", SEQ0)]
    _, ds = feed([0.9], EventConfig(min_frames=1, min_gap=1))
    assert ds[0][1].trigger_seq == SEQ0


def test_high_frames_must_be_consecutive_but_rise_spans_the_live_run():
    # frames between off and on break the high count, not the live run
    s = [0.1, 0.35, 0.6, 0.6, 0.6, 0.45, 0.6, 0.6, 0.6, 0.6]
    _, ds = feed(s)
    assert [(i, d.type, d.seq) for i, d in ds] == [(9, "start", SEQ0 + 1)]


def test_rise_resets_when_score_falls_to_off():
    s = [0.4, 0.4, 0.3, 0.4, 0.7, 0.7, 0.7, 0.7]  # 0.3 == off is not above off
    _, ds = feed(s)
    assert ds[0][1].seq == SEQ0 + 3


def test_threshold_boundaries():
    # score == on counts as above on; score == off counts as below off
    _, ds = feed([0.5] * 4 + [0.3] * 4)
    assert [(i, d.type, d.seq) for i, d in ds] == [(3, "start", SEQ0), (7, "end", SEQ0 + 3)]


@pytest.mark.parametrize("dip", [1, 2, 3])
def test_short_dips_do_not_end(dip):
    s = [0.9] * 4 + [0.1] * dip + [0.9] * 3 + [0.1] * 4
    _, ds = feed(s)
    assert [d.type for _, d in ds] == ["start", "end"]
    assert ds[1][1].seq == SEQ0 + 4 + dip + 2


def test_min_gap_exact():
    _, ds = feed([0.9] * 4 + [0.1] * 3, EventConfig(min_gap=4))
    assert [d.type for _, d in ds] == ["start"]
    _, ds = feed([0.9] * 4 + [0.1] * 3, EventConfig(min_gap=3))
    assert [(i, d.type, d.seq) for i, d in ds][-1] == (6, "end", SEQ0 + 3)


def test_hysteresis_keeps_alive_between_off_and_on():
    s = [0.9] * 4 + [0.31, 0.49] * 50
    tr, ds = feed(s)
    assert [d.type for _, d in ds] == ["start"]
    assert tr.active[0]
    # and scores between off and on never start an action
    assert feed([0.49] * 100)[1] == []


def test_peak_score_and_restart_after_end():
    s = [0.4, 0.8, 0.95, 0.7, 0.6, 0.1, 0.1, 0.1, 0.1, 0.6, 0.6, 0.6, 0.6]
    _, ds = feed(s)
    types = [(i, d.type) for i, d in ds]
    assert types == [(4, "start"), (8, "end"), (12, "start")]
    assert ds[1][1].peak_score == 0.95
    assert ds[2][1].seq == SEQ0 + 9  # new run after the previous end


def test_order_ends_before_starts_then_class_index():
    k = 4
    x = np.zeros((12, k))
    x[0:4, [1, 3]] = 0.9  # classes 1, 3 start at frame 3
    x[4:8, [1, 3]] = 0.0  # ... and end at frame 7
    x[4:8, [0, 2]] = 0.9  # classes 0, 2 start at frame 7
    _, ds = feed(x, EventConfig(min_frames=4, min_gap=4))
    at7 = [(d.type, d.class_index) for i, d in ds if i == 7]
    assert at7 == [("end", 1), ("end", 3), ("start", 0), ("start", 2)]
    at3 = [(d.type, d.class_index) for i, d in ds if i == 3]
    assert at3 == [("start", 1), ("start", 3)]


def test_nan_scores_count_as_zero():
    s = np.array([[0.9, 0.9]] * 4 + [[np.nan, 0.9]] * 4)
    tr, ds = feed(s)
    assert [(i, d.type, d.class_index) for i, d in ds] == [(3, "start", 0), (3, "start", 1), (7, "end", 0)]
    end = ds[2][1]
    assert end.score == 0.0 and end.seq == SEQ0 + 3 and np.isfinite(end.peak_score)
    assert tr.active.tolist() == [False, True]
    (c,) = tr.close("eos")
    assert c.class_index == 1 and np.isfinite(c.score)


@pytest.mark.parametrize("reason", CLOSE_REASONS)
def test_close_each_reason(reason):
    s = [0.0, 0.4, 0.9, 0.9, 0.9, 0.9, 0.8, 0.2, 0.25]  # open, in a dip when closed
    tr, ds = feed(s)
    assert [d.type for _, d in ds] == ["start"]
    (end,) = tr.close(reason)
    last = len(s) - 1
    assert end.type == "end" and end.reason == reason and end.class_index == 0
    assert (end.seq, end.t) == (SEQ0 + last, last * DT)  # last frame received
    assert (end.trigger_seq, end.trigger_t) == (SEQ0 + last, last * DT)
    assert end.score == 0.25  # last smoothed score
    assert (end.seq_start, end.t_start, end.peak_score) == (SEQ0 + 1, 0.1, 0.9)
    # afterwards the tracker is as new: nothing left to close, a new action can start
    assert tr.close(reason) == []
    assert tr.last_frame is None
    got = [d.type for i in range(4) for d in tr.update(500 + i, 50 + i, np.array([0.9]))]
    assert got == ["start"]


def test_close_without_frames_or_open_actions():
    tr = EventTracker(EventConfig(), 3)
    assert tr.close("shutdown") == []
    tr.update(0, 0.0, np.array([0.9, 0.0, 0.0]))
    assert tr.close("eos") == []  # nothing was open yet
    with pytest.raises(ValueError):
        tr.close("because")


def test_close_orders_by_class_index():
    tr, _ = feed(np.full((4, 3), 0.9))
    assert [d.class_index for d in tr.close("eos")] == [0, 1, 2]


def test_bad_inputs():
    tr = EventTracker(EventConfig(), 3)
    with pytest.raises(ValueError):
        tr.update(0, 0.0, np.zeros(2))
    with pytest.raises(ValueError):
        EventTracker(EventConfig(), 0)


def test_deterministic():
    x = np.random.default_rng(3).random((200, 5))
    assert feed(x)[1] == feed(x)[1]


# ----------------------------------------------------------------- reference and invariants
def reference(x: np.ndarray, cfg: EventConfig) -> list[tuple[int, int, int, int, str]]:
    """Declarative statement of the rules for one class (frame indices):
    ``(start, start_trigger, end, end_trigger, reason)``; open actions close at the last frame."""
    x = np.where(np.isfinite(x), x, 0.0)
    high, live = x >= cfg.on, x > cfg.off
    n, out, t = len(x), [], 0
    while t < n:
        # first trigger: min_frames consecutive high frames ending at t
        if t + 1 >= cfg.min_frames and high[t + 1 - cfg.min_frames : t + 1].all():
            r = t
            while r > 0 and live[r - 1]:
                r -= 1
            u = t + 1
            while u < n and not (u - cfg.min_gap + 1 > t and not live[u - cfg.min_gap + 1 : u + 1].any()):
                u += 1
            if u < n:
                out.append((r, t, u - cfg.min_gap, u, "score"))
                t = u + 1
                continue
            out.append((r, t, n - 1, n - 1, "eos"))
            break
        t += 1
    return out


def check_invariants(x: np.ndarray, decisions: list[Decision], cfg: EventConfig) -> None:
    x = np.where(np.isfinite(x), x, 0.0)
    for c in range(x.shape[1]):
        ds = [d for d in decisions if d.class_index == c]
        assert [d.type for d in ds] == ["start", "end"] * (len(ds) // 2)  # strict alternation
        got = []
        prev_end_trigger = -1
        for s, e in zip(ds[::2], ds[1::2]):
            i0, it, i1, iu = (v - SEQ0 for v in (s.seq, s.trigger_seq, e.seq, e.trigger_seq))
            assert prev_end_trigger < i0 <= it <= i1 <= iu  # well-formed, no overlap
            assert (e.seq_start, e.t_start) == (s.seq, s.t)
            assert e.peak_score == pytest.approx(x[i0 : i1 + 1, c].max())
            assert s.score == x[it, c] and e.score == x[iu, c]
            assert s.t == pytest.approx(i0 * DT) and e.t == pytest.approx(i1 * DT)
            got.append((i0, it, i1, iu, e.reason))
            prev_end_trigger = iu
        assert got == reference(x[:, c], cfg)


@settings(max_examples=150, deadline=None)
@given(
    data=st.lists(st.lists(st.sampled_from([0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.9, float("nan")]),
                           min_size=3, max_size=3), min_size=0, max_size=60),  # fmt: skip
    min_frames=st.integers(1, 5),
    min_gap=st.integers(1, 5),
)
def test_random_sequences_match_the_rules(data, min_frames, min_gap):
    cfg = EventConfig(on=0.5, off=0.3, min_frames=min_frames, min_gap=min_gap)
    x = np.asarray(data, dtype=np.float64).reshape(-1, 3)
    tr, ds = feed(x, cfg, k=3)
    decisions = [d for _, d in ds] + tr.close("eos")
    check_invariants(x, decisions, cfg)


def test_many_random_walks():
    rng = np.random.default_rng(0)
    for _ in range(40):
        k = int(rng.integers(1, 6))
        x = np.clip(0.5 + np.cumsum(rng.normal(0, 0.15, (int(rng.integers(0, 300)), k)), axis=0) * 0.3, 0, 1)
        cfg = EventConfig(on=float(rng.uniform(0.4, 0.9)), off=float(rng.uniform(0.0, 0.39)),
                          min_frames=int(rng.integers(1, 8)), min_gap=int(rng.integers(1, 8)))  # fmt: skip
        tr, ds = feed(x, cfg, k=k)
        check_invariants(x, [d for _, d in ds] + tr.close("eos"), cfg)
