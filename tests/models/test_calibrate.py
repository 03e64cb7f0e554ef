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
    assert d["calibration"]["per_class"][0] == {"recall": 1.0, "negative_starts": 0}
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
    assert point_instances(pts, fps=30.0) == [(0, 40, 130)]
    pos = np.zeros((200, 1))
    pos[80:100, 0] = 0.97  # the gesture, just before its point
    neg = np.zeros((200, 1))
    neg[10:20, 0] = 0.75
    d = calibrate_decision([pos], None, [neg], fps=30.0, pos_instances=[point_instances(pts, 30.0)])
    assert d["on"] == [0.8] and d["calibration"]["per_class"][0]["recall"] == 1.0
