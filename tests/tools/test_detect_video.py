"""`skelact detect VIDEO`: MediaPipe Pose (for real) into the runtime's detection core, through the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mediapipe")
cv2 = pytest.importorskip("cv2")

from cli_helpers import one_line, png_size, run  # noqa: E402

from skelact.stream import protocol as P  # noqa: E402
from skelact.stream.formats.npz import save_npz_dataset  # noqa: E402
from skelact.stream.synthetic import make_dataset  # noqa: E402

CLIP = Path(__file__).resolve().parents[1] / "data" / "rar_exercise_20f.mp4"
SHARED_VIDEO = Path(__file__).resolve().parents[2] / ".." / "shared" / "video"
WALL_CLOCK = ("emitted_at", "latency_ms", "event_id")


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("detect_video")
    out = {k: d / n for k, n in (("events", "ev.jsonl"), ("scores", "s.npz"), ("plot", "t.png"),
                                 ("preview", "p.mp4"))}  # fmt: skip
    r = run("detect", str(CLIP), "-o", str(out["events"]), "--scores-out", str(out["scores"]),
            "--plot", str(out["plot"]), "--preview-out", str(out["preview"]))  # fmt: skip
    return r, out


def test_detect_video_writes_events_scores_plot_and_preview(clip_run):
    r, out = clip_run
    assert r.returncode == 0, r.stderr
    assert "20 frames" in r.stdout and "-> " + str(out["events"]) in r.stdout
    assert "MediaPipe:" not in r.stderr  # no progress bar when stderr is not a terminal
    events = [json.loads(line) for line in out["events"].read_text().splitlines()]
    for e in events:
        P.validate_event(e)
        assert e["stream"] == "rar_exercise_20f" and 0 <= e["seq"] < 20
    assert sum(e["type"] == "start" for e in events) == sum(e["type"] == "end" for e in events)
    with np.load(out["scores"]) as z:
        assert z["class_ids"].dtype.kind == "i" and len(z["class_ids"]) == 8
        s = z["rar_exercise_20f"]
        assert s.shape == (20, 8) and s.dtype == np.float32 and ((s >= 0) & (s <= 1)).all()
    w, h = png_size(out["plot"])
    assert w >= 600 and h >= 200
    cap = cv2.VideoCapture(str(out["preview"]))
    try:
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
        ok, img = cap.read()
        assert ok and img.shape[:2] == (288, 384)
    finally:
        cap.release()


def test_detect_video_equals_serve_fed_by_publish_video(clip_run):
    """Offline = online for a video: `publish --video --fast` into a runtime gives the same events."""
    from skelact.stream.assets import default_model_path
    from skelact.stream.detector import DetectorConfig
    from skelact.stream.engine import Engine
    from skelact.stream.runtime import Runtime, RuntimeConfig
    from skelact.tools import publish

    r, out = clip_run
    assert r.returncode == 0, r.stderr
    detected = [json.loads(line) for line in out["events"].read_text().splitlines()]
    cfg = RuntimeConfig(in_endpoint="tcp://127.0.0.1:*", out_endpoint="tcp://127.0.0.1:*",
                        detector=DetectorConfig(), status_interval_s=0.2, max_age_ms=0.0)  # fmt: skip
    rt = Runtime(Engine(default_model_path("step")), cfg).start()
    import zmq

    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(rt.out_endpoint)
    got: list[tuple[str, dict]] = []
    try:
        end = time.monotonic() + 5
        while not any(t == "status" for t, _ in got) and time.monotonic() < end:
            if sub.poll(100):
                got.append(P.decode_pub(sub.recv_multipart()))
        assert publish.main(["--video", str(CLIP), "--fast", "--to", rt.in_endpoint, "--progress", "0"]) == 0
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if sub.poll(100):
                got.append(P.decode_pub(sub.recv_multipart()))
            st = [b for t, b in got if t == "status"]
            if st and st[-1]["frames_in"] >= 21 and st[-1]["streams"] == 0:
                break
    finally:
        rt.stop()
        sub.close(0)
    served = [b for t, b in got if t.startswith("event/")]
    assert len(served) == len(detected)
    strip = lambda e: {k: v for k, v in e.items() if k not in WALL_CLOCK}  # noqa: E731
    assert [strip(e) for e in served] == [strip(e) for e in detected]


@pytest.mark.shared
def test_detect_shared_basketball_video_capped(tmp_path):
    video = (SHARED_VIDEO / "mmaction2_basketball.mp4").resolve()
    if not video.is_file():
        pytest.skip(f"needs the shared test video {video} (not present in this checkout)")
    out, scores = tmp_path / "seg.csv", tmp_path / "s.npz"
    r = run("detect", str(video), "--max-frames", "60", "-o", str(out), "--scores-out", str(scores),
            "--stream", "bball")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "60 frames (426x240, 29.97 fps)" in r.stdout
    assert out.read_text().startswith("sequence,class_id,start_frame,end_frame,score")
    with np.load(scores) as z:
        assert z["bball"].shape == (60, 8) and z["bball"].max() > 0  # a person is found and scored


def test_detect_video_errors_are_one_line(tmp_path):
    out = str(tmp_path / "e.jsonl")
    line = one_line(run("detect", str(tmp_path / "missing.mp4"), "-o", out))
    assert line.startswith("skelact detect:") and "missing.mp4" in line
    (tmp_path / "junk.avi").write_bytes(b"not a video")
    assert "junk.avi" in one_line(run("detect", str(tmp_path / "junk.avi"), "-o", out))
    data = save_npz_dataset(make_dataset(2, 40, seed=1), tmp_path / "data")
    line = one_line(run("detect", str(data), "--max-frames", "5", "--fuse", "mirror", "-o", out))
    assert "--max-frames, --fuse apply to a video input only" in line
    line = one_line(run("detect", str(data), "--preview-out", str(tmp_path / "p.mp4"), "-o", out))
    assert "--preview-out draws one sequence" in line and "syn000" in line
    assert not Path(out).exists()


@pytest.mark.parametrize("flag,value,expect", [
    ("--plot", "t.jpg", ".png or .svg or .pdf"),
    ("--preview-out", "p.gif", ".mp4 or .avi"),
    ("--scores-out", "s.npy", ".npz"),
    ("--progress", "-1", "must be >= 0"),
    ("--max-frames", "0", "must be >= 1"),
    ("--stream", "bad id!", "not a stream id"),
])  # fmt: skip
def test_detect_flags_are_checked_at_parse_time(tmp_path, flag, value, expect):
    line = one_line(run("detect", str(CLIP), "-o", str(tmp_path / "e.jsonl"), flag, value))
    assert line.startswith("skelact detect: error: argument " + flag) and expect in line
