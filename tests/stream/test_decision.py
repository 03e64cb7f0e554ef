"""Per-class decision thresholds: events, model metadata (format 2) and the detection core."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from skelact.stream.assets import default_model_path
from skelact.stream.detector import DetectorConfig, DetectorCore
from skelact.stream.engine import Engine, read_meta
from skelact.stream.events import EventConfig, EventTracker
from skelact.stream.metadata import FORMAT_VERSION, ModelError, ModelMeta


def test_per_class_thresholds_start_only_the_class_that_passes_its_own():
    cfg = EventConfig(on_by_class=(0.5, 0.9), min_frames_by_class=(2, 2))
    tr = EventTracker(cfg, 2)
    starts = []
    for i in range(6):
        starts += [d.class_index for d in tr.update(i, i / 30, np.array([0.7, 0.7])) if d.type == "start"]
    assert starts == [0]
    with pytest.raises(ValueError):
        EventConfig(on_by_class=(0.5, 0.2))  # below the default off
    with pytest.raises(ValueError):
        EventTracker(EventConfig(on_by_class=(0.6, 0.7, 0.8)), 2)  # wrong length


def _meta(decision: dict) -> ModelMeta:
    return replace(read_meta(default_model_path("step")), decision=decision, format_version=FORMAT_VERSION)


def test_metadata_decision_round_trip_and_overrides():
    k = 8
    d = {"on": [0.9] * k, "off": [0.3] * k, "min_frames": [8] * k, "min_gap": 5}
    meta = _meta(d)
    back = ModelMeta.from_json(meta.to_json())
    assert back.decision == d and back.format_version == FORMAT_VERSION
    ev = back.event_config()
    assert ev.ons(k).tolist() == [0.9] * k and ev.min_frames_per_class(k).tolist() == [8] * k and ev.min_gap == 5
    over = back.event_config(on=0.6, min_frames=3)
    assert over.ons(k).tolist() == [0.6] * k and over.min_frames_per_class(k).tolist() == [3] * k
    with pytest.raises(ValueError):
        back.event_config(off=0.95)  # above the calibrated on
    with pytest.raises(ModelError, match="decision"):
        _meta({"on": [0.9] * 3})


def test_old_format_files_load_without_decision():
    raw = json.loads(read_meta(default_model_path("step")).to_json())
    raw["format_version"] = 1
    for key in ("decision", "data"):
        raw.pop(key, None)
    meta = ModelMeta.from_json(json.dumps(raw))
    assert meta.decision == {} and meta.data == ()
    assert meta.event_config() == EventConfig()
    raw["format_version"] = 99
    with pytest.raises(ModelError, match="format 99"):
        ModelMeta.from_json(json.dumps(raw))


def test_core_uses_the_models_thresholds_unless_told_otherwise():
    eng = Engine(default_model_path("step"), provider="cpu")
    eng.meta = _meta({"on": [0.95] * 8, "off": [0.3] * 8, "min_frames": [12] * 8})
    assert DetectorCore(eng).events_cfg.ons(8).tolist() == [0.95] * 8
    assert DetectorCore(eng, DetectorConfig(event_overrides=(("on", 0.5),))).events_cfg.ons(8).tolist() == [0.5] * 8
    assert DetectorCore(eng, DetectorConfig(events=EventConfig())).events_cfg == EventConfig()


def test_serve_equals_detect_with_calibrated_thresholds(tmp_path):
    """Golden: a model whose metadata raises one class's threshold; live = offline, and the
    thresholds really act (fewer starts of that class than with the defaults)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from harness import Harness
    from onnx_fixtures import hand_raiser

    from skelact.stream.offline import detect_sequence
    from skelact.stream.runtime import Runtime, RuntimeConfig
    from skelact.stream.sources.replay import sequence_messages
    from skelact.stream.synthetic import make_sequence

    model = hand_raiser(tmp_path / "hr.onnx", "step", decision={"on": [0.9, 0.5], "off": [0.3, 0.3],
                                                                "min_frames": [25, 4], "min_gap": 4})  # fmt: skip
    plain = hand_raiser(tmp_path / "plain.onnx", "step")
    seq = make_sequence("golden", num_frames=600, seed=11)
    offline = detect_sequence(Engine(model), seq)
    default = detect_sequence(Engine(plain), seq)
    count = lambda evs, c: sum(e["type"] == "start" and e["class_id"] == c for e in evs)  # noqa: E731
    assert count(default, 1) > count(offline, 1) > 0 and count(offline, 2) == count(default, 2)
    h = Harness(Runtime(Engine(model), RuntimeConfig(in_endpoint="tcp://127.0.0.1:*", out_endpoint="tcp://127.0.0.1:*",
                                                     status_interval_s=0.2, max_age_ms=0.0)))  # fmt: skip
    try:
        for _t, parts in sequence_messages(seq, "golden"):
            h.send(parts)
        h.send(__import__("skelact.stream.protocol", fromlist=["P"]).encode_eos("golden"))
        assert h.wait_for(lambda: any(b["type"] == "status" and b["streams"] == 0 and b["frames_in"] > 600
                                      for _t, b in h.received), 10.0)  # fmt: skip
        h.poll(0.3)
    finally:
        h.close()
    wall = {"emitted_at", "latency_ms", "event_id"}
    live = [{k: v for k, v in b.items() if k not in wall} for b in h.bodies("event/golden")]
    assert live == [{k: v for k, v in e.items() if k not in wall} for e in offline]
