"""Drop-oldest frame grabber (the sender is tested in test_sender.py)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from skelact.stream.sources.capture import (
    CaptureError,
    FrameGrabber,
    LatestSlot,
    open_camera,
    open_video,
)


def _counter_reader(n: int, delay_s: float = 0.0):
    state = {"k": 0}

    def read():
        if state["k"] >= n:
            return False, None
        if delay_s:
            time.sleep(delay_s)
        state["k"] += 1
        return True, np.full((2, 2, 3), state["k"] - 1, np.uint8)

    return read


def test_slow_consumer_gets_the_newest_frames_and_drops_are_counted():
    g = FrameGrabber(_counter_reader(200, 0.001), lambda k: k / 100.0, drop=True)
    got = []
    for f in g:
        got.append(f.index)
        assert int(f.image[0, 0, 0]) == f.index % 256 and f.t == pytest.approx(f.index / 100.0)
        time.sleep(0.01)  # the "estimator" is 10x slower than the camera
    assert got == sorted(got) and got[-1] == 199
    assert g.captured == 200
    assert g.dropped == 200 - len(got) > 100


def test_no_drop_mode_delivers_every_frame():
    g = FrameGrabber(_counter_reader(50), lambda k: k / 10.0, drop=False)
    got = []
    for f in g:
        got.append(f.index)
        time.sleep(0.002)
    assert got == list(range(50)) and g.dropped == 0


def test_pacing_holds_the_rate_and_stop_ends_early():
    g = FrameGrabber(_counter_reader(1000), lambda k: k / 50.0, drop=True, pace_fps=50.0)
    start = time.monotonic()
    frames = [g.get(timeout=1.0) for _ in range(10)]
    elapsed = time.monotonic() - start
    g.stop()
    assert all(f is not None for f in frames)
    assert 0.12 < elapsed < 1.0  # 10 frames at 50 fps ~ 0.18 s
    assert g.captured < 1000


def test_slot_is_bounded_and_close_wakes_waiters():
    slot = LatestSlot()
    assert slot.get(timeout=0.01) is None
    for k in range(5):
        slot.put(k)
    assert slot.dropped == 4 and slot.get() == 4
    slot.put(7, drop=False)
    th = threading.Thread(target=lambda: slot.put(8, drop=False))  # waits for room
    th.start()
    time.sleep(0.05)
    assert slot.get() == 7
    th.join(1.0)
    assert slot.get() == 8 and slot.dropped == 4
    slot.close()
    assert slot.get(timeout=0.01) is None and slot.put(9) is False


def test_reader_errors_reach_the_consumer():
    def bad():
        raise OSError("device unplugged")

    g = FrameGrabber(bad, lambda k: 0.0)
    with pytest.raises(CaptureError, match="unplugged"):
        list(g)


def test_open_video_errors(tmp_path):
    with pytest.raises(CaptureError, match="no such video"):
        open_video(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(CaptureError):
        open_video(tmp_path / "junk.mp4")


def test_camera_path_on_a_file_drops_when_the_consumer_is_slow(clip):
    """open_camera accepts any OpenCV source; on a file it reads as fast as it decodes."""
    g, info = open_camera(str(clip))
    assert (info.width, info.height) == (384, 288)
    got = []
    for f in g:
        got.append(f)
        time.sleep(0.05)
    assert g.captured == 20 and len(got) + g.dropped == 20 and g.dropped > 0
    ts = [f.t for f in got]
    assert ts[0] >= 0 and ts == sorted(ts)  # monotonic capture clock
