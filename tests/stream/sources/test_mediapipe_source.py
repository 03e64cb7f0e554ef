"""MediaPipe Pose for real (no mocks) on the small committed clip."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytest.importorskip("cv2")

from skelact.stream.layouts import get_layout  # noqa: E402
from skelact.stream.sources.capture import open_video  # noqa: E402
from skelact.stream.sources.mediapipe_source import (  # noqa: E402
    ModelUnavailableError,
    PoseEstimator,
    PoseOptions,
    check_model_available,
    mirror_permutation,
    parse_views,
)

LAY = get_layout("mediapipe33")


def _run(clip, views=("orig",)):
    grabber, info = open_video(clip)
    out = []
    with PoseEstimator(views=views) as est:
        for f in grabber:
            out.append((f, est.process(f.image)))
    return info, out


@pytest.fixture(scope="module")
def single(clip):
    return _run(clip)


def test_importing_the_source_does_not_import_mediapipe():
    code = ("import sys, skelact.stream.sources.mediapipe_source, skelact.stream.preview, "
            "skelact.stream.sources.capture, skelact.stream.fusion; "
            "print('mediapipe' in sys.modules, 'cv2' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_landmarks_detected_with_a_plausible_metric_body(single):
    info, frames = single
    assert (info.width, info.height, info.fps, info.frames) == (384, 288, 10.0, 20)
    assert len(frames) == 20
    detected = [lp for _, lp in frames if lp.detected]
    assert len(detected) >= 12  # MediaPipe misses the first few frames of this clip, then locks on
    assert all(lp.detected for _, lp in frames[-10:])
    for lp in detected:
        j = lp.joints
        assert j.shape == (1, 33, 4) and j.dtype == np.float32 and np.isfinite(j).all()
        assert lp.tracks == [0]
        assert ((j[..., 3] >= 0) & (j[..., 3] <= 1)).all()  # visibility
        w = j[0, :, :3]
        shoulders = np.linalg.norm(w[LAY.index("left_shoulder")] - w[LAY.index("right_shoulder")])
        leg = np.linalg.norm(w[LAY.index("left_hip")] - w[LAY.index("left_ankle")])
        assert 0.2 < shoulders < 0.6, shoulders  # metres
        assert 0.6 < leg < 1.2, leg
        assert 1.2 < np.ptp(w[:, 1]) < 2.5  # standing body, y down
        assert np.abs(w[[LAY.index("left_hip"), LAY.index("right_hip")]].mean(0)).max() < 0.05  # hip-centred
        img = lp.image[0]
        assert img.shape == (33, 4)
        assert (0 <= img[:, 0]).all() and (img[:, 0] <= 1).all() and (0 <= img[:, 1]).all() and (img[:, 1] <= 1).all()


def test_undetected_frames_are_empty_persons(single):
    _, frames = single
    empty = [lp for _, lp in frames if not lp.detected]
    assert empty, "the clip starts with frames MediaPipe does not detect"
    for lp in empty:
        assert lp.joints.shape == (0, 33, 4) and lp.image.shape == (0, 33, 4) and lp.tracks == []


def test_timestamps_are_frame_index_over_fps(single):
    _, frames = single
    assert [f.index for f, _ in frames] == list(range(20))
    assert np.allclose([f.t for f, _ in frames], np.arange(20) / 10.0)
    assert all(lp.ms > 0 for _, lp in frames)


def test_mediapipe_log_lines_are_silenced(clip, capfd):
    grabber, _ = open_video(clip, max_frames=8)
    with PoseEstimator() as est:
        for f in grabber:
            est.process(f.image)
    err = capfd.readouterr().err
    assert "XNNPACK" not in err and "inference_feedback_manager" not in err, err


def test_mirror_fusion_recovers_frames_and_agrees(clip, single):
    _, plain = single
    _, fused = _run(clip, views=parse_views("mirror"))
    n_plain = sum(lp.detected for _, lp in plain)
    n_fused = sum(lp.detected for _, lp in fused)
    assert n_fused >= n_plain
    for (_, a), (_, b) in zip(plain, fused):
        if a.detected and b.detected:
            assert 0.18 <= b.confidence <= 1.0
            assert set(np.unique(b.choice)) <= {0, 1}
            # the fused pose takes each joint from a view that saw it
            views = np.stack([v for v in b.views if v is not None])
            d = np.abs(views[:, :, :3] - b.joints[0, :, :3]).max(-1).min(0)
            assert (d < 1e-6).all()
            # and is close to the plain estimate (same model, same frame)
            assert np.median(np.linalg.norm(a.joints[0, :, :3] - b.joints[0, :, :3], axis=1)) < 0.08


def test_mirror_permutation_swaps_left_and_right():
    perm = mirror_permutation()
    names = LAY.joint_names
    assert perm[names.index("nose")] == names.index("nose")
    assert perm[names.index("left_wrist")] == names.index("right_wrist")
    assert perm[names.index("mouth_right")] == names.index("mouth_left")
    assert (perm[perm] == np.arange(33)).all()


def test_missing_model_complexity_gives_a_clear_error():
    check_model_available(1)  # bundled
    for c in (0, 2):
        try:
            check_model_available(c)
        except ModelUnavailableError as e:
            msg = str(e)
            assert "--model-complexity 1" in msg and "bundles only complexity 1" in msg
        else:  # somebody installed the file by hand: fine
            pass
    with pytest.raises(ValueError):
        PoseOptions(model_complexity=3)
    with pytest.raises(ValueError):
        parse_views("sideways")


def test_same_landmarks_as_the_precomputed_poses(shared_video):
    """The live path gives what the shared .pose.npz holds (same mediapipe, same options)."""
    ref = np.load(shared_video / "rar_exercise.pose.npz")
    grabber, _ = open_video(shared_video / "rar_exercise.avi", max_frames=15)
    with PoseEstimator(PoseOptions()) as est:
        for f in grabber:
            lp = est.process(f.image)
            assert lp.detected == bool(ref["detected"][f.index])
            if lp.detected:
                np.testing.assert_allclose(lp.joints[0, :, :3], ref["world"][f.index], atol=1e-5)
                np.testing.assert_allclose(lp.image[0], ref["landmarks"][f.index], atol=1e-5)
