"""Every bundled model: serve (live, over real sockets) equals detect (offline core) on a
real recording, events and per-frame scores alike; its metadata names its data and licence."""

from __future__ import annotations

import pytest
from harness import Harness

from skelact.stream import protocol as P
from skelact.stream.assets import bundled_models, precog_path, resolve_model
from skelact.stream.detector import DetectorConfig
from skelact.stream.engine import Engine, read_meta
from skelact.stream.formats import load_dataset
from skelact.stream.offline import detect_sequence
from skelact.stream.runtime import Runtime, RuntimeConfig
from skelact.stream.sources.replay import sequence_messages

WALL = {"emitted_at", "latency_ms", "event_id"}


@pytest.mark.parametrize("name", bundled_models())
def test_bundled_model_serve_equals_detect_with_scores(name):
    model = resolve_model(name, "step")
    seq = load_dataset(precog_path())["Seq3_11"]
    offline = detect_sequence(Engine(model, provider="cpu"), seq, stream="golden", scores=True)
    cfg = RuntimeConfig(in_endpoint="tcp://127.0.0.1:*", out_endpoint="tcp://127.0.0.1:*", max_age_ms=0.0,
                        detector=DetectorConfig(scores=True), status_interval_s=0.2)  # fmt: skip
    h = Harness(Runtime(Engine(model, provider="cpu"), cfg))
    try:
        for _t, parts in sequence_messages(seq, "golden"):
            h.send(parts)
        h.send(P.encode_eos("golden"))
        n = len(offline)
        assert h.wait_for(lambda: len([b for t, b in h.received if t in ("event/golden", "scores/golden")]) >= n, 20.0)
        h.poll(0.3)
    finally:
        h.close()
    live = [b for t, b in h.received if t in ("event/golden", "scores/golden")]
    strip = lambda bodies: [{k: v for k, v in b.items() if k not in WALL} for b in bodies]  # noqa: E731
    assert strip(live) == strip(offline) and sum(b["type"] == "scores" for b in live) > 300


@pytest.mark.parametrize("name", bundled_models())
def test_bundled_model_metadata_names_its_data(name):
    meta = read_meta(resolve_model(name, "step"))
    assert meta.data and all(d.get("dataset") and "licence" in d for d in meta.data)
    assert meta.decision  # calibrated thresholds ship with every bundled model
    assert read_meta(resolve_model(name, "window")).classes == meta.classes
