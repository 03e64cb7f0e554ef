"""`skelact bench`: both bundled graphs, a short end-to-end run over loopback, JSON keys."""

from __future__ import annotations

import json

from skelact.tools.cli import main as cli

KEYS = ("mode", "streams", "fps", "compute_ms_p50", "compute_ms_p99", "e2e_ms_p50", "e2e_ms_p99",
        "frames_dropped", "window_over_step", "runtime_cpu_share", "load_generator_cpu_share",
        "runtime_cpu_ms_per_frame")  # fmt: skip


def test_bench_writes_the_documented_keys(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert cli(["bench", "--duration", "0.6", "--streams", "2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "window recompute" in text and "e2e latency" in text
    r = json.loads(out.read_text())
    for k in KEYS:
        assert k in r, k
    assert r["mode"] == "step" and r["streams"] == 2 and r["fps"] == 30
    # step mode must do far less work per frame than recomputing the window (~100x here)
    assert r["window_over_step"] > 5
    assert r["frames_sent"] > 0 and r["e2e_ms_p50"] > 0 and r["frames_dropped"] >= 0
    assert 0 < r["runtime_cpu_ms_per_frame"] < 1000
    assert r["step_state"].startswith("ring") and r["step_batch32_ms_per_frame"] > 0


def test_bench_bad_model_is_a_clear_error(tmp_path, capsys):
    assert cli(["bench", "--model", str(tmp_path / "missing.onnx"), "--no-e2e"]) == 2
    assert "no such model file" in capsys.readouterr().err
