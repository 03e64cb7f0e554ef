"""Preview: headless video output read back with cv2, the PUB feed, the no-display error."""

from __future__ import annotations

import time

import numpy as np
import pytest
import zmq

cv2 = pytest.importorskip("cv2")

from skelact.stream import protocol as P  # noqa: E402
from skelact.stream.layouts import get_layout  # noqa: E402
from skelact.stream.preview import (  # noqa: E402
    BONE_COLOR,
    Overlay,
    Preview,
    PreviewError,
    PubFeed,
    render_frame,
)

LAY = get_layout("mediapipe33")


def _landmarks() -> np.ndarray:
    """A stick figure in normalised image coordinates (1, 33, 4)."""
    pts = np.full((33, 4), np.nan, np.float32)
    put = {"left_shoulder": (0.6, 0.3), "right_shoulder": (0.4, 0.3), "left_hip": (0.58, 0.6),
           "right_hip": (0.42, 0.6), "left_knee": (0.58, 0.8), "right_knee": (0.42, 0.8)}  # fmt: skip
    for name, (x, y) in put.items():
        pts[LAY.index(name)] = (x, y, 0.0, 1.0)
    return pts[None]


def test_headless_preview_writes_frames_with_the_skeleton(tmp_path):
    out = tmp_path / "preview.mp4"
    H, W = 240, 320
    lms = _landmarks()
    with Preview(out_path=out, fps=10) as pv:
        for k in range(6):
            img = np.full((H, W, 3), 40, np.uint8)
            ov = Overlay(names=["wave", "clap"], scores=[0.8, 0.1])
            assert pv.show(render_frame(img, "mediapipe33", landmarks=lms, overlay=ov, info=f"frame {k}"))
    assert pv.frames == 6
    cap = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    assert len(frames) == 6 and frames[0].shape == (H, W, 3)
    # the left thigh (left_hip -> left_knee) is drawn in the bone colour
    x, y = int(0.58 * W), int(0.7 * H)
    px = frames[3][y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).astype(int)
    want = np.array(BONE_COLOR)
    assert (np.abs(px - want).max(1) < 80).any(), px
    # an empty part of the image is untouched background
    bg = frames[3][H - 20, W - 20].astype(int)
    assert np.abs(bg - 40).max() < 25


def test_render_without_image_draws_metric_joints_on_a_canvas():
    joints = np.zeros((1, 20, 3), np.float32)
    joints[0, :, 1] = np.linspace(-0.8, 0.8, 20)  # a vertical line of joints, kinect y up
    img = render_frame(None, "kinect20", joints=joints)
    assert img.shape == (480, 480, 3)
    green = (img[..., 1] > 200) & (img[..., 0] < 80) & (img[..., 2] < 80)
    assert green.sum() > 100


def test_pub_feed_collects_scores_status_and_events():
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    feed = PubFeed(f"tcp://127.0.0.1:{port}", "cam0")
    try:
        status = {"v": 1, "type": "status", "model": {"classes": [{"id": 3, "name": "wave"}, {"id": 7, "name": "clap"}]}}
        scores = {"v": 1, "type": "scores", "stream": "cam0", "track": 0, "seq": 1, "t": 0.1, "scores": [0.2, 0.9]}
        start = {"v": 1, "type": "start", "stream": "cam0", "track": 0, "event_id": "e1", "action": "clap", "t": 1.0}
        other = dict(scores, stream="cam01", scores=[1.0, 0.0])  # prefix-matches the subscription
        deadline = time.monotonic() + 5
        while feed.overlay.top(1) != [("clap", 0.9)] or not feed.overlay.active:
            assert time.monotonic() < deadline, "nothing arrived"
            for topic, body in (("status", status), ("scores/cam0", scores), ("event/cam0", start),
                                ("scores/cam01", other)):  # fmt: skip
                pub.send_multipart(P.encode_pub(topic, body))
            time.sleep(0.05)
            feed.poll()
        assert feed.overlay.names == ["wave", "clap"]
        assert "clap" in next(iter(feed.overlay.active.values()))
        end = dict(start, type="end", duration=2.0, reason="score")
        pub.send_multipart(P.encode_pub("event/cam0", end))
        deadline = time.monotonic() + 5
        while feed.overlay.active:
            assert time.monotonic() < deadline
            time.sleep(0.02)
            feed.poll()
        assert feed.overlay.events[-1].startswith("end clap")
    finally:
        feed.close()
        pub.close(0)


def test_window_without_display_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    with pytest.raises(PreviewError, match="--preview-out"):
        Preview(window=True)
