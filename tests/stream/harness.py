"""A live runtime on loopback with a PUSH and a SUB socket, for runtime tests."""

from __future__ import annotations

import time

import zmq

from skelact.stream import protocol as P


class Harness:
    """A Runtime in a thread plus a PUSH and a SUB socket connected to it."""

    def __init__(self, runtime) -> None:
        self.rt = runtime.start()
        self.ctx = zmq.Context.instance()
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(self.rt.out_endpoint)
        self.push = self.ctx.socket(zmq.PUSH)
        self.push.setsockopt(zmq.LINGER, 0)
        self.push.connect(self.rt.in_endpoint)
        self.received: list[tuple[str, dict]] = []
        # Wait until the subscription is live: the runtime publishes status about once a second.
        self.wait_for(lambda: any(t == "status" for t, _ in self.received), 5.0)

    def send(self, parts: list[bytes]) -> None:
        self.push.send_multipart(parts)

    def poll(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.sub.poll(max(1, int((end - time.monotonic()) * 1000))):
                self.received.append(P.decode_pub(self.sub.recv_multipart()))

    def wait_for(self, pred, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return True
            if self.sub.poll(50):
                self.received.append(P.decode_pub(self.sub.recv_multipart()))
        return pred()

    def replay_interleaved(self, seqs: dict, timeout: float) -> int:
        """Send the sequences' messages (eos included) interleaved frame by frame, in the
        dict's order; the number of messages once a status says every one was taken and no
        stream is open (0 if that did not happen within ``timeout``)."""
        from skelact.stream.sources.replay import sequence_messages

        msgs = [list(sequence_messages(q, s)) for s, q in seqs.items()]
        total = sum(map(len, msgs))
        for k in range(max(map(len, msgs))):
            for m in msgs:
                if k < len(m):
                    self.send(m[k][1])
        done = self.wait_for(lambda: bool(self.bodies("status")) and self.bodies("status")[-1]["frames_in"] == total
                             and self.bodies("status")[-1]["streams"] == 0, timeout)  # fmt: skip
        return total if done else 0

    def bodies(self, prefix: str) -> list[dict]:
        return [b for t, b in self.received if t.startswith(prefix)]

    def close(self) -> None:
        self.rt.stop()
        self.poll(0.3)  # collect what the shutdown published
        self.sub.close(0)
        self.push.close(0)
