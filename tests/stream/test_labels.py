import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skelact.stream.labels import (
    Interval,
    Labels,
    Point,
    frames_to_intervals,
    frames_to_seconds,
    intervals_to_frame_matrix,
    intervals_to_frames,
    intervals_to_points,
    intervals_to_video,
    seconds_to_frames,
)


@st.composite
def disjoint_intervals(draw):
    length = draw(st.integers(1, 300))
    cuts = sorted(draw(st.sets(st.integers(0, length - 1), max_size=20)))
    out = []
    for a, b in zip(cuts[::2], cuts[1::2]):
        cls = draw(st.integers(1, 5))
        out.append(Interval(a, b, cls))
    # merge-free: runs of the same class must not touch
    fixed = []
    for iv in out:
        if fixed and fixed[-1].class_id == iv.class_id and fixed[-1].end + 1 >= iv.start:
            continue
        fixed.append(iv)
    return length, fixed


@settings(max_examples=200, deadline=None)
@given(disjoint_intervals())
def test_intervals_frames_intervals_is_identity(case):
    length, ivs = case
    frames = intervals_to_frames(ivs, length)
    assert frames_to_intervals(frames) == ivs


def test_frames_to_intervals_runs():
    lab = np.array([0, 1, 1, 0, 2, 2, 2, 1])
    assert frames_to_intervals(lab) == [Interval(1, 2, 1), Interval(4, 6, 2), Interval(7, 7, 1)]


def test_video_points_and_matrix():
    ivs = [Interval(0, 9, 3), Interval(5, 7, 1), Interval(20, 29, 3)]
    assert intervals_to_video(ivs) == (1, 3)
    assert intervals_to_points(ivs) == [Point(4, 3), Point(6, 1), Point(24, 3)]
    m = intervals_to_frame_matrix(ivs, 30, [1, 3])
    assert m[6].tolist() == [True, True] and m[15].tolist() == [False, False]
    pts = intervals_to_points(ivs, "random", np.random.default_rng(1))
    assert all(iv.start <= p.frame <= iv.end for iv, p in zip(sorted(ivs), pts))


def test_seconds_frames_roundtrip():
    assert seconds_to_frames(1.0, 30) == 30
    assert frames_to_seconds(45, 30) == 1.5
    np.testing.assert_array_equal(seconds_to_frames(frames_to_seconds(np.arange(100), 7.5), 7.5), np.arange(100))


def test_labels_kinds_and_derivations():
    fl = np.array([0, 0, 2, 2, 0, 1])
    lab = Labels.from_frames(fl)
    assert lab.kind == "frame" and lab.video == (1, 2)
    assert lab.to_points() == (Point(2, 2), Point(5, 1))
    iv = Labels.from_intervals([Interval(2, 3, 2)])
    np.testing.assert_array_equal(iv.frames(5), [0, 0, 2, 2, 0])
    pt = Labels.from_points([Point(3, 4)])
    assert pt.has("video") and not pt.has("interval")
    with pytest.raises(ValueError, match="no frame labels"):
        pt.frames(5)
    with pytest.raises(ValueError):
        Interval(5, 2, 1)


def test_restrict_turns_other_classes_into_background():
    frame = np.array([0, 1, 1, 0, 2, 2, 3, 0])
    lab = Labels.from_frames(frame).restrict([2, 3])
    assert lab.kind == "frame" and lab.frame.tolist() == [0, 0, 0, 0, 2, 2, 3, 0]
    assert lab.video == (2, 3) and [iv.class_id for iv in lab.intervals] == [2, 3]
    ivs = Labels.from_intervals([Interval(0, 4, 1), Interval(6, 9, 2)]).restrict([2])
    assert ivs.kind == "interval" and ivs.intervals == (Interval(6, 9, 2),) and ivs.video == (2,)
    pts = Labels.from_points([Point(3, 1), Point(8, 5)]).restrict([5])
    assert pts.points == (Point(8, 5),) and pts.video == (5,)
    assert Labels.from_video([1, 4]).restrict([4, 7]).video == (4,)
    assert Labels("none").restrict([1]).kind == "none"
