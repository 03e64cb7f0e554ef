"""A pose producer for Python programs that have skelact installed (pip install skelact).

The same job as mocap_producer.py (which needs only pyzmq), with skelact's pieces: the
client socket helper, the protocol encoder (it refuses a frame the runtime would reject)
and the never-blocking sender that counts what it could not send. Replace
`read_skeleton()` with your camera's or mocap SDK's frame. Run a runtime (`skelact
serve`), then: python examples/skelact_producer.py --to tcp://127.0.0.1:5555
"""

import argparse
import math
import time

import numpy as np
import zmq

from skelact.stream import protocol as P
from skelact.stream.client import push_socket
from skelact.stream.sources.sender import LIVE_HWM, LiveSender


def read_skeleton(t: float) -> np.ndarray:
    """Stand-in for a mocap SDK: (J=20, 3) kinect20 joints in metres (x left, y up, z away)."""
    joints = np.zeros((20, 3), np.float32)
    joints[:, 1] = np.linspace(0.0, 0.9, 20)  # a crude upright body
    joints[:, 2] = 2.5
    joints[7, 1] += 0.3 * math.sin(2 * math.pi * 0.5 * t)  # HandLeft waves
    return joints


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--to", default=P.DEFAULT_IN)
    ap.add_argument("--stream", default="mocap0")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--fps", type=float, default=30.0)
    args = ap.parse_args()
    sock = push_socket(zmq.Context.instance(), args.to, hwm=LIVE_HWM, linger_ms=2000)
    sender = LiveSender(sock)  # NOBLOCK sends: a live source drops frames, it never waits
    for seq in range(args.frames):
        t = seq / args.fps  # capture time in seconds (use your system's clock)
        sender.send(P.encode_pose(args.stream, seq, t, "kinect20", read_skeleton(t)[None], tracks=[0]))
        time.sleep(1.0 / args.fps)
    sender.send_final(P.encode_eos(args.stream))
    sock.close()
    print(f"sent {sender.sent} messages ({sender.unsent} not sent), the last one the eos")


if __name__ == "__main__":
    main()
