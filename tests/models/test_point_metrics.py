"""``skelact.models.metrics.point_f1`` / ``match_points``: start events against action points.
Every expected number below is worked out by hand in the comment beside it."""

from __future__ import annotations

import math

import pytest

from skelact.models.metrics import (
    DEFAULT_POINT_WINDOWS,
    match_points,
    point_f1,
    point_window,
    window_key,
)

W05 = (0.5, 0.5)
W10 = (0.5, 1.0)


def nan(x: float) -> bool:
    return isinstance(x, float) and math.isnan(x)


def test_window_keys_and_defaults():
    assert [window_key(w) for w in DEFAULT_POINT_WINDOWS] == ["-0.5/+0.5", "-0.5/+1.0"]
    assert window_key((0.25, 1)) == "-0.25/+1.0" and window_key((0, 2)) == "-0.0/+2.0"


@pytest.mark.parametrize("w, needle", [((-0.5, 0.5), ">= 0"), ((0.5, -1), ">= 0"), ((0, 0), "> 0"),
                                       ((math.nan, 1), "finite"), ((1, math.inf), "finite")])  # fmt: skip
def test_bad_windows_are_refused(w, needle):
    with pytest.raises(ValueError, match=needle):
        point_window(*w)
    with pytest.raises(ValueError, match=needle):
        point_f1([], [], [w])


def test_two_windows_hand_computed():
    # points 1.0 and 3.0; events 1.2, 2.0, 3.9 (one sequence, one class).
    pts = [("a", 1, 1.0), ("a", 1, 3.0)]
    evs = [("a", 1, 1.2), ("a", 1, 2.0), ("a", 1, 3.9)]
    r = point_f1(pts, evs, [W05, W10])
    # [-0.5, +0.5]: only (1.0, 1.2) is inside (offsets 0.2; 2.0-3.0 = -1.0 and 3.9-3.0 = 0.9 are out).
    a = r["-0.5/+0.5"]
    assert (a["tp"], a["num_points"], a["num_events"]) == (1, 2, 3)
    assert a["precision"] == pytest.approx(1 / 3) and a["recall"] == pytest.approx(0.5)
    assert a["f1"] == pytest.approx(2 * 1 / (2 + 3))  # 0.4
    assert a["median_offset_s"] == pytest.approx(0.2) and a["macro_f1"] == pytest.approx(0.4)
    # [-0.5, +1.0]: (1.0, 1.2) 0.2, (3.0, 3.9) 0.9, (1.0, 2.0) 1.0 (edge, inclusive) -> greedy keeps the
    # first two; the third's point is taken.
    b = r["-0.5/+1.0"]
    assert b["tp"] == 2 and b["precision"] == pytest.approx(2 / 3) and b["recall"] == 1.0
    assert b["f1"] == pytest.approx(0.8) and b["median_offset_s"] == pytest.approx(0.55)
    assert b["per_class"] == {1: {"precision": pytest.approx(2 / 3), "recall": 1.0, "f1": pytest.approx(0.8),
                                  "tp": 2, "num_points": 2, "num_events": 3}}  # fmt: skip


def test_ties_go_to_the_earlier_point_then_the_earlier_event():
    # Event 2.0 between points 1.7 and 2.3: |offset| 0.3 both (equal to 1 ns) -> the earlier point.
    assert match_points([1.7, 2.3], [2.0], W05) == [(0, 0, pytest.approx(0.3))]
    assert match_points([2.3, 1.7], [2.0], W05) == [(1, 0, pytest.approx(0.3))]  # input order does not matter
    # Events 4.8 and 5.2 around point 5.0: the earlier event, offset -0.2; the other is a false positive.
    assert match_points([5.0], [5.2, 4.8], W05) == [(0, 1, pytest.approx(-0.2))]
    r = point_f1([("a", 1, 5.0)], [("a", 1, 5.2), ("a", 1, 4.8)], [W05])["-0.5/+0.5"]
    assert r["tp"] == 1 and r["median_offset_s"] == pytest.approx(-0.2) and r["precision"] == 0.5


def test_two_events_near_one_point_the_nearer_wins():
    # Point 1.0, events 0.9 (offset -0.1) and 1.05 (+0.05): 1.05 matches, 0.9 is a false positive.
    assert match_points([1.0], [0.9, 1.05], W05) == [(0, 1, pytest.approx(0.05))]
    r = point_f1([("a", 1, 1.0)], [("a", 1, 0.9), ("a", 1, 1.05)], [W05])["-0.5/+0.5"]
    assert (r["tp"], r["precision"], r["recall"]) == (1, 0.5, 1.0) and r["f1"] == pytest.approx(2 / 3)


def test_greedy_not_optimal_assignment():
    # Points 0.0 and 0.9, events 0.5 and 1.35. Pairs: (0.9, 0.5) -0.4, (0.9, 1.35) 0.45, (0.0, 0.5) 0.5.
    # Greedy takes -0.4 first; then point 0.9 and event 0.5 are both used: one match (an optimal
    # assignment would find two). The rule is the documented greedy one.
    assert match_points([0.0, 0.9], [0.5, 1.35], W05) == [(1, 0, pytest.approx(-0.4))]


def test_events_outside_every_window_other_sequences_and_classes():
    pts = [("a", 1, 1.0)]
    evs = [("a", 1, 10.0),  # far from every point: false positive
           ("b", 1, 1.0),  # same time, another sequence: false positive
           ("a", 2, 1.0)]  # same time, another class (no points; not evaluated by default): ignored
    r = point_f1(pts, evs, [W05])["-0.5/+0.5"]
    assert (r["tp"], r["num_points"], r["num_events"]) == (0, 1, 2)
    assert r["precision"] == 0.0 and r["recall"] == 0.0 and r["f1"] == 0.0 and nan(r["median_offset_s"])
    assert list(r["per_class"]) == [1]


def test_class_without_points():
    # classes [1, 2]: class 2 has events but no points -> its events are false positives (micro),
    # its recall is undefined, and macro-F1 leaves it out.
    pts = [("a", 1, 1.0), ("a", 1, 2.0), ("a", 1, 3.0), ("a", 3, 4.0)]
    evs = [("a", 1, 1.1), ("a", 1, 2.1), ("a", 1, 3.1), ("a", 2, 5.0)]
    r = point_f1(pts, evs, [W05], classes=[1, 2, 3])["-0.5/+0.5"]
    c = r["per_class"]
    assert c[1]["f1"] == 1.0 and c[3]["f1"] == 0.0 and nan(c[3]["precision"]) and c[3]["recall"] == 0.0
    assert c[2]["precision"] == 0.0 and nan(c[2]["recall"]) and c[2]["f1"] == 0.0
    assert r["macro_f1"] == pytest.approx(0.5)  # mean of 1.0 (class 1) and 0.0 (class 3)
    # micro: TP 3, points 4, events 4 -> P 3/4, R 3/4, F1 6/8
    assert (r["precision"], r["recall"], r["f1"]) == (0.75, 0.75, 0.75)
    # Default classes = those with points: class 2's event is ignored -> P 3/3, F1 6/7.
    d = point_f1(pts, evs, [W05])["-0.5/+0.5"]
    assert d["num_events"] == 3 and d["precision"] == 1.0 and d["f1"] == pytest.approx(6 / 7)
    assert set(d["per_class"]) == {1, 3}


def test_empty_inputs():
    r = point_f1([], [], [W05])["-0.5/+0.5"]
    assert r["tp"] == r["num_points"] == r["num_events"] == 0 and r["per_class"] == {}
    assert all(nan(r[k]) for k in ("precision", "recall", "f1", "macro_f1", "median_offset_s"))
    r = point_f1([("a", 1, 1.0)], [], [W05])["-0.5/+0.5"]  # points, no events: nothing found
    assert nan(r["precision"]) and r["recall"] == 0.0 and r["f1"] == 0.0 and r["macro_f1"] == 0.0
    r = point_f1([], [("a", 1, 1.0)], [W05], classes=[1])["-0.5/+0.5"]  # events, no points
    assert r["precision"] == 0.0 and nan(r["recall"]) and r["f1"] == 0.0 and nan(r["macro_f1"])
    assert match_points([], [1.0], W05) == [] and match_points([1.0], [], W05) == []


def test_duplicate_windows_and_bad_times_are_refused():
    with pytest.raises(ValueError, match="duplicate"):
        point_f1([], [], [W05, (0.5, 0.5)])
    with pytest.raises(ValueError, match="finite"):
        point_f1([("a", 1, math.nan)], [], [W05])
    with pytest.raises(ValueError, match="at least one"):
        point_f1([], [], [])
