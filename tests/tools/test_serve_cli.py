"""`skelact serve` + `publish` + `subscribe` as separate processes over real sockets."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stream"))
from onnx_fixtures import hand_raiser  # noqa: E402

from skelact.stream.formats.npz import save_npz_dataset  # noqa: E402
from skelact.stream.synthetic import make_dataset  # noqa: E402

SKELACT = [sys.executable, "-m", "skelact.tools.cli"]


def _free_port() -> int:
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.PULL)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    s.close(0)
    return port


@pytest.fixture()
def served(tmp_path):
    model = hand_raiser(tmp_path / "hr.onnx", "step")
    pin, pout = _free_port(), _free_port()
    proc = subprocess.Popen(
        [*SKELACT, "serve", "--model", str(model), "--in", f"tcp://127.0.0.1:{pin}", "--out", f"tcp://127.0.0.1:{pout}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        assert any("serving on" in x for x in lines), lines
        yield proc, pin, pout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_publish_serve_subscribe_and_clean_shutdown(served, tmp_path):
    proc, pin, pout = served
    ds = make_dataset(2, 300, seed=5)
    data = save_npz_dataset(ds, tmp_path / "data")
    out = tmp_path / "events.jsonl"
    sub = subprocess.Popen([*SKELACT, "subscribe", "--from", f"tcp://127.0.0.1:{pout}", "--jsonl", str(out),
                            "--timeout", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(1.0)
    seq_id = ds.splits["train"][0]
    pub = subprocess.run([*SKELACT, "publish", "--replay", f"{data}:{seq_id}", "--to", f"tcp://127.0.0.1:{pin}",
                          "--stream", "cam0", "--fast"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert pub.returncode == 0, pub.stderr
    assert re.search(r"frames_published\s+300", pub.stdout), pub.stdout
    stdout, _ = sub.communicate(timeout=30)
    events = [json.loads(x) for x in out.read_text().splitlines()]
    assert events and {e["stream"] for e in events} == {"cam0"}
    assert sum(e["type"] == "start" for e in events) == sum(e["type"] == "end" for e in events)
    assert "START raise" in stdout or "START wave" in stdout or "START" in stdout
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "stopped: 301 frames in" in rest


def test_serve_refuses_bad_model_and_exposed_bind(tmp_path):
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not onnx")
    r = subprocess.run([*SKELACT, "serve", "--model", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "x.onnx" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*SKELACT, "serve", "--in", "tcp://0.0.0.0:5999"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "curve" in r.stderr.lower()
    env = dict(os.environ)
    r = subprocess.run([*SKELACT, "publish", "--replay", str(tmp_path / "missing.npz")], capture_output=True,
                       text=True, timeout=60, env=env)  # fmt: skip
    assert r.returncode == 2 and "missing.npz" in r.stderr


def test_public_bind_needs_an_allow_list_not_just_a_secret(tmp_path):
    """With a secret and no --curve-clients, ZeroMQ would admit any key pair."""
    from skelact.stream.security import generate_keypair

    _pub, secret = generate_keypair(tmp_path / "keys", "server")
    r = subprocess.run([*SKELACT, "serve", "--in", "tcp://0.0.0.0:5999", "--curve-secret", str(secret)],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "--curve-clients" in r.stderr


def test_serve_refuses_bad_limits_at_parse_time():
    for flag, value in (("--max-age-ms", "-1"), ("--max-streams", "0"), ("--max-tracks", "x"),
                        ("--max-state-mb", "nan"), ("--max-gap-s", "0"), ("--batch-wait-ms", "nan"),
                        ("--batch-wait-ms", "-2")):  # fmt: skip
        r = subprocess.run([*SKELACT, "serve", flag, value], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (flag, r.stderr)
