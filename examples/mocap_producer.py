"""A motion-capture producer speaking skelact's wire protocol v1 with raw pyzmq (no skelact).

Replace `read_skeleton()` with your mocap SDK's frame callback. Run a runtime
(`skelact serve`), then: python examples/mocap_producer.py --to tcp://127.0.0.1:5555
"""

import argparse
import json
import math
import time

import numpy as np
import zmq

J = 20  # layout "kinect20": HipCenter, Spine, ShoulderCenter, Head, ShoulderLeft, ...


def read_skeleton(t: float) -> np.ndarray:
    """Stand-in for a mocap SDK: (J, 3) joints in metres (x left, y up, z away)."""
    base = np.zeros((J, 3), np.float32)
    base[:, 1] = np.linspace(0.0, 0.9, J)  # a crude upright body
    base[:, 2] = 2.5
    base[7, 1] += 0.3 * math.sin(2 * math.pi * 0.5 * t)  # HandLeft waves
    return base


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--to", default="tcp://127.0.0.1:5555")
    ap.add_argument("--stream", default="mocap0")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--fps", type=float, default=30.0)
    args = ap.parse_args()
    sock = zmq.Context.instance().socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDHWM, 100)  # bound the queue; never block on a slow runtime
    sock.setsockopt(zmq.LINGER, 2000)
    sock.connect(args.to)
    unsent = 0
    for seq in range(args.frames):
        t = seq / args.fps  # capture time in seconds (use your system's clock)
        joints = read_skeleton(t)[None]  # (P=1, J, C=3) float32; NaN = missing joint
        header = {"v": 1, "type": "pose", "stream": args.stream, "seq": seq, "t": t,
                  "layout": "kinect20", "shape": list(joints.shape), "dtype": "float32",
                  "tracks": [0], "units": "m"}
        try:
            sock.send_multipart([json.dumps(header).encode(), joints.astype("<f4").tobytes()], zmq.NOBLOCK)
        except zmq.Again:
            unsent += 1  # the runtime is not keeping up: drop, never wait
        time.sleep(1.0 / args.fps)
    sock.send_multipart([json.dumps({"v": 1, "type": "eos", "stream": args.stream}).encode()])
    sock.close()
    print(f"sent {args.frames - unsent} frames ({unsent} dropped) and eos")


if __name__ == "__main__":
    main()
