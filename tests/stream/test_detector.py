"""DetectorCore with the bundled step model: state slots follow tracks and come back."""

from __future__ import annotations

import numpy as np

from skelact.stream.assets import default_model_path
from skelact.stream.detector import DetectorConfig, DetectorCore
from skelact.stream.engine import Engine
from skelact.stream.protocol import EndOfStream, PoseFrame
from skelact.stream.synthetic import make_sequence


def _frame(stream, k, joints, tracks):
    j = np.ascontiguousarray(joints, dtype=np.float32)
    return PoseFrame(stream, k, k / 30.0, "kinect_v1_20", j, tuple(tracks))


def test_slots_are_taken_per_track_and_returned_on_eos_timeout_and_reset():
    core = DetectorCore(Engine(default_model_path("step"), provider="cpu"),
                        DetectorConfig(silence_timeout_s=1.0, max_seq_gap=10))  # fmt: skip
    bank = core.bank
    j = make_sequence("x", num_frames=40, seed=3).joints[:, 0]  # (T, 20, 3)
    for k in range(20):  # stream a: 2 persons (2 tracks), stream b: 1 person
        core.feed_many([(_frame("a", k, np.stack([j[k], j[k] + 0.5]), (7, 8)), k / 30, None),
                        (_frame("b", k, j[k][None], (1,)), k / 30, None)])  # fmt: skip
    assert bank.in_use == 3
    core.feed(EndOfStream("a"), now=1.0)
    assert bank.in_use == 1
    # a seq jump beyond max_seq_gap resets b: its old slot is released, a fresh one taken
    core.feed(_frame("b", 100, j[0][None], (1,)), now=1.1)
    assert bank.in_use == 1
    core.expire(now=5.0)
    assert bank.in_use == 0 and not core.streams
    # a fresh track after all that starts from zero state: same scores as a brand-new core
    fresh = DetectorCore(Engine(default_model_path("step"), provider="cpu"), DetectorConfig(scores=True))
    reused = DetectorCore(core.engine, DetectorConfig(scores=True))
    reused.bank = bank
    compared = 0
    for k in range(10):
        a = fresh.feed(_frame("c", k, j[k][None], (0,)), now=k / 30)
        b = reused.feed(_frame("c", k, j[k][None], (0,)), now=k / 30)
        sa = [o.body["scores"] for o in a if o.kind == "scores"]
        sb = [o.body["scores"] for o in b if o.kind == "scores"]
        assert sa == sb
        compared += len(sa)
    assert compared >= 9
