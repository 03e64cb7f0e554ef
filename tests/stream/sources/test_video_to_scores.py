"""publish --video (real MediaPipe) -> serve --scores (bundled model) -> subscriber."""

from __future__ import annotations

import json
import time

import pytest
import zmq

from skelact.stream import protocol as P
from skelact.stream.assets import default_model_path
from skelact.stream.detector import DetectorConfig
from skelact.stream.engine import Engine
from skelact.stream.runtime import Runtime, RuntimeConfig
from skelact.tools import publish


def test_every_published_frame_gets_scores_and_events_pair(clip, tmp_path):
    pytest.importorskip("mediapipe")
    cfg = RuntimeConfig(in_endpoint="tcp://127.0.0.1:*", out_endpoint="tcp://127.0.0.1:*",
                        detector=DetectorConfig(scores=True), status_interval_s=0.2,
                        max_age_ms=0.0)  # fmt: skip  (every frame must be scored)
    rt = Runtime(Engine(default_model_path("step")), cfg).start()
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
        stats = tmp_path / "stats.json"
        rc = publish.main(["--video", str(clip), "--fast", "--to", rt.in_endpoint, "--stream", "cam0",
                           "--progress", "0", "--json", str(stats), "--record", str(tmp_path / "rec.npz")])  # fmt: skip
        assert rc == 0
        s = json.loads(stats.read_text())
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if sub.poll(100):
                got.append(P.decode_pub(sub.recv_multipart()))
            st = [b for t, b in got if t == "status"]
            if st and st[-1]["frames_in"] >= s["frames_published"] + 1 and st[-1]["streams"] == 0:
                break
    finally:
        rt.stop()
        sub.close(0)
    from skelact.stream.formats import load_dataset

    rec = next(iter(load_dataset(tmp_path / "rec")))
    with_person = {i for i in range(rec.num_frames) if rec.joints[i].size and (rec.joints[i] == rec.joints[i]).any()}
    scored = {b["seq"] for t, b in got if t == "scores/cam0"}
    assert with_person and with_person <= scored  # every frame with a person was scored
    for t, b in got:
        if t == "scores/cam0":
            assert len(b["scores"]) == 8 and all(0.0 <= v <= 1.0 for v in b["scores"])
    events = [b for t, b in got if t == "event/cam0"]
    for e in events:
        P.validate_event(e)
    assert sum(e["type"] == "start" for e in events) == sum(e["type"] == "end" for e in events)
