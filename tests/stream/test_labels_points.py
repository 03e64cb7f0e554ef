"""Point labels sampled from intervals (``intervals_to_points``, ``Labels.to_points``): one frame
per instance, inside it, fixed by the seed."""

from __future__ import annotations

import numpy as np
import pytest

from skelact.stream.labels import Interval, Labels, Point, intervals_to_points, point_rng

IVS = [Interval(0, 9, 3), Interval(5, 7, 1), Interval(20, 29, 3), Interval(40, 40, 2), Interval(50, 149, 1)]


def test_center_is_exact():
    # (start + end) // 2: odd lengths their middle frame, even lengths the lower middle one.
    assert intervals_to_points(IVS, "center") == sorted(
        [Point(4, 3), Point(6, 1), Point(24, 3), Point(40, 2), Point(99, 1)])
    assert Labels.from_intervals([Interval(10, 12, 5)]).to_points("center") == (Point(11, 5),)


@pytest.mark.parametrize("where", ["uniform", "gaussian", "random"])
def test_sampling_is_deterministic_and_inside_each_instance(where):
    for seed in range(20):
        a = intervals_to_points(IVS, where, seed)
        assert a == intervals_to_points(IVS, where, np.random.default_rng(seed))  # int seed = generator
        assert a == intervals_to_points(IVS, where, seed)  # same seed, same points
        by_class = sorted(a, key=lambda p: p.class_id)
        assert len(a) == len(IVS)
        for iv in IVS:  # every instance has a point inside it
            inside = [p for p in by_class if p.class_id == iv.class_id and iv.start <= p.frame <= iv.end]
            assert inside, (where, seed, iv, a)
    draws = {tuple(intervals_to_points(IVS, where, s)) for s in range(20)}
    assert len(draws) > 1  # a seed matters


def test_gaussian_centres_on_the_middle_and_uniform_spreads():
    iv = [Interval(0, 599, 1)] * 2000  # length 600: sigma 100 frames
    g = np.array([p.frame for p in intervals_to_points(iv, "gaussian", 7)])
    u = np.array([p.frame for p in intervals_to_points(iv, "uniform", 7)])
    assert abs(g.mean() - 299.5) < 10 and 85 < g.std() < 115  # N(299.5, 100), clipping nearly never bites
    assert g.min() >= 0 and g.max() <= 599 and u.min() >= 0 and u.max() <= 599
    assert 150 < u.std() < 195  # uniform over 600 frames: 600 / sqrt(12) = 173


def test_labels_to_points_and_per_sequence_rng():
    lab = Labels.from_intervals(IVS)
    a = lab.to_points("gaussian", point_rng(3, "seqA"))
    assert a == lab.to_points("gaussian", point_rng(3, "seqA"))
    assert isinstance(a, tuple) and len(a) == len(IVS)
    # the id enters the seed: another sequence, or another seed, draws independently
    assert len({lab.to_points("uniform", point_rng(s, i)) for s in (0, 1) for i in ("x", "y", "z")}) > 1
    pts = Labels.from_points([Point(3, 1)])
    assert pts.to_points("gaussian", 0) == (Point(3, 1),)  # given points are kept as they are
    with pytest.raises(ValueError, match="where must be"):
        lab.to_points("start")
    with pytest.raises(ValueError, match="no points"):
        Labels.from_video([1]).to_points()
