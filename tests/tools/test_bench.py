"""`skelact bench`: both bundled graphs, a short end-to-end run over loopback, JSON keys,
and the runtime with workers (`--workers N`, `--search` over a list of counts)."""

from __future__ import annotations

import json
import os
import sys

import pytest

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


def test_scaling_arithmetic():
    from skelact.tools.bench import scaling

    s = scaling({1: 50, 2: 80})
    assert s["speedup"] == 1.6 and s["scaling_efficiency"] == 0.8  # (80 / 50) / 2
    assert s["speedup_by_workers"] == {"2": 1.6} and s["scaling_efficiency_by_workers"] == {"2": 0.8}
    s = scaling({1: 40, 2: 64, 4: 100})
    assert s["speedup_by_workers"] == {"2": 1.6, "4": 2.5}
    assert s["scaling_efficiency_by_workers"] == {"2": 0.8, "4": 0.625} and s["scaling_efficiency"] == 0.625
    s = scaling({2: 40, 4: 60})  # against the smallest count searched: (60 / 40) / (4 / 2)
    assert s["speedup"] == 1.5 and s["scaling_efficiency"] == 0.75
    assert scaling({1: 0, 2: 8})["scaling_efficiency"] is None  # nothing to scale from
    assert scaling({2: 30}) == {}


def test_workers_flag_takes_a_count_auto_or_a_list(capsys):
    from skelact.tools.bench import worker_counts

    assert worker_counts("2") == [2] and worker_counts("2,1,2") == [1, 2]
    assert worker_counts("auto") == [len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                     else os.cpu_count()]  # fmt: skip
    # a list is for --search (one e2e run per count would have no flat keys to go to)
    assert cli(["bench", "--workers", "1,2", "--no-e2e"]) == 2
    assert "needs --search" in capsys.readouterr().err


def test_bench_with_two_workers_reports_cpu_per_process(tmp_path, capsys):
    """A short `bench --workers 2`: the runtime is a front and two Ray workers (as `serve
    --workers 2`); every frame reaches a worker, and the CPU of each process is counted."""
    pytest.importorskip("ray", reason="--workers > 1 needs Ray: pip install 'skelact[cluster]'")
    from skelact.stream.workers import shard_of

    streams = 4
    assert {shard_of(f"s{i:04d}", 2) for i in range(streams)} == {0, 1}  # both workers get streams
    out = tmp_path / "b.json"
    argv = ["bench", "--mode", "step", "--workers", "2", "--streams", str(streams), "--duration", "1.5",
            "--json", str(out)]  # fmt: skip
    assert cli(argv) == 0
    assert "CPU by process: front" in capsys.readouterr().out
    r = json.loads(out.read_text())
    assert r["workers"] == 2 and r["worker_restarts"] == 0
    by = r["cpu_s_by_process"]
    assert {"front", "worker0", "worker1", "load_generator", "subscriber"} <= set(by)
    assert by["front"] > 0 and by["worker0"] > 0 and by["worker1"] > 0
    if sys.platform.startswith("linux"):  # Ray's own processes, read from /proc
        assert by["ray_system"] >= 0
    # the runtime's CPU is the front's plus its workers'
    runtime_s = by["front"] + by["worker0"] + by["worker1"]
    assert r["runtime_cpu_share"] * r["duration_s"] == pytest.approx(runtime_s, rel=1e-6)
    assert 0 < r["runtime_cpu_ms_per_frame"] < 1000
    # frames accounted: each accepted frame and each stream's eos went to its worker; the
    # scores that arrived within the bench's window are at most one per frame
    assert r["frames_sent"] == streams * int(1.5 * 30)
    fw = r["frames_by_worker"]
    assert set(fw) == {"0", "1"} and min(fw.values()) > 0
    assert sum(fw.values()) == r["frames_sent"] - r["frames_dropped"] + streams
    assert 0 < r["scores_received"] <= sum(fw.values()) - streams
