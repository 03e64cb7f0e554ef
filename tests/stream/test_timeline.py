"""Timeline data: per-source-frame scores from scores bodies, panel choice, preview overlay."""

from __future__ import annotations

import numpy as np

from skelact.stream.preview import TimelineFeed
from skelact.stream.timeline import Timeline, scores_by_row


def _body(seq: int, scores, track: int = 0) -> dict:
    return {"v": 1, "type": "scores", "stream": "s", "track": track, "seq": seq, "t": seq / 30, "scores": scores}


def test_a_slower_model_fills_the_source_frames_it_stands_for():
    row_t = np.arange(13) / 30.0  # 30-fps rows, a 10-fps model scored rows 0, 2, 5, 8
    bodies = [_body(0, [0.1, 0.0]), _body(2, [0.2, 0.0]), _body(5, [0.5, 0.0]), _body(8, [0.8, 0.0])]
    bodies.append({"v": 1, "type": "start", "seq": 5})  # other bodies are skipped
    s = scores_by_row(bodies, row_t, 10.0, 2)
    assert s.dtype == np.float32 and s.shape == (13, 2)
    np.testing.assert_allclose(s[:11, 0], [0.1, 0.1, 0.2, 0.2, 0.5, 0.5, 0.5, 0.8, 0.8, 0.8, 0.8], atol=1e-7)
    assert s[12, 0] == 0.0  # 4/30 s after the last model frame (> 1/10 s): nobody scored it


def test_tracks_take_the_maximum_and_absent_stretches_stay_zero():
    row_t = np.arange(100) / 30.0
    a = [_body(i, [0.2, 0.9]) for i in range(0, 10)] + [_body(i, [0.2, 0.9]) for i in range(60, 70)]
    b = [_body(i, [0.7, 0.1], track=1) for i in range(5, 15)]
    s = scores_by_row(a + b, row_t, 30.0, 2)
    np.testing.assert_allclose(s[7], [0.7, 0.9])
    assert (s[16:59] == 0).all()  # nobody scored there: 0, not the last value held
    np.testing.assert_allclose(s[65], [0.2, 0.9])


def test_panels_are_classes_with_detections_or_truth_then_by_peak():
    sc = np.zeros((50, 4), np.float32)
    sc[10:20, 1] = 0.6
    sc[30:40, 3] = 0.35
    sc[:, 2] = 0.2  # below off: not shown
    tl = Timeline("s", classes=[(1, "a"), (2, "b"), (3, "c"), (4, "d")], scores=sc,
                  segments=[(1, 5, 9, 0.8)], gt=[(2, 10, 20)], on=0.5, off={1: 0.3, 2: 0.3, 3: 0.3, 4: 0.3})  # fmt: skip
    assert tl.shown_classes() == [1, 2, 4]  # marked (1 by a detection, 2 by truth), then class 4 >= off
    assert tl.shown_classes(max_classes=2) == [1, 2]
    assert tl.shown_classes(only=[3]) == [3]
    assert Timeline.threshold(tl.off, 4) == 0.3 and Timeline.threshold(tl.on, 4) == 0.5
    assert tl.frames() == 50 and tl.name(3) == "c" and tl.name(9) == "9"


def test_timeline_feed_shows_scores_and_inclusive_detections_frame_by_frame():
    t = np.arange(10) / 10.0
    sc = np.tile(np.array([[0.1, 0.9]], np.float32), (10, 1))
    feed = TimelineFeed(["punch", "kick"], sc, [(1, 2, 4)], t)
    ov = feed.at(1)
    assert ov.scores == [np.float32(0.1), np.float32(0.9)] and not ov.active
    assert feed.at(2).active and feed.at(4).active  # start and end frames are inside
    ov = feed.at(5)
    assert not ov.active
    assert list(ov.events) == ["start kick  t=0.2s", "end kick  0.2s"]
    assert ov.top(1) == [("kick", 0.8999999761581421)]
