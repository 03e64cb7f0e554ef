"""`skelact demo --video`: serve + publish a video (MediaPipe for real, paced like a camera) + live events."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mediapipe")
cv2 = pytest.importorskip("cv2")

SKELACT = [sys.executable, "-m", "skelact.tools.cli"]
CLIP = Path(__file__).resolve().parents[1] / "data" / "rar_exercise_20f.mp4"


def test_demo_video_prints_live_events_and_writes_the_preview(tmp_path):
    preview = tmp_path / "demo.mp4"
    # the default model rightly stays silent on calisthenics: an arm-raise detector is not
    sys.path.insert(0, str(Path(__file__).parents[1] / "stream"))
    from onnx_fixtures import hand_raiser

    model = hand_raiser(tmp_path / "hr.onnx", "step")
    r = subprocess.run([*SKELACT, "demo", "--video", str(CLIP), "--preview-out", str(preview), "--model", str(model),
                        "--on", "0.3", "--off", "0.1", "--min-frames", "1"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"--- video {CLIP} through MediaPipe" in r.stdout
    starts = re.findall(r"rar_exercise_20f/0\s+START (\w+)", r.stdout)
    ends = re.findall(r"rar_exercise_20f/0\s+END\s+(\w+)", r.stdout)
    assert starts and sorted(starts) == sorted(ends)  # every action that starts also ends (eos)
    assert "ground truth" not in r.stdout  # a video has none
    assert re.search(r"\d+ frames in, 0 rejected", r.stdout)
    cap = cv2.VideoCapture(str(preview))
    try:
        assert 0 < int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) <= 20
    finally:
        cap.release()


def test_demo_video_flags_are_checked_first(tmp_path):
    for args, expect in ((["--video", str(tmp_path / "none.mp4")], "no such video file"),
                         (["--video", str(CLIP), "--webcam", "0"], "not allowed with argument"),
                         (["--max-frames", "5"], "need --video or --webcam"),
                         (["--video", str(CLIP), "--preview-out", "x.gif"], ".mp4 or .avi")):  # fmt: skip
        r = subprocess.run([*SKELACT, "demo", *args], capture_output=True, text=True, timeout=60)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and expect in lines[0], (args, r.stderr)
