"""`skelact model list | info` and bundled names in every --model flag, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from skelact.stream.assets import MODELS_DIR, precog_path
from skelact.tools.model_cmd import licence_summary

SKELACT = [sys.executable, "-m", "skelact.tools.cli"]
DEFAULT_CLASSES = ["RightPunch", "LeftPunch", "FrontRightKick", "FrontLeftKick", "SideRightKick", "SideLeftKick",
                   "BackFist", "ElbowStrike"]  # fmt: skip


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SKELACT, *args], capture_output=True, text=True, timeout=120)


def test_model_list_table_and_json():
    r = cli("model", "list")
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if line.startswith("default "))
    assert " 8: RightPunch, LeftPunch" in row
    for mode in ("step", "window"):
        kib = round((MODELS_DIR / f"default_{mode}.onnx").stat().st_size / 1024)
        assert f"{mode} {kib}" in row
    assert row.rstrip().endswith(("research use", "MIT"))

    r = cli("model", "list", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows[0]["name"] == "default"
    d = rows[0]
    assert d["num_classes"] == 8 and [c["name"] for c in d["classes"]] == DEFAULT_CLASSES
    for mode in ("step", "window"):
        assert d["files"][mode]["bytes"] == (MODELS_DIR / f"default_{mode}.onnx").stat().st_size
    assert d["data"] and d["licence"] == licence_summary(d["data"])


def test_licence_summary():
    precog = {"dataset": "PRECOG", "use": "classes", "licence": "MIT (LICENCE.txt ...)"}
    research = {"dataset": "PKU-MMD", "use": "negatives", "licence": "No license or terms in the source repo"}
    assert licence_summary([precog]) == "MIT"
    assert licence_summary([precog, research]) == "research use"
    assert licence_summary([precog, {"dataset": "X", "use": "negatives"}]) == "research use"  # none stated
    assert licence_summary([precog, {"licence": "Apache-2.0"}]) == "MIT, Apache"
    assert licence_summary([]) == "not stated"  # format 1: no data recorded


def test_model_info_by_name():
    r = cli("model", "info", "default")
    assert r.returncode == 0, r.stderr
    assert "default_step.onnx" in r.stdout and "classes    8 " in r.stdout and "mode       step" in r.stdout
    r = cli("model", "info", "default", "--mode", "window")
    assert r.returncode == 0 and "default_window.onnx" in r.stdout and "mode       window" in r.stdout


@pytest.mark.parametrize("cmd", [["serve"], ["model", "info"], ["bench", "--no-e2e"],
                                 ["detect", f"{precog_path()}:Seq3_11", "-o", "{tmp}/e.jsonl"]])  # fmt: skip
def test_unknown_model_is_one_line_exit_2(cmd, tmp_path):
    cmd = [c.replace("{tmp}", str(tmp_path)) for c in cmd]
    args = [*cmd, "nosuch"] if cmd == ["model", "info"] else [*cmd, "--model", "nosuch"]
    r = cli(*args)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1, r.stderr
    assert "`nosuch`: no such model file, and not a bundled model (bundled: default" in r.stderr


def test_help_names_the_bundled_models():
    r = cli("serve", "--help")
    assert r.returncode == 0 and "ONNX file or bundled name: default" in " ".join(r.stdout.split())


def test_detect_with_a_bundled_name(tmp_path):
    seq = f"{precog_path()}:Seq3_11"
    r = cli("detect", seq, "--model", "default", "-o", str(tmp_path / "e.jsonl"))
    assert r.returncode == 0, r.stderr
    assert "default_step.onnx" in r.stdout
    events = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert any(e["type"] == "start" for e in events)
    r = cli("detect", seq, "--model", "default", "--offline", "-o", str(tmp_path / "s.csv"))  # the window graph
    assert r.returncode == 0, r.stderr
    assert "default_window.onnx" in r.stdout and (tmp_path / "s.csv").read_text().startswith("sequence,")
