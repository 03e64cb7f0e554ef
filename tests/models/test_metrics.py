"""Detection / video / frame mAP on cases small enough to compute by hand."""

from __future__ import annotations

import numpy as np
import pytest

from skelact.models.metrics import (
    detection_ap,
    detection_map,
    frame_ap,
    frame_map,
    interpolated_prec_rec,
    ood_false_starts,
    ood_mask,
    ranking_ap,
    segment_iou,
    tiou_key,
    video_ap,
    video_map,
)

KEYS = ["0.1", "0.2", "0.3", "0.4", "0.5", "avg"]


def test_segment_iou_inclusive():
    got = segment_iou((0, 9), np.array([[5, 14], [0, 9], [10, 19], [9, 9], [20, 30]]))
    np.testing.assert_allclose(got, [5 / 15, 1.0, 0.0, 1 / 10, 0.0])
    assert segment_iou((3, 3), np.array([[3, 3]]))[0] == 1.0  # one-frame segments


def test_interpolated_prec_rec_by_hand():
    # ActivityNet's envelope: precision made non-increasing, summed over recall steps
    prec = np.array([1.0, 0.5, 2 / 3, 0.5])
    rec = np.array([0.25, 0.25, 0.5, 0.5])
    assert interpolated_prec_rec(prec, rec) == pytest.approx(0.25 * 1 + 0.25 * 2 / 3)
    assert interpolated_prec_rec(np.array([1.0]), np.array([1.0])) == 1.0
    assert interpolated_prec_rec(np.array([0.0, 0.5]), np.array([0.0, 1.0])) == pytest.approx(0.5)


def test_tiou_keys():
    assert [tiou_key(x) for x in (0.1, 0.2, 0.3, 0.4, 0.5)] == KEYS[:5]
    assert tiou_key(0.75) == "0.75" and tiou_key(1.0) == "1.0"


def test_perfect_prediction_is_one():
    gt = [("a", 1, 0, 9), ("a", 2, 20, 29), ("b", 1, 5, 5)]
    pred = [(v, c, s, e, 0.9) for v, c, s, e in gt]
    m = detection_map(gt, pred)
    assert list(m) == KEYS
    assert all(v == 1.0 for v in m.values())


def test_no_prediction_is_zero():
    m = detection_map([("a", 1, 0, 9)], [])
    assert all(v == 0.0 for v in m.values())


def test_three_predictions_by_hand():
    gt = [("a", 1, 0, 9), ("b", 1, 0, 9)]
    pred = [("a", 1, 0, 9, 0.9), ("a", 1, 20, 29, 0.8), ("b", 1, 0, 9, 0.7)]
    # TP, FP, TP: prec [1, 1/2, 2/3], rec [1/2, 1/2, 1] -> AP = 1/2 * 1 + 1/2 * 2/3
    ap = detection_ap(gt, pred)[1]
    np.testing.assert_allclose(ap, 5 / 6)


def test_two_predictions_false_positive_first():
    gt = [("a", 1, 10, 19)]
    pred = [("a", 1, 40, 49, 0.9), ("a", 1, 10, 19, 0.5)]
    np.testing.assert_allclose(detection_ap(gt, pred)[1], 0.5)  # prec [0, 1/2], rec [0, 1]


def test_duplicate_detection_is_a_false_positive():
    gt = [("a", 1, 0, 9)]
    pred = [("a", 1, 0, 9, 0.9), ("a", 1, 0, 8, 0.8)]
    # TP then FP: prec [1, 1/2], rec [1, 1] -> AP 1 (the FP comes after full recall)
    np.testing.assert_allclose(detection_ap(gt, pred)[1], 1.0)
    pred = [("a", 1, 0, 8, 0.9), ("a", 1, 0, 9, 0.8)]
    np.testing.assert_allclose(detection_ap(gt, pred)[1], 1.0)  # the first one takes it


def test_matching_takes_the_highest_tiou_ground_truth():
    gt = [("a", 1, 0, 9), ("a", 1, 3, 12)]
    # the first prediction overlaps both GTs (tIoU 8/12 and 9/11): it takes the second;
    # the second prediction then matches the first GT (tIoU 6/10; 3/13 with the other)
    pred = [("a", 1, 2, 11, 0.9), ("a", 1, 0, 5, 0.8)]
    np.testing.assert_allclose(detection_ap(gt, pred, [0.5])[1], [1.0])
    # (a first-match rule would give the first GT to the first prediction and score 0.5)


def test_threshold_dependence():
    gt = [("a", 1, 0, 19)]
    pred = [("a", 1, 13, 19, 0.9)]  # tIoU 7/20 = 0.35
    ap = detection_ap(gt, pred)[1]
    np.testing.assert_allclose(ap, [1, 1, 1, 0, 0])
    m = detection_map(gt, pred)
    assert m["0.3"] == 1.0 and m["0.4"] == 0.0 and m["avg"] == pytest.approx(0.6)


def test_video_and_class_must_match():
    gt = [("a", 1, 0, 9)]
    pred = [("b", 1, 0, 9, 0.9), ("a", 2, 0, 9, 0.8), ("a", 1, 0, 9, 0.7)]
    per = detection_ap(gt, pred)
    assert list(per) == [1]  # class 2 has no GT: excluded
    np.testing.assert_allclose(per[1], 0.5)  # FP (other video) then TP


def test_classes_without_ground_truth_are_excluded_from_the_mean():
    gt = [("a", 1, 0, 9), ("a", 2, 20, 29)]
    pred = [("a", 1, 0, 9, 0.9), ("a", 3, 0, 9, 0.99)]
    m = detection_map(gt, pred)
    assert m["0.5"] == pytest.approx(0.5)  # (1 + 0) / 2, class 3 ignored


def test_activitynet_style_case():
    """Four GT instances, five predictions; reasoning as ActivityNet's
    compute_average_precision_detection does at tIoU 0.5."""
    gt = [("v1", 0, 0, 9), ("v1", 0, 30, 39), ("v2", 0, 0, 19), ("v3", 0, 50, 59)]
    pred = [
        ("v1", 0, 0, 9, 0.95),  # TP (GT v1#0)
        ("v2", 0, 30, 39, 0.9),  # FP (no overlap)
        ("v1", 0, 32, 41, 0.8),  # tIoU 8/12 -> TP (GT v1#1)
        ("v1", 0, 1, 10, 0.7),  # GT v1#0 taken, v1#1 tIoU 0 -> FP
        ("v2", 0, 0, 7, 0.6),  # tIoU 8/20 = 0.4 -> FP at 0.5, TP at 0.4
    ]
    # at 0.5: TP FP TP FP FP -> prec [1, .5, 2/3, .5, .4], rec [.25, .25, .5, .5, .5]
    ap = detection_ap(gt, pred, [0.4, 0.5])[0]
    assert ap[1] == pytest.approx(0.25 * 1 + 0.25 * 2 / 3)
    # at 0.4 the last one is a TP: prec 3/5 at recall .75; envelope [1, 2/3, 2/3, 3/5]
    assert ap[0] == pytest.approx(0.25 + 0.25 * 2 / 3 + 0.25 * 3 / 5)


def test_ties_keep_input_order():
    gt = [("a", 1, 0, 9)]
    tp_first = [("a", 1, 0, 9, 0.5), ("a", 1, 50, 59, 0.5)]
    assert detection_ap(gt, tp_first)[1][0] == 1.0
    assert detection_ap(gt, tp_first[::-1])[1][0] == 0.5


def test_bad_inputs():
    with pytest.raises(ValueError):
        detection_map([], [])
    with pytest.raises(ValueError):
        detection_ap([("a", 1, 9, 0)], [])
    with pytest.raises(ValueError):
        detection_ap([("a", 1, 0, 9)], [("a", 1, 5, 1, 0.5)])
    with pytest.raises(ValueError):
        detection_ap([("a", 1, 0, 9)], [("a", 1, 0, 9, float("nan"))])
    with pytest.raises(ValueError):
        detection_ap([("a", 1, 0, 9)], [], [0.0])
    with pytest.raises(ValueError):
        detection_ap([("a", 1, 0, 9)], [], [])


# ----------------------------------------------------------------- ranking metrics
def test_ranking_ap_by_hand_and_ties():
    assert ranking_ap([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1]) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert ranking_ap([1, 1, 0], [0.3, 0.2, 0.1]) == 1.0
    # one tie group of everything: precision 2/4 at recall 1, independent of order
    assert ranking_ap([1, 0, 1, 0], [0.5] * 4) == pytest.approx(0.5)
    assert ranking_ap([0, 1, 0, 1], [0.5] * 4) == pytest.approx(0.5)
    assert np.isnan(ranking_ap([0, 0], [0.1, 0.2]))
    assert ranking_ap([1, 0], [-np.inf, 0.2]) == pytest.approx(0.5)


def test_video_map():
    labels = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=bool)
    perfect = labels.astype(float)
    assert video_map(labels, perfect) == 1.0
    scores = np.array([[0.9, 0.2, 0.5], [0.8, 0.9, 0.1], [0.1, 0.4, 0.3]])
    aps = video_ap(labels, scores)
    # class 0: ranking a(1), b(0), c(1) -> 1/2 * 1 + 1/2 * 2/3; class 1: b(1), c(1) -> 1; class 2: no positive
    assert aps[0] == pytest.approx(5 / 6) and aps[1] == 1.0 and np.isnan(aps[2])
    assert video_map(labels, scores) == pytest.approx((5 / 6 + 1) / 2)
    with pytest.raises(ValueError):
        video_map(np.zeros((2, 2), bool), np.zeros((2, 2)))
    with pytest.raises(ValueError):
        video_map(labels, scores[:, :2])


def test_frame_map_pools_videos():
    lab1 = np.array([[1, 0], [1, 0], [0, 1]], dtype=bool)
    lab2 = np.array([[0, 0], [1, 0]], dtype=bool)
    assert frame_map([lab1, lab2], [lab1.astype(float), lab2.astype(float)]) == 1.0
    s1 = np.array([[0.9, 0.1], [0.2, 0.2], [0.3, 0.8]])
    s2 = np.array([[0.8, 0.3], [0.7, 0.1]])
    aps = frame_ap([lab1, lab2], [s1, s2])
    # class 0 pooled ranking: .9(1) .8(0) .7(1) .3(0) .2(1) -> prec 1, 1/2, 2/3, 1/2, 3/5 at rec 1/3, 1/3, 2/3, 2/3, 1
    assert aps[0] == pytest.approx(1 / 3 + 1 / 3 * 2 / 3 + 1 / 3 * 3 / 5)
    assert aps[1] == 1.0  # the one positive frame has the top score
    with pytest.raises(ValueError):
        frame_map([lab1], [s2])
    with pytest.raises(ValueError):
        frame_map([], [])


# ----------------------------------------------------------------------------- out of domain


def test_ood_mask_is_per_instance_not_per_sequence():
    t = np.arange(10) / 2.0  # 0.0 .. 4.5 s
    m = ood_mask(t, [(1.0, 2.0)])
    assert m.tolist() == [True, True, False, False, False, True, True, True, True, True]
    assert ood_mask(t, []).all()


def test_ood_false_starts_hand_computed():
    # two 10-minute streams at 10 fps; stream a has one overlapping instance 60..120 s
    t = np.arange(6000) / 10.0
    streams = {"a": t, "b": t}
    overlapping = {"a": [(60.0, 120.0)]}
    starts = [("a", 100, 3), ("a", 700, 5), ("a", 1300, 5), ("b", 10, 3), ("c", 5, 1), ("b", 99999, 1)]
    r = ood_false_starts(streams, overlapping, starts)
    # OOD time: 20 min minus 60.1 s of the instance (601 rows of 0.1 s)
    assert r["ood_hours"] == pytest.approx((12000 - 601) * 0.1 / 3600)
    assert r["ood_false_starts"] == 3 and r["starts_in_domain"] == 1  # row 700 = 70 s is inside
    assert r["per_class"] == {3: 2, 5: 1}
    assert r["ood_false_starts_per_hour"] == pytest.approx(3 / r["ood_hours"])


def test_ood_false_starts_irregular_rows_and_gaps():
    t = np.array([0.0, 0.5, 1.0, 11.0, 11.5])  # a 10 s recording gap counts as 1 s
    r = ood_false_starts({"s": t}, {}, [("s", 3, 1)])
    assert r["ood_hours"] == pytest.approx((0.5 + 0.5 + 1.0 + 0.5 + 0.5) / 3600)
    assert r["ood_false_starts"] == 1
    assert np.isnan(ood_false_starts({}, {}, [])["ood_false_starts_per_hour"])
