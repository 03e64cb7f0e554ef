"""Probe a `skelact serve` process from outside, over real sockets: state memory and
the cost of a gap-jumping message.

    python scripts/hardening_probe.py [--streams 4000] [--serve-arg=--max-streams=5000] [--json OUT]

1. memory: RSS after start-up, after ``--streams`` stream ids with one person each
   have sent a frame, and after every one of them has timed out (silence timeout 3 s);
2. amplification: 30 frames with P = 16 persons whose ``t`` jumps 20 s each, then one
   frame on another stream: the time until that frame's scores come back is how long
   the runtime's loop was held.

Prints one JSON line (and writes it with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time

import numpy as np
import zmq

from skelact.stream import protocol as P


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=4000)
    ap.add_argument("--serve-arg", action="append", default=[], help="extra `skelact serve` argument (repeat)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    pin, pout = _port(), _port()
    cmd = [sys.executable, "-m", "skelact.tools.cli", "serve", "--in", f"tcp://127.0.0.1:{pin}",
           "--out", f"tcp://127.0.0.1:{pout}", "--silence-timeout", "3", "--scores", *args.serve_arg]
    srv = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.linger = 0
    sub.setsockopt(zmq.RCVHWM, 0)
    for topic in (b"status", b"scores/probe", b"error/"):
        sub.setsockopt(zmq.SUBSCRIBE, topic)
    sub.connect(f"tcp://127.0.0.1:{pout}")
    push = ctx.socket(zmq.PUSH)
    push.linger = 0
    push.setsockopt(zmq.SNDHWM, 0)
    push.connect(f"tcp://127.0.0.1:{pin}")
    status: dict = {}

    def recv(until, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if until():
                return True
            if sub.poll(50):
                topic, body = P.decode_pub(sub.recv_multipart())
                if topic == "status":
                    status.update(body)
                elif topic == "scores/probe":
                    status["probe_scored"] = True
            if srv.poll() is not None:
                return False
        return until()

    out: dict = {"streams": args.streams, "serve_args": args.serve_arg}
    try:
        if not recv(lambda: "frames_in" in status, 60):
            raise SystemExit(f"serve did not start: {srv.stderr.read() if srv.poll() is not None else ''}")
        time.sleep(1.0)
        out["rss_start_mb"] = _rss_mb(srv.pid)
        joints = np.zeros((1, 20, 3), np.float32)
        joints[0, :, 1] = np.linspace(0, 1.6, 20)
        for i in range(args.streams):
            push.send_multipart(P.encode_pose(f"m{i:05d}", 0, 0.0, "kinect20", joints))
        peak = {"streams": 0, "rss": 0.0}

        def loaded() -> bool:
            peak["streams"] = max(peak["streams"], status.get("streams", 0))
            peak["rss"] = max(peak["rss"], _rss_mb(srv.pid))
            return status.get("frames_in", 0) >= args.streams + 0 and status.get("streams", 0) > 0

        recv(loaded, 120)
        recv(lambda: loaded() and False, 1.5)
        out["peak_streams"] = peak["streams"]
        out["rss_peak_mb"] = peak["rss"]
        recv(lambda: status.get("streams", 1) == 0, 60)
        time.sleep(2.0)
        recv(lambda: False, 1.0)
        out["rss_after_timeout_mb"] = _rss_mb(srv.pid)

        many = np.repeat(joints, 16, axis=0)
        t0 = time.monotonic()
        for k in range(30):
            push.send_multipart(P.encode_pose("gap", k, 20.0 * k, "kinect20", many))
        push.send_multipart(P.encode_pose("probe", 0, 0.0, "kinect20", joints))
        ok = recv(lambda: status.get("probe_scored", False), 300)
        out["gap_messages_s"] = time.monotonic() - t0 if ok else None
        out["serve_alive"] = srv.poll() is None
    finally:
        srv.terminate()
        try:
            srv.wait(10)
        except subprocess.TimeoutExpired:
            srv.kill()
        sub.close()
        push.close()
        ctx.term()
    line = json.dumps(out)
    print(line)
    if args.json:
        with open(args.json, "w") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
