"""`skelact publish` over a real PULL socket: video (MediaPipe), replay, --record, --preview-out."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skelact.stream import protocol as P
from skelact.stream.formats import load_dataset
from skelact.tools import publish


def _poses(messages):
    assert messages and isinstance(messages[-1], P.EndOfStream), "the stream must end with an eos"
    poses = messages[:-1]
    assert all(isinstance(m, P.PoseFrame) for m in poses)
    return poses


def test_publish_video_frames_decode_in_order_with_capture_times(clip, sink, tmp_path):
    pytest.importorskip("mediapipe")
    sink.start()
    stats_path = tmp_path / "stats.json"
    rc = publish.main(["--video", str(clip), "--fast", "--to", sink.endpoint, "--stream", "cam0",
                       "--progress", "0", "--json", str(stats_path), "--record", str(tmp_path / "rec.npz")])  # fmt: skip
    assert rc == 0
    poses = _poses(sink.join())
    assert len(poses) == 20  # --fast: every frame, none dropped
    assert [m.seq for m in poses] == list(range(20))
    for m in poses:
        assert m.stream == "cam0" and m.layout == "mediapipe33" and m.units == "m"
        assert m.t == pytest.approx(m.seq / 10.0)  # t = frame_index / fps
        assert m.joints.shape in ((0, 33, 4), (1, 33, 4))
        assert m.tracks == ((0,) if m.num_persons else ())
    detected = [m for m in poses if m.num_persons]
    assert len(detected) >= 12
    stats = json.loads(stats_path.read_text())
    assert stats["frames_published"] == 20 and stats["frames_dropped"] == 0 and stats["frames_unsent"] == 0
    assert stats["frames_detected"] == len(detected)
    assert stats["estimator_ms_p50"] > 0 and stats["publish_fps"] > 0

    # --record FILE.npz wrote the folder FILE/ in the shared format, and it round-trips
    assert stats["record_folder"] == str(tmp_path / "rec")
    ds = load_dataset(tmp_path / "rec")
    seq = ds["cam0"]
    assert seq.layout == "mediapipe33" and seq.joints.shape == (20, 1, 33, 3) and seq.fps == 10.0
    np.testing.assert_allclose(seq.t, np.arange(20) / 10.0, atol=1e-3)
    for m in poses:
        if m.num_persons:
            np.testing.assert_allclose(seq.joints[m.seq, 0], m.joints[0, :, :3], atol=1e-6)
        else:
            assert np.isnan(seq.joints[m.seq]).all()
    conf = np.load(tmp_path / "rec" / "confidence.npz")["cam0"]
    assert conf.shape == (20, 1, 33)


def test_publish_video_paced_like_a_camera_with_fusion_and_preview(clip, sink, tmp_path):
    pytest.importorskip("mediapipe")
    sink.start()
    out = tmp_path / "preview.mp4"
    stats_path = tmp_path / "stats.json"
    rc = publish.main(["--video", str(clip), "--fps", "20", "--fuse", "mirror", "--to", sink.endpoint,
                       "--progress", "0", "--preview-out", str(out), "--json", str(stats_path)])  # fmt: skip
    assert rc == 0
    poses = _poses(sink.join())
    stats = json.loads(stats_path.read_text())
    assert stats["frames_captured"] == 20
    assert len(poses) + stats["frames_dropped"] == 20  # every frame is published or counted as dropped
    seqs = [m.seq for m in poses]
    assert seqs == sorted(set(seqs))
    assert all(m.t == pytest.approx(m.seq / 10.0) for m in poses)
    assert stats["fusion_views"] == "orig,mirror" and stats["preview_frames"] == len(poses)
    import cv2

    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == len(poses)


def test_model_complexity_not_installed_is_a_clear_error(clip, capsys):
    from skelact.stream.sources.mediapipe_source import ModelUnavailableError, check_model_available

    try:
        check_model_available(0)
    except ModelUnavailableError:
        pass
    else:
        pytest.skip("pose_landmark_lite.tflite is installed here")
    assert publish.main(["--video", str(clip), "--model-complexity", "0", "--to", "tcp://127.0.0.1:1"]) == 2
    assert "--model-complexity 1" in capsys.readouterr().err


def test_replay_record_round_trip(sink, tmp_path):
    from skelact.stream.formats.npz import save_npz_dataset
    from skelact.stream.sequence import Dataset, Sequence

    rng = np.random.default_rng(0)
    joints = rng.normal(size=(12, 2, 20, 3)).astype(np.float32)
    joints[3, 1] = np.nan  # person 1 absent in one frame
    t = np.arange(12) / 15.0
    src = Dataset("src", {"s1": Sequence("s1", joints, "kinect20", 15.0, t)}, {}, None)
    save_npz_dataset(src, tmp_path / "src")
    sink.start()
    rc = publish.main(["--replay", str(tmp_path / "src"), "--fast", "--to", sink.endpoint, "--progress", "0",
                       "--record", str(tmp_path / "again")])  # fmt: skip
    assert rc == 0
    poses = _poses(sink.join())
    assert [m.seq for m in poses] == list(range(12))
    rec = load_dataset(tmp_path / "again")["s1"]
    np.testing.assert_array_equal(rec.joints, joints)
    np.testing.assert_allclose(rec.t, t, atol=1e-3)
    assert rec.layout == "kinect_v1_20"


def test_bad_combinations_are_refused(capsys):
    assert publish.main(["--replay", "x", "--fuse", "mirror"]) == 2
    assert publish.main(["--replay", "x", "--preview-from", "tcp://127.0.0.1:5556"]) == 2
    assert "needs" in capsys.readouterr().err


def test_preview_shows_what_a_live_runtime_says(clip, step_model, tmp_path):
    """publish --video --preview-out --preview-from against a real runtime (tiny ONNX model)."""
    pytest.importorskip("mediapipe")
    from skelact.stream.detector import DetectorConfig
    from skelact.stream.engine import Engine
    from skelact.stream.runtime import Runtime, RuntimeConfig

    cfg = RuntimeConfig(in_endpoint="tcp://127.0.0.1:*", out_endpoint="tcp://127.0.0.1:*",
                        detector=DetectorConfig(scores=True), status_interval_s=0.2,
                        max_age_ms=0.0)  # fmt: skip  (every frame must be scored)
    rt = Runtime(Engine(step_model), cfg).start()
    try:
        stats_path = tmp_path / "stats.json"
        rc = publish.main(["--video", str(clip), "--fast", "--to", rt.in_endpoint, "--stream", "cam0",
                           "--preview-out", str(tmp_path / "p.mp4"), "--preview-from", rt.out_endpoint,
                           "--progress", "0", "--json", str(stats_path)])  # fmt: skip
        assert rc == 0
    finally:
        rt.stop()
    stats = json.loads(stats_path.read_text())
    assert stats["frames_published"] == 20 and stats["preview_frames"] == 20
    assert stats["preview_feed_messages"] > 0  # scores/cam0 (and status) reached the preview
    assert stats["preview_classes"] == "raise_right_arm,raise_left_arm"
