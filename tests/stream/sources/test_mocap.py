"""Mocap: a raw-pyzmq producer (examples/mocap_producer.py) and the UDP / text-line bridge."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from skelact.stream import protocol as P
from skelact.stream.formats import load_dataset
from skelact.stream.sources.mocap import (
    MocapFormatError,
    MocapSequencer,
    UdpMocapSource,
    iter_lines,
    parse_mocap_line,
)
from skelact.tools import publish

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "mocap_producer.py"


def test_example_producer_speaks_the_protocol(sink):
    text = EXAMPLE.read_text()
    assert len(text.splitlines()) < 60 and "skelact" not in text.split('"""')[2]  # no skelact import
    sink.start()
    out = subprocess.run([sys.executable, str(EXAMPLE), "--to", sink.endpoint, "--frames", "30", "--fps", "200",
                          "--stream", "mocap7"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    msgs = sink.join()
    assert isinstance(msgs[-1], P.EndOfStream) and msgs[-1].stream == "mocap7"
    poses = msgs[:-1]
    assert [m.seq for m in poses] == list(range(30))
    for m in poses:
        assert m.layout == "kinect_v1_20" and m.joints.shape == (1, 20, 3) and m.tracks == (0,)
        assert m.t == pytest.approx(m.seq / 200.0)


def test_parse_json_and_csv_frames():
    j = [[0.1 * k, 1.0, 2.0] for k in range(20)]
    j[5] = None
    f = parse_mocap_line(json.dumps({"t": 1.5, "seq": 3, "layout": "kinect20", "joints": j}))
    assert f.joints.shape == (1, 20, 3) and f.t == 1.5 and f.seq == 3 and np.isnan(f.joints[0, 5]).all()
    two = parse_mocap_line(json.dumps({"joints": [j, j], "tracks": [4, 9]}), layout="kinect20", scale=0.001)
    assert two.joints.shape == (2, 20, 3) and two.tracks == [4, 9]
    assert two.joints[0, 1, 0] == pytest.approx(0.0001)
    row = ",".join(["0.25"] + [f"{v}" for k in range(20) for v in (k, 2 * k, "")])
    c = parse_mocap_line(row, layout="kinect20")
    assert c.t == 0.25 and c.joints.shape == (1, 20, 3) and np.isnan(c.joints[0, :, 2]).all()
    four = parse_mocap_line("," + ",".join(["0.5"] * 80), layout="kinect20")
    assert four.joints.shape == (1, 20, 4) and four.t is None
    assert parse_mocap_line("# comment") is None and parse_mocap_line("t,x0,y0,z0", layout="kinect20") is None
    assert parse_mocap_line('{"type": "eos"}').eos
    for bad, msg in [('{"joints": [[1, 2, 3]]}', "layout"), ("1,2,3", "coordinates"),
                     ('{"layout": "kinect20", "joints": [[1, 2]]}', "joints"), ("{nope", "JSON"),
                     ('{"layout": "kinect20", "joints": ' + json.dumps(j) + ', "seq": -1}', "seq")]:  # fmt: skip
        with pytest.raises(MocapFormatError, match=msg):
            parse_mocap_line(bad, layout="kinect20" if bad[0] != "{" else None)


def test_sequencer_drops_reordered_frames():
    clock = iter([10.0, 10.1, 10.2, 10.3]).__next__
    s = MocapSequencer(clock)
    z = np.zeros((1, 20, 3), np.float32)
    from skelact.stream.sources.mocap import MocapFrame

    assert s.accept(MocapFrame(z)) == (0, 0.0)
    assert s.accept(MocapFrame(z, seq=5)) == (5, pytest.approx(0.1))
    assert s.accept(MocapFrame(z, seq=4)) is None  # arrived late
    assert s.accept(MocapFrame(z)) == (6, pytest.approx(0.3))
    assert s.out_of_order == 1


def test_iter_lines_names_the_bad_line():
    with pytest.raises(MocapFormatError, match="line 2"):
        list(iter_lines(["# header", "1,2,3"], layout="kinect20"))


def _free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_publish_mocap_udp_end_to_end(sink, tmp_path):
    port = _free_udp_port()
    sink.start()
    rc: list[int] = []
    th = threading.Thread(target=lambda: rc.append(publish.main([
        "--mocap-udp", f"127.0.0.1:{port}", "--layout", "kinect20", "--mocap-scale", "0.001", "--to", sink.endpoint,
        "--stream", "vicon", "--progress", "0", "--idle-timeout", "5", "--record", str(tmp_path / "mc.npz")])))  # fmt: skip
    th.start()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    time.sleep(0.3)  # let the bridge bind
    truth = []
    for k in range(10):
        joints = [[1000.0 * math.sin(k + j), 1000.0, 2500.0] for j in range(20)]
        truth.append(np.asarray(joints) / 1000.0)
        tx.sendto(json.dumps({"t": 0.01 * k, "joints": joints}).encode(), ("127.0.0.1", port))
        time.sleep(0.005)
    tx.sendto(b"not a frame", ("127.0.0.1", port))
    tx.sendto(b'{"type": "eos"}', ("127.0.0.1", port))
    tx.close()
    th.join(15)
    assert rc == [0]
    msgs = sink.join()
    poses = msgs[:-1]
    assert isinstance(msgs[-1], P.EndOfStream) and len(poses) == 10
    for k, m in enumerate(poses):
        assert m.stream == "vicon" and m.seq == k and m.t == pytest.approx(0.01 * k)
        np.testing.assert_allclose(m.joints[0], truth[k], atol=1e-6)
    rec = load_dataset(tmp_path / "mc")["vicon"]
    assert rec.joints.shape == (10, 1, 20, 3)


def test_udp_source_counts_bad_datagrams_and_stops_when_idle():
    src = UdpMocapSource(0, layout="kinect20", idle_timeout_s=0.5)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.sendto(b"1,2,3", ("127.0.0.1", src.port))
    tx.sendto(("0," + ",".join(["1"] * 60)).encode(), ("127.0.0.1", src.port))
    tx.close()
    start = time.monotonic()
    frames = list(src)
    assert len(frames) == 1 and src.bad == 1 and src.received == 2
    assert time.monotonic() - start < 5


def test_publish_mocap_lines_from_a_file(sink, tmp_path):
    lines = ["# t, then x,y,z of 20 kinect joints (metres)"]
    lines += [",".join([f"{k / 30:.4f}"] + ["0.5"] * 60) for k in range(15)]
    path = tmp_path / "take.csv"
    path.write_text("\n".join(lines) + "\n")
    sink.start()
    assert publish.main(["--mocap-lines", str(path), "--layout", "kinect20", "--fast", "--to", sink.endpoint,
                         "--progress", "0"]) == 0  # fmt: skip
    poses = sink.join()[:-1]
    assert [m.seq for m in poses] == list(range(15))
    assert poses[-1].t == pytest.approx(14 / 30, abs=1e-4)
