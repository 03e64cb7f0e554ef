"""Threshold calibration on hand-built score sequences."""

from __future__ import annotations

import numpy as np

from skelact.models.calibrate import calibrate_decision


def test_calibration_raises_the_threshold_just_above_the_negatives():
    pos = np.zeros((100, 2))
    pos[40:60, 0] = 0.97  # one class-0 instance, clearly scored
    target = np.full(100, 2)
    target[40:60] = 0
    neg = np.zeros((300, 2))
    neg[100:110, 0] = 0.75  # a look-alike among the negatives
    neg[200:203, 1] = 0.99  # a blip too short for any min_frames
    d = calibrate_decision([pos], [target], [neg], fps=30.0)
    assert d["on"][0] == 0.8 and d["min_frames"][0] == 4  # the lowest that stays silent on the look-alike
    assert d["on"][1] == 0.5  # no instances, no false starts at the default: the default
    assert d["calibration"]["per_class"][0] == {"recall": 1.0, "negative_starts": 0, "extra_starts": 0, "f1": 1.0}
    assert d["off"] == [0.3, 0.3] and d["min_gap"] == 4
    assert abs(d["calibration"]["negative_hours"] - 300 / 30 / 3600) < 1e-4


def test_recall_is_not_traded_for_silence():
    pos = np.zeros((100, 1))
    pos[40:60, 0] = 0.72  # the class's own instance scores only 0.72
    target = np.full(100, 1)
    target[40:60] = 0
    neg = np.zeros((100, 1))
    neg[10:30, 0] = 0.65
    d = calibrate_decision([pos], [target], [neg], fps=30.0)
    assert d["on"][0] == 0.7  # 0.8 would silence the negative but lose the instance
    assert d["calibration"]["per_class"][0]["recall"] == 1.0


def test_point_labels_define_instances_by_a_window_around_the_point():
    from skelact.models.calibrate import point_instances

    pts = np.full(200, -1)
    pts[100] = 0
    assert point_instances(pts, fps=30.0) == [(0, 85, 130)]  # -0.5 .. +1.0 s
    assert point_instances(pts, fps=30.0, before_s=2.0) == [(0, 40, 130)]
    pos = np.zeros((200, 1))
    pos[88:100, 0] = 0.97  # the gesture, decided 0.3 s before its point
    neg = np.zeros((200, 1))
    neg[10:20, 0] = 0.75
    d = calibrate_decision([pos], None, [neg], fps=30.0, pos_instances=[point_instances(pts, 30.0)], by_trigger=True)
    assert d["on"] == [0.8] and d["calibration"]["per_class"][0]["recall"] == 1.0
    late = np.zeros((200, 1))
    late[60:100, 0] = 0.97  # decided at frame 63, 1.2 s before the point: too early to count
    d = calibrate_decision([late], None, [neg], fps=30.0, pos_instances=[point_instances(pts, 30.0)], by_trigger=True)
    assert d["calibration"]["per_class"][0]["recall"] == 0.0


def test_starts_on_the_positives_that_find_no_instance_count_as_false():
    pos = np.zeros((300, 2))
    pos[40:60, 0] = 0.97  # the class-0 instance
    pos[150:170, 1] = 0.75  # class 1 fires on a class-0 recording: a look-alike
    pos[200:220, 1] = 0.97  # class 1's own instance
    target = np.full(300, 2)
    target[40:60] = 0
    target[200:220] = 1
    neg = np.zeros((100, 2))
    d = calibrate_decision([pos], [target], [neg], fps=30.0)
    assert d["on"][1] == 0.8  # above the look-alike, still finding its own instance
    assert d["calibration"]["per_class"][1] == {"recall": 1.0, "negative_starts": 0, "extra_starts": 0, "f1": 1.0}
    assert d["on"][0] == 0.5


def test_a_second_start_inside_one_instance_is_an_extra_start():
    from skelact.models.calibrate import _match

    found, extra = _match([(0, 10), (0, 30), (1, 50)], [(0, 5, 40)], min_frames=4, k=2)
    assert found.tolist() == [1, 0] and extra.tolist() == [1, 1]


def test_a_negative_start_weighs_as_much_as_the_negatives_are_short():
    pos = np.zeros((300, 1))
    pos[40:60, 0] = 0.97
    pos[200:220, 0] = 0.72  # a weak instance
    target = np.full(300, 1)
    target[40:60] = 0
    target[200:220] = 0
    neg = np.zeros((100, 1))
    neg[10:30, 0] = 0.75  # a look-alike: one start at on <= 0.75
    # 3x more positive than negative time: the negative start counts 3 times
    # (on 0.7: F1 = 4 / (2 + 2 + 3) < on 0.8: 2 / (2 + 1 + 0))
    d = calibrate_decision([pos], [target], [neg], fps=30.0)
    assert d["on"] == [0.8] and d["calibration"]["negative_weight"] == 3.0
    assert d["calibration"]["per_class"][0]["recall"] == 0.5
    # counted once, finding both instances is worth the false start
    d = calibrate_decision([pos], [target], [neg], fps=30.0, negative_weight=1.0)
    assert d["on"] == [0.5] and d["calibration"]["per_class"][0] == {  # ties: the lowest (earliest)
        "recall": 1.0, "negative_starts": 1, "extra_starts": 0, "f1": 0.8}


def _tracker_starts(scores, cfg, trigger):
    from skelact.stream.events import EventTracker

    tr = EventTracker(cfg, scores.shape[1])
    out = []
    for i, s in enumerate(scores):
        out += [(d.class_index, d.trigger_seq if trigger else d.seq) for d in tr.update(i, i / 30.0, s)
                if d.type == "start"]  # fmt: skip
    return sorted(out)


def test_the_vectorised_starts_equal_the_runtime_state_machine():
    from skelact.models.calibrate import _starts
    from skelact.stream.events import EventConfig

    rng = np.random.default_rng(0)
    n = 0
    for trial in range(60):
        k = int(rng.integers(1, 4))
        t = int(rng.integers(1, 400))
        # smooth-ish random walks in [0, 1], with plateaus around the thresholds and a few NaNs
        x = np.clip(np.cumsum(rng.normal(0, 0.12, (t, k)), axis=0) % 2.0, 0, 2)
        x = np.where(x > 1, 2 - x, x)
        if trial % 5 == 0:
            x[rng.random((t, k)) < 0.02] = np.nan
        ons = rng.uniform(0.35, 0.9, k)
        cfg = EventConfig(on_by_class=tuple(ons), off_by_class=tuple(ons - rng.uniform(0.05, 0.3, k)),
                          min_frames_by_class=tuple(int(v) for v in rng.integers(1, 8, k)),
                          min_gap=int(rng.integers(1, 8)))  # fmt: skip
        for trigger in (False, True):
            want = _tracker_starts(x, cfg, trigger)
            assert sorted(_starts(x, cfg, trigger)) == want, (trial, trigger)
            n += len(want)
    assert n > 200  # the walks do cross the thresholds
