"""Fixtures for the live-source tests: the small real clip, the shared videos, a PULL socket."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import zmq

from skelact.stream import protocol as P

REPO = Path(__file__).resolve().parents[3]
CLIP = REPO / "tests" / "data" / "rar_exercise_20f.mp4"
SHARED_VIDEO = (REPO / ".." / "shared" / "video").resolve()


@pytest.fixture(scope="session")
def clip() -> Path:
    """20 frames (384x288, 10 fps) of rar_exercise.avi; see tests/data/README.md."""
    assert CLIP.is_file(), f"{CLIP} is part of the repository"
    return CLIP


@pytest.fixture(scope="session")
def shared_video() -> Path:
    """``<repo>/../shared/video`` (real videos + precomputed MediaPipe poses)."""
    if not (SHARED_VIDEO / "rar_exercise.avi").is_file():
        pytest.skip(f"needs the shared test videos at {SHARED_VIDEO} (not present in this checkout)")
    return SHARED_VIDEO


class Sink:
    """A PULL socket bound on a random loopback port, drained by a thread until eos."""

    def __init__(self) -> None:
        self.sock = zmq.Context.instance().socket(zmq.PULL)
        self.sock.setsockopt(zmq.LINGER, 0)
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.messages: list = []
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 10.0) -> Sink:
        def run() -> None:
            while self.sock.poll(int(timeout_s * 1000)):
                msg = P.decode_frame(self.sock.recv_multipart(), P.Limits())
                self.messages.append(msg)
                if isinstance(msg, P.EndOfStream):
                    return

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def join(self, timeout_s: float = 15.0) -> list:
        assert self._thread is not None
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "no eos arrived in time"
        return self.messages

    def close(self) -> None:
        self.sock.close(0)


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.close()
