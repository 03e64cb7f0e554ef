"""Offline proposals (seed 000 / FAC-Net post-processing): thresholds, OIC score, NMS."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from skelact.models.proposals import (
    DEFAULT_THRESHOLDS,
    ProposalConfig,
    nms,
    propose,
    segments_above,
)


def test_import_without_torch():
    code = ("import sys, skelact.models.proposals, skelact.models.metrics\n"
            "sys.exit(1 if 'torch' in sys.modules else 0)\n")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_segments_above():
    x = np.array([0.0, 0.6, 0.7, 0.2, 0.9, 0.5, 0.51])
    assert segments_above(x, 0.5) == [(1, 2), (4, 4), (6, 6)]
    assert segments_above(x, 0.95) == []
    assert segments_above(np.ones(3), 0.5) == [(0, 2)]
    assert segments_above(np.array([]), 0.5) == []


def test_single_block_gives_one_proposal():
    x = np.zeros((40, 2))
    x[10:20, 0] = 0.9
    out = propose(x, np.array([0.8, 0.8]))
    assert out == [(0, 10, 19, pytest.approx(0.9))]  # same run at every threshold: one proposal


def test_class_rejection_at_video_score_0_1():
    x = np.zeros((30, 3))
    x[5:15, :] = 0.9
    out = propose(x, np.array([0.0999, 0.1, np.nan]))
    assert [p[0] for p in out] == [1]


def test_outer_inner_contrast_by_hand():
    x = np.zeros(20)
    x[4], x[5:9], x[9] = 0.2, 0.8, 0.2  # run [5, 8]: L = 4, outer = ceil(0.25 * 4) = 1 frame per side
    cfg = ProposalConfig(thresholds=(0.5,))
    ((c, s, e, sc),) = propose(x[:, None], np.array([1.0]), cfg)
    assert (c, s, e) == (0, 5, 8)
    assert sc == pytest.approx(0.8 - 0.6 * 0.2)
    # outer window of ceil(0.25 * 5) = 2 frames per side, clipped at the sequence start
    y = np.array([0.9] * 5 + [0.3, 0.1] + [0.0] * 5)
    ((_, s, e, sc),) = propose(y[:, None], np.array([1.0]), ProposalConfig(thresholds=(0.5,)))
    assert (s, e) == (0, 4) and sc == pytest.approx(0.9 - 0.6 * 0.2)
    # custom weights
    ((_, _, _, sc),) = propose(x[:, None], np.array([1.0]), ProposalConfig(thresholds=(0.5,), outer_weight=1.0))
    assert sc == pytest.approx(0.6)


def test_min_length():
    x = np.zeros((20, 1))
    x[3:5, 0] = 0.9  # 2 frames
    x[10:13, 0] = 0.9  # 3 frames
    assert [(s, e) for _, s, e, _ in propose(x, np.ones(1))] == [(10, 12)]
    assert len(propose(x, np.ones(1), ProposalConfig(min_length=1))) == 2


def test_nms_keeps_the_better_of_nested_runs():
    x = np.zeros(40)
    x[10:30] = 0.4
    x[15:25] = 0.9  # core [15, 24] inside the plateau [10, 29]: tIoU 0.5
    cfg = ProposalConfig(thresholds=(0.3, 0.5))
    out = propose(x[:, None], np.ones(1), cfg)
    # plateau: inner 0.65, outer 0 -> 0.65; core: inner 0.9, outer 0.4 (3 frames each side) -> 0.66
    assert [(s, e) for _, s, e, _ in out] == [(15, 24)]
    assert out[0][3] == pytest.approx(0.66)
    both = propose(x[:, None], np.ones(1), ProposalConfig(thresholds=(0.3, 0.5), nms_threshold=0.5))
    assert [(s, e) for _, s, e, _ in both] == [(15, 24), (10, 29)]  # IoU 0.5 is not > 0.5


def test_nms_function_and_ios_metric():
    segs = [(0, 9, 0.5), (0, 19, 0.9), (30, 39, 0.7), (5, 9, 0.6)]
    assert nms(segs, 0.4) == [1, 2, 3]  # (0,9) IoU 0.5 with (0,19); (5,9) IoU 0.25
    # intersection over the suppressed segment: (5,9) lies inside (0,19) -> 1.0
    assert nms(segs, 0.4, metric="ios") == [1, 2]
    assert nms([], 0.5) == []
    assert nms([(0, 1, 0.5), (0, 1, 0.5)], 1.0) == [0, 1]  # ties: input order, IoU 1 is not > 1


def test_output_sorted_and_deterministic():
    rng = np.random.default_rng(1)
    x = np.clip(np.cumsum(rng.normal(0, 0.1, (300, 3)), axis=0) % 1.0, 0, 1)
    a = propose(x, np.ones(3))
    assert a == propose(x.copy(), np.ones(3))
    assert a == sorted(a, key=lambda p: (p[0], -p[3], p[1]))
    for _c, s, e, _ in a:
        assert 0 <= s <= e < 300 and e - s + 1 >= 3
    # after NMS no two kept proposals of a class overlap by more than the threshold
    for c in range(3):
        segs = [(s, e) for cc, s, e, _ in a if cc == c]
        for i, (s1, e1) in enumerate(segs):
            for s2, e2 in segs[i + 1 :]:
                inter = max(0, min(e1, e2) - max(s1, s2) + 1)
                assert inter / ((e1 - s1 + 1) + (e2 - s2 + 1) - inter) <= 0.2


def test_nan_and_shapes():
    x = np.zeros((20, 2))
    x[2:8, 1] = 0.9
    x[5, 1] = np.nan  # counts as 0: splits the run
    out = propose(x, np.ones(2), ProposalConfig(thresholds=(0.5,), min_length=1))
    assert [(s, e) for _, s, e, _ in out] == [(2, 4), (6, 7)]
    with pytest.raises(ValueError):
        propose(np.zeros(5), np.ones(1))
    with pytest.raises(ValueError):
        propose(np.zeros((5, 2)), np.ones(3))
    assert propose(np.zeros((0, 2)), np.ones(2)) == []


@pytest.mark.parametrize(
    "kw",
    [dict(thresholds=()), dict(thresholds=(float("nan"),)), dict(min_length=0), dict(outer_ratio=-1.0),
     dict(nms_threshold=1.5), dict(nms_metric="giou"), dict(outer_weight=float("inf"))],  # fmt: skip
)
def test_config_validation(kw):
    with pytest.raises(ValueError):
        ProposalConfig(**kw)


def test_defaults():
    c = ProposalConfig()
    assert c.class_threshold == 0.1 and c.outer_ratio == 0.25 and c.outer_weight == 0.6
    assert c.nms_threshold == 0.2 and c.min_length == 3
    assert DEFAULT_THRESHOLDS[0] == 0.1 and DEFAULT_THRESHOLDS[-1] == 0.9 and len(DEFAULT_THRESHOLDS) == 17
