"""A new user's mistakes through the real console entry: ONE line on stderr, no traceback, non-zero exit.

Every test runs `python -m skelact.tools.cli ...` as a subprocess, as a user would.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from skelact.stream.assets import precog_path
from skelact.stream.formats.npz import save_npz_dataset
from skelact.stream.synthetic import make_dataset

SKELACT = [sys.executable, "-m", "skelact.tools.cli"]
REPLAY = f"{precog_path()}:Seq3_11"


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*SKELACT, *args], capture_output=True, text=True, timeout=timeout)


def one_line(r: subprocess.CompletedProcess, rc: int | None = None) -> str:
    """The single stderr line of a failed command (asserting exactly that)."""
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert r.returncode != 0, (r.returncode, r.stdout, r.stderr)
    if rc is not None:
        assert r.returncode == rc, (r.returncode, r.stderr)
    return lines[0]


def test_publish_mocap_udp_port_out_of_range():
    line = one_line(run("publish", "--mocap-udp", "99999", "--layout", "kinect20"), rc=2)
    assert line.startswith("skelact publish: error: argument --mocap-udp") and "0-65535" in line


def test_publish_bad_stream_id_refused_before_publishing():
    r = run("publish", "--replay", REPLAY, "--stream", "bad stream id!", "--to", "tcp://127.0.0.1:9")
    line = one_line(r, rc=2)
    assert "--stream" in line and "'bad stream id!'" in line
    assert "publishing" not in r.stdout  # refused at parse time, before anything is sent


@pytest.mark.parametrize("speed", ["-1", "0"])
def test_publish_replay_speed_must_be_positive(speed):
    r = run("publish", "--replay", REPLAY, "--speed", speed, "--to", "tcp://127.0.0.1:9")
    line = one_line(r, rc=2)
    assert "--speed" in line and "must be > 0" in line and "publishing" not in r.stdout


@pytest.mark.parametrize("flag,value,expect", [
    ("--duration", "-5", "--duration"),
    ("--fps", "0", "--fps"),
    ("--streams", "0", "--streams"),
    ("--publishers", "-1", "--publishers"),
    ("--duration", "nan", "finite"),
])  # fmt: skip
def test_bench_refuses_non_positive_numbers(flag, value, expect):
    line = one_line(run("bench", flag, value, "--no-e2e"), rc=2)
    assert line.startswith("skelact bench: error:") and expect in line


def test_export_without_torch_names_the_training_extra(tmp_path):
    # A runtime-only install: `import torch` fails. The real entry point, with torch hidden.
    code = ("import runpy, sys; sys.modules['torch'] = None; "
            "sys.argv = ['skelact', 'export', sys.argv[1], '-o', sys.argv[2]]; "
            "runpy.run_module('skelact.tools.cli', run_name='__main__')")  # fmt: skip
    out = tmp_path / "m.onnx"
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.ckpt"), str(out)],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    line = one_line(r, rc=2)
    assert "pip install 'skelact[train]'" in line and "torch" in line
    assert not out.exists()


def test_model_info_into_a_closed_pipe_exits_quietly():
    # `skelact model info | head -0`: the reader is gone before the first write.
    proc = subprocess.Popen([*SKELACT, "model", "info"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert err.decode() == "", err.decode()
    assert proc.returncode == 1


def test_detect_empty_split_fails_and_writes_nothing(tmp_path):
    data = save_npz_dataset(make_dataset(1, 60, seed=3), tmp_path / "data")  # one sequence, in test
    out = tmp_path / "events.csv"
    line = one_line(run("detect", str(data), "--split", "train", "-o", str(out)), rc=2)
    assert "no sequences" in line and "'train'" in line
    assert not out.exists()


def test_detect_offline_jsonl_refused_before_any_work(tmp_path):
    # The input does not even exist: the output is checked first, before data or model load.
    out = tmp_path / "x.jsonl"
    line = one_line(run("detect", str(tmp_path / "missing"), "--offline", "-o", str(out)), rc=2)
    assert ".csv" in line and "--offline" in line
    assert not out.exists()


def test_demo_without_a_camera_exits_non_zero():
    # Camera 99 exists nowhere (and without the webcam extra publish says so: also one line).
    r = run("demo", "--webcam", "99", timeout=90)
    line = one_line(r)
    assert line.startswith("skelact publish:"), line


def test_parse_errors_are_one_line_for_every_fixed_command():
    for args in (["publish", "--replay", REPLAY, "--fps", "-1"], ["subscribe", "--timeout", "0"],
                 ["subscribe", "--count", "0"], ["demo", "--speed", "0"]):  # fmt: skip
        line = one_line(run(*args), rc=2)
        assert ": error: argument --" in line and "--help" in line, line
