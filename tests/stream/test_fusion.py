"""SST-A fusion (seed 001, section 3.1): rules, confidence, and error vs single estimators."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from skelact.stream.fusion import (
    SSTA,
    fuse_files,
    fuse_sequences,
    head_neck_joints,
    ssta_aggregate,
)
from skelact.stream.sequence import Sequence

HEAD, NECK = head_neck_joints("kinect20")  # (3,), (2,)
SHARED_VIDEO = (Path(__file__).resolve().parents[2] / ".." / "shared" / "video").resolve()


def _truth(T: int = 300, J: int = 20, seed: int = 0) -> np.ndarray:
    """A smooth metric trajectory (T, J, 3) with a 0.25 m head-neck distance."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(-0.5, 0.5, size=(J, 3))
    base[NECK[0]] = 0.0
    base[HEAD[0]] = (0.0, 0.25, 0.0)
    t = np.arange(T)[:, None, None] / 30.0
    phase = rng.uniform(0, 2 * np.pi, size=(1, J, 3))
    return base[None] + 0.1 * np.sin(2 * np.pi * 0.5 * t + phase)


def _estimators(truth: np.ndarray, seed: int = 1, E: int = 3, sigma: float = 0.01, p_out: float = 0.1,
                p_miss: float = 0.05) -> np.ndarray:  # fmt: skip
    """E noisy estimators: Gaussian noise, per-joint gross outliers, missing joints."""
    rng = np.random.default_rng(seed)
    est = truth[None] + rng.normal(0, sigma, size=(E, *truth.shape))
    out = rng.random((E, *truth.shape[:2])) < p_out
    est[out] += rng.normal(0, 0.3, size=(int(out.sum()), 3))
    est[rng.random((E, *truth.shape[:2])) < p_miss] = np.nan
    return est


def _err(x: np.ndarray, truth: np.ndarray) -> float:
    d = np.linalg.norm(x - truth, axis=-1)
    return float(np.nanmean(d))


def test_fused_error_is_lower_than_every_single_estimator():
    truth = _truth()
    est = _estimators(truth)
    res = ssta_aggregate(est, HEAD, NECK, gamma=0.0)
    fused_err = _err(res.aggregate, truth)
    singles = [_err(e, truth) for e in est]
    assert fused_err < 0.5 * min(singles), (fused_err, singles)
    # SST-A fills joints a single estimator misses (paper: "absence of keypoints")
    assert np.isnan(res.aggregate).any(-1).mean() < 0.5 * min(np.isnan(e).any(-1).mean() for e in est)


def test_confidence_drops_frames_where_estimators_disagree():
    truth = _truth(T=100)
    est = _estimators(truth, p_out=0.0, p_miss=0.0)
    limbs = [j for j in range(20) if j not in HEAD + NECK]
    # frame 50: the estimators agree on head and neck but not on the limbs
    est[:, 50, limbs] += np.random.default_rng(3).normal(0, 1.0, size=(3, len(limbs), 3))
    res = ssta_aggregate(est, HEAD, NECK)
    assert res.confidence[50] < 0.18 and not res.kept[50] and np.isnan(res.fused[50]).all()
    good = np.delete(np.arange(100), 50)
    assert res.kept[good].all() and (res.confidence[good] > 0.5).all()
    np.testing.assert_array_equal(res.fused[good], res.aggregate[good])


def test_first_frame_takes_the_closest_pair_then_follows_the_previous_aggregate():
    J = 20
    s = SSTA(HEAD, NECK, gamma=0.0)
    f0 = np.zeros((3, J, 3))
    f0[1] += 0.01  # estimators 1 and 2 agree, 0 is far away
    f0[2] += 0.012
    f0[0] += 1.0
    fused, _ = s.push(f0)
    assert (s.last_choice == 1).all()  # first of the closest pair
    np.testing.assert_allclose(fused, f0[1])
    f1 = np.zeros((3, J, 3))
    f1[0] += 0.011  # now estimator 0 is the closest to the previous aggregate
    f1[1] += 0.5
    f1[2] += 0.3
    s.push(f1)
    assert (s.last_choice == 0).all()


def test_confidence_matches_equation_4():
    J = 20
    est = np.zeros((2, J, 3))
    est[0, HEAD[0]] = (0, 0.2, 0)
    est[1] = est[0]
    est[1, :, 0] += 0.05  # estimator 1 is 5 cm off everywhere
    s = SSTA(HEAD, NECK, gamma=0.18)
    fused, conf = s.push(est)
    # aggregate = estimator 0 (first of the pair); mean distance over N*M = (0 + 0.05) / 2
    assert conf == pytest.approx(math.exp(-(0.025) / 0.2))
    np.testing.assert_allclose(fused, est[0])


def test_missing_joints_and_missing_persons():
    J = 20
    s = SSTA(HEAD, NECK, gamma=0.0)
    est = np.zeros((2, J, 3))
    est[0, 5] = np.nan
    est[1, 6] = np.nan
    est[:, 7] = np.nan
    est[:, HEAD[0], 1] = 0.25
    fused, conf = s.push(est)
    assert np.isfinite(fused[5]).all() and np.isfinite(fused[6]).all() and np.isnan(fused[7]).all()
    assert s.last_choice[5] == 1 and s.last_choice[6] == 0 and s.last_choice[7] == -1
    assert conf == pytest.approx(1.0)
    fused, conf = s.push(np.full((2, J, 3), np.nan))  # nobody seen
    assert fused is None and conf == 0.0
    est[0, HEAD[0]] = np.nan  # head missing: confidence cannot be computed
    est[1, HEAD[0]] = np.nan
    fused, conf = s.push(est)
    assert conf == 0.0 and np.isnan(fused[HEAD[0]]).all()
    assert SSTA(HEAD, NECK).push(est) == (None, 0.0)  # with gamma > 0 the frame is discarded


def test_offline_equals_live_and_is_causal():
    truth = _truth(T=60)
    est = _estimators(truth)
    res = ssta_aggregate(est, HEAD, NECK)
    live = SSTA(HEAD, NECK)
    for t in range(60):
        fused, conf = live.push(est[:, t])
        assert conf == pytest.approx(res.confidence[t])
        if fused is None:
            assert np.isnan(res.fused[t]).all()
        else:
            np.testing.assert_array_equal(fused, res.fused[t])
    short = ssta_aggregate(est[:, :30], HEAD, NECK)
    np.testing.assert_array_equal(short.aggregate, res.aggregate[:30])


def test_fuse_sequences_and_files(tmp_path):
    from skelact.stream.formats.npz import save_npz_dataset
    from skelact.stream.sequence import Dataset

    truth = _truth(T=40)
    est = _estimators(truth).astype(np.float32)
    t = np.arange(40) / 30.0
    seqs = [Sequence(f"e{k}", est[k][:, None], "kinect20", 30.0, t) for k in range(3)]
    fused = fuse_sequences(seqs, seq_id="fused")
    assert fused.joints.shape == (40, 1, 20, 3) and fused.meta["ssta_confidence"].shape == (40, 1)
    assert _err(fused.joints[:, 0], truth) < min(_err(e, truth) for e in est)
    paths = []
    for s in seqs:
        save_npz_dataset(Dataset(s.id, {s.id: s}, {}, None), tmp_path / s.id)
        paths.append(tmp_path / s.id)
    from_files = fuse_files(paths)
    np.testing.assert_allclose(from_files.joints, fused.joints, atol=1e-6, equal_nan=True)
    with pytest.raises(ValueError, match="frame counts"):
        fuse_sequences([seqs[0], Sequence("x", est[0][:20, None], "kinect20", 30.0, t[:20])])


def test_head_neck_for_every_layout():
    for name in ("kinect20", "ntu25", "mediapipe33", "coco17", "canonical20"):
        head, neck = head_neck_joints(name)
        assert head and neck and set(head).isdisjoint(neck)


@pytest.mark.slow
def test_mirror_fusion_on_the_shared_videos():
    """Real videos, no ground truth: fused jitter is not worse than the plain estimate."""
    if not (SHARED_VIDEO / "rar_exercise.avi").is_file():
        pytest.skip(f"needs the shared test videos at {SHARED_VIDEO} (not present in this checkout)")
    pytest.importorskip("mediapipe")
    from skelact.stream.sources.capture import open_video
    from skelact.stream.sources.mediapipe_source import PoseEstimator

    grabber, _ = open_video(SHARED_VIDEO / "rar_exercise.avi", max_frames=150)
    plain, fused = [], []
    with PoseEstimator(views=("orig", "mirror")) as est:
        for f in grabber:
            lp = est.process(f.image)
            plain.append(lp.views[0][:, :3] if lp.views[0] is not None else np.full((33, 3), np.nan))
            fused.append(lp.joints[0, :, :3] if lp.detected else np.full((33, 3), np.nan))
    plain, fused = np.stack(plain), np.stack(fused)

    def jitter(x):
        acc = x[2:] - 2 * x[1:-1] + x[:-2]
        return float(np.nanmean(np.linalg.norm(acc, axis=-1)))

    assert np.isfinite(fused).all(-1).any(-1).sum() >= np.isfinite(plain).all(-1).any(-1).sum()
    assert jitter(fused) <= 1.05 * jitter(plain)
