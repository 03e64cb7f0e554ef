"""Senders: the never-blocking LiveSender, the runtime handshake watch, and Publisher over a real PULL socket."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from skelact.stream import protocol as P
from skelact.stream.client import Curve
from skelact.stream.sources.sender import LiveSender, Publisher, PublisherOptions, PublishError


def test_live_sender_never_blocks_and_counts_unsent():
    ctx = zmq.Context.instance()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.SNDHWM, 5)
    push.setsockopt(zmq.LINGER, 0)
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.LINGER, 0)
    pull.setsockopt(zmq.RCVHWM, 5)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push.connect(f"tcp://127.0.0.1:{port}")
    try:
        sender = LiveSender(push)
        start = time.monotonic()
        for _ in range(2000):  # nobody reads: queues fill up, then sends fail fast
            sender.send([b"x" * 1000])
        assert time.monotonic() - start < 5.0
        assert sender.unsent > 0 and sender.sent + sender.unsent == 2000
        received = 0
        while pull.poll(200):
            pull.recv()
            received += 1
        assert received == sender.sent  # what was counted as sent arrived
        assert sender.send_final([b"eos"], timeout_s=1.0) and pull.poll(1000)
    finally:
        push.close(0)
        pull.close(0)


def test_publisher_sends_records_and_reports(sink, tmp_path):
    sink.start()
    said, lines = [], []
    opts = PublisherOptions(endpoint=sink.endpoint, record=str(tmp_path / "rec.npz"), progress_s=0.0)
    pub = Publisher(opts, "cam0", "kinect20", live=False, fps=30.0, say=said.append, report=lines.append)
    joints = np.zeros((1, 20, 3), np.float32)
    for k in range(5):
        pub.publish(k, k / 30.0, joints, [0])
        pub.progress()
    pub.progress(force=True)
    stats = pub.finish()
    msgs = sink.join()
    assert [m.seq for m in msgs[:-1]] == list(range(5)) and isinstance(msgs[-1], P.EndOfStream)
    assert stats["delivered"] and stats["frames_published"] == 5 and stats["eos_sent"]
    assert stats["record_folder"] == str(tmp_path / "rec") and stats["record_sequence"] == "cam0"
    assert len(lines) == 1 and "frames 5" in lines[0]  # progress_s 0: only the forced line
    assert said == []


def test_publisher_says_when_no_runtime_answers():
    said = []
    pub = Publisher(PublisherOptions(endpoint="tcp://127.0.0.1:9", answer_within_s=0.3), "cam0", "kinect20",
                    live=True, fps=None, say=said.append)  # fmt: skip
    pub.publish(0, 0.0, np.zeros((0, 20, 3), np.float32), [])
    stats = pub.finish()
    assert not stats["delivered"] and stats["runtime_handshakes"] == 0
    assert len(said) == 1 and "no runtime has answered at tcp://127.0.0.1:9" in said[0]


@pytest.mark.parametrize("opts, needle", [
    (PublisherOptions(endpoint="not-an-endpoint"), "cannot connect to not-an-endpoint"),
    (PublisherOptions(curve=Curve("/no/such/server.key")), "CURVE keys"),
])  # fmt: skip
def test_publisher_refuses_to_start_with_one_line(opts, needle):
    with pytest.raises(PublishError, match=needle) as e:
        Publisher(opts, "cam0", "kinect20", live=True, fps=None)
    assert "\n" not in str(e.value)


def test_example_producer_with_skelact(sink):
    example = Path(__file__).resolve().parents[3] / "examples" / "skelact_producer.py"
    sink.start()
    out = subprocess.run([sys.executable, str(example), "--to", sink.endpoint, "--frames", "20", "--fps", "200",
                          "--stream", "mocap9"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    msgs = sink.join()
    assert isinstance(msgs[-1], P.EndOfStream) and msgs[-1].stream == "mocap9"
    assert [m.seq for m in msgs[:-1]] == list(range(20))
    assert all(m.joints.shape == (1, 20, 3) and m.t == pytest.approx(m.seq / 200.0) for m in msgs[:-1])
