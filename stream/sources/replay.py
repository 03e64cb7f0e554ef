"""Replay recorded sequences as protocol v1 pose frames.

Row ``i`` of a sequence becomes a frame with ``seq = i`` and ``t`` = its original
timestamp, every person slot included (absent persons are all-NaN) with ``tracks``
0..P-1 — exactly what ``skelact detect`` feeds its core, so both see the same input.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from .. import protocol as P
from ..sequence import Sequence

__all__ = ["sequence_messages", "pace"]


def sequence_messages(seq: Sequence, stream: str, eos: bool = True) -> Iterator[tuple[float, list[bytes]]]:
    """(source time s, multipart message) for each row, then an eos (time of the last row)."""
    joints = np.ascontiguousarray(seq.joints, dtype=np.float32)
    tracks = list(range(joints.shape[1]))
    for i in range(seq.num_frames):
        yield float(seq.t[i]), P.encode_pose(stream, i, float(seq.t[i]), seq.layout, joints[i], tracks=tracks,
                                             units=seq.units)  # fmt: skip
    if eos:
        yield float(seq.t[-1]) if seq.num_frames else 0.0, P.encode_eos(stream)


def pace(items: Iterator[tuple[float, list[bytes]]], speed: float | None = 1.0,
         fps: float | None = None) -> Iterator[tuple[float, list[bytes]]]:  # fmt: skip
    """Yield items at their source times scaled by ``speed`` (None = as fast as possible),
    or at a fixed ``fps`` when given."""
    start = time.monotonic()
    t0 = None
    for k, (t, msg) in enumerate(items):
        if t0 is None:
            t0 = t
        if fps:
            due = start + k / fps
        elif speed:
            due = start + (t - t0) / speed
        else:
            due = None
        if due is not None:
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield t, msg
