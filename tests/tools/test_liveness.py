"""Failures that used to look like success: publishing to nobody, a runtime that goes away, a
subscriber facing a dead endpoint. Real sockets on loopback and real `skelact serve` processes.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import time

import pytest
import zmq

from skelact.stream.assets import precog_path

SKELACT = [sys.executable, "-m", "skelact.tools.cli"]
REPLAY = f"{precog_path()}:Seq3_11"


def _free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    s = zmq.Context.instance().socket(zmq.PULL)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    s.close(0)
    return port


class Serve:
    """`skelact serve` (bundled model) on free loopback ports; stopped with bounded waits."""

    def __init__(self) -> None:
        self.pin, self.pout = _free_port(), _free_port()
        self.proc = subprocess.Popen(
            [*SKELACT, "serve", "--in", f"tcp://127.0.0.1:{self.pin}", "--out", f"tcp://127.0.0.1:{self.pout}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout], daemon=True).start()
        deadline, seen = time.monotonic() + 60, []
        while time.monotonic() < deadline:
            try:
                seen.append(lines.get(timeout=0.5))
            except queue.Empty:
                assert self.proc.poll() is None, "".join(seen)
                continue
            if "serving on" in seen[-1]:
                return
        self.stop()
        raise AssertionError(f"serve did not start: {''.join(seen)}")

    @property
    def to(self) -> str:
        return f"tcp://127.0.0.1:{self.pin}"

    @property
    def out(self) -> str:
        return f"tcp://127.0.0.1:{self.pout}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def serve():
    s = Serve()
    try:
        yield s
    finally:
        s.stop()


def _read_until(stream, pred, timeout: float = 20.0) -> str:
    """The first line of ``stream`` for which ``pred`` holds ('' at EOF or after ``timeout`` s)."""
    found: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            if pred(line):
                found.put(line)
                return
        found.put("")

    threading.Thread(target=read, daemon=True).start()
    try:
        return found.get(timeout=timeout)
    except queue.Empty:
        return ""


def _stderr_lines(text: str) -> list[str]:
    assert "Traceback" not in text, text
    return text.strip().splitlines()


def test_publish_to_nobody_says_nothing_was_delivered():
    to = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.monotonic()
    r = subprocess.run([*SKELACT, "publish", "--replay", REPLAY, "--fast", "--max-frames", "30", "--to", to,
                        "--progress", "0"], capture_output=True, text=True, timeout=60)  # fmt: skip
    lines = _stderr_lines(r.stderr)
    assert len(lines) == 1 and "no runtime has answered" in lines[0] and to in lines[0], r.stderr
    assert r.returncode == 1
    assert re.search(r"delivered\s+NO", r.stdout), r.stdout
    assert time.monotonic() - t0 < 30  # the verdict waits a few seconds, not forever


def test_publish_to_a_live_runtime_is_delivered(serve, tmp_path):
    stats = tmp_path / "stats.json"
    r = subprocess.run([*SKELACT, "publish", "--replay", REPLAY, "--fast", "--max-frames", "30", "--to", serve.to,
                        "--stream", "live0", "--progress", "0", "--json", str(stats)],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert _stderr_lines(r.stderr) == []
    assert re.search(r"delivered\s+yes", r.stdout), r.stdout
    s = json.loads(stats.read_text())
    assert s["delivered"] is True and s["runtime_handshakes"] >= 1 and s["runtime_disconnects"] == 0


def test_subscribe_status_is_one_readable_line_and_jsonl_holds_only_events(serve, tmp_path):
    out = tmp_path / "status.jsonl"
    # status arrives about once a second (and resets --timeout): stop it after the first line
    proc = subprocess.Popen([*SKELACT, "subscribe", "--from", serve.out, "--status", "--jsonl", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = _read_until(proc.stdout, lambda x: x.startswith("status"))
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    assert line.startswith("status  runtime "), line
    assert "{" not in line and len(line) < 200
    for word in ("streams", "frames in", "rejected", "dropped", "infer p99"):
        assert word in line, line
    assert _stderr_lines(err) == []
    assert out.read_text() == ""  # recorded events are event bodies only (no events here)


def test_publish_notices_the_runtime_going_away(tmp_path):
    srv = Serve()
    try:
        pub = subprocess.Popen([*SKELACT, "publish", "--replay", REPLAY, "--fps", "100", "--max-frames", "250",
                                "--to", srv.to, "--progress", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert "publishing" in _read_until(pub.stdout, lambda x: True)
            time.sleep(0.8)  # connected and sending (2.5 s of frames at 100 fps)
            srv.stop()  # SIGKILL: the runtime disappears mid-replay
            out, err = pub.communicate(timeout=30)
        finally:
            if pub.poll() is None:
                pub.kill()
                pub.wait(10)
    finally:
        srv.stop()
    lines = _stderr_lines(err)
    assert len(lines) == 1 and "went away" in lines[0], err
    assert pub.returncode == 1
    assert re.search(r"delivered\s+PARTLY", out), out


def test_subscribe_dead_endpoint_times_out_non_zero():
    dead = f"tcp://127.0.0.1:{_free_port()}"
    r = subprocess.run([*SKELACT, "subscribe", "--from", dead, "--timeout", "3"],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    lines = _stderr_lines(r.stderr)
    assert len(lines) == 1 and "no runtime heard" in lines[0] and dead in lines[0], r.stderr
    assert r.returncode == 1 and r.stdout == ""


def test_subscribe_warns_while_waiting_for_a_dead_endpoint():
    dead = f"tcp://127.0.0.1:{_free_port()}"
    proc = subprocess.Popen([*SKELACT, "subscribe", "--from", dead], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = _read_until(proc.stderr, lambda x: True)
    finally:
        proc.kill()
        proc.wait(10)
    assert "warning: no status" in line and dead in line, line
