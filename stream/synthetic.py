"""Parametric synthetic skeleton motion with known action intervals.

For unit tests and benchmarks only — never a substitute for real data in evaluation.
A Kinect v1 (``kinect_v1_20``) standing body sways and breathes; actions are smooth
limb motions (raise an arm, punch, kick, squat, wave) placed at random non-overlapping
intervals. Everything is determined by the seed.
"""

from __future__ import annotations

import numpy as np

from .labels import Interval, Labels
from .sequence import Dataset, Sequence

__all__ = ["ACTIONS", "make_dataset", "make_sequence"]

# Standing pose in Kinect space (metres; +x camera's left, +y up, +z away), subject
# facing the camera 2.5 m away: the subject's right side has larger x.
_REST = np.array([
    [0.00, 0.00, 2.50], [0.00, 0.20, 2.52], [0.00, 0.45, 2.53], [0.00, 0.62, 2.53],  # pelvis..head
    [-0.18, 0.40, 2.53], [-0.22, 0.14, 2.53], [-0.24, -0.10, 2.51], [-0.25, -0.18, 2.50],  # left arm
    [0.18, 0.40, 2.53], [0.22, 0.14, 2.53], [0.24, -0.10, 2.51], [0.25, -0.18, 2.50],  # right arm
    [-0.09, -0.05, 2.50], [-0.10, -0.48, 2.50], [-0.10, -0.88, 2.52], [-0.10, -0.94, 2.45],  # left leg
    [0.09, -0.05, 2.50], [0.10, -0.48, 2.50], [0.10, -0.88, 2.52], [0.10, -0.94, 2.45],  # right leg
], dtype=np.float64)  # fmt: skip

ACTIONS = {1: "raise_right_arm", 2: "raise_left_arm", 3: "punch_right", 4: "kick_left", 5: "squat", 6: "wave_right"}


def _apply(pose: np.ndarray, cls: int, phase: float) -> np.ndarray:
    """Deform ``pose`` (20, 3) by action ``cls`` at ``phase`` in [0, 1] (0 and 1 = rest)."""
    a = np.sin(np.pi * phase)  # 0 -> 1 -> 0 envelope
    p = pose.copy()
    if cls in (1, 2):
        sh, el, wr, ha = (8, 9, 10, 11) if cls == 1 else (4, 5, 6, 7)
        for j, r in ((el, 0.26), (wr, 0.50), (ha, 0.58)):
            p[j, 1] = pose[sh, 1] + (pose[j, 1] - pose[sh, 1]) * (1 - a) + r * a
    elif cls == 3:
        for j, r in ((9, 0.25), (10, 0.5), (11, 0.58)):
            p[j, 2] -= r * a
            p[j, 1] = p[j, 1] * (1 - a) + pose[8, 1] * a
    elif cls == 4:
        for j, r in ((13, 0.25), (14, 0.55), (15, 0.62)):
            p[j, 2] -= r * a
            p[j, 1] += 0.35 * r * a
    elif cls == 5:
        p[:, 1] -= 0.35 * a * (p[:, 1] > -0.5)
        p[[13, 17], 2] -= 0.25 * a
    elif cls == 6:
        for j, r in ((9, 0.26), (10, 0.50), (11, 0.58)):
            p[j, 1] = pose[8, 1] + (pose[j, 1] - pose[8, 1]) * (1 - a) + r * a
        p[[10, 11], 0] += 0.12 * a * np.sin(6 * np.pi * phase)
    return p


def make_sequence(
    seq_id: str,
    num_frames: int = 600,
    fps: float = 30.0,
    num_actions: int = 5,
    classes: tuple[int, ...] = tuple(ACTIONS),
    noise_m: float = 0.005,
    seed: int = 0,
) -> Sequence:
    """One sequence with ``num_actions`` actions of 20-60 frames, gaps of >= 15 frames."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / fps
    base = _REST + rng.normal(0, 0.01, _REST.shape) * [1, 0, 1]
    frames = np.empty((num_frames, 20, 3))
    sway = 0.02 * np.sin(2 * np.pi * 0.2 * t + rng.uniform(0, 6))
    for i in range(num_frames):
        frames[i] = base + [sway[i], 0.005 * np.sin(2 * np.pi * 0.3 * t[i]), 0]
    intervals: list[Interval] = []
    cursor = int(rng.integers(10, 40))
    for _ in range(num_actions):
        length = int(rng.integers(20, 61))
        if cursor + length >= num_frames - 5:
            break
        cls = int(rng.choice(classes))
        for k in range(length):
            frames[cursor + k] = _apply(frames[cursor + k], cls, (k + 0.5) / length)
        intervals.append(Interval(cursor, cursor + length - 1, cls))
        cursor += length + int(rng.integers(15, 60))
    frames += rng.normal(0, noise_m, frames.shape)
    joints = frames[:, None].astype(np.float32)
    return Sequence(seq_id, joints, "kinect_v1_20", fps, t, Labels.from_intervals(intervals))


def make_dataset(num_sequences: int = 8, num_frames: int = 600, seed: int = 0) -> Dataset:
    """``num_sequences`` synthetic sequences; the last quarter form the ``test`` split."""
    seqs = {
        f"syn{i:03d}": make_sequence(f"syn{i:03d}", num_frames, seed=seed * 1000 + i)
        for i in range(num_sequences)
    }
    ids = list(seqs)
    n_test = max(1, num_sequences // 4)
    return Dataset(
        name="synthetic",
        sequences=seqs,
        classes=dict(ACTIONS),
        background_id=None,
        label_kind="interval",
        splits={"train": ids[:-n_test], "test": ids[-n_test:]},
        meta={"fps": 30.0, "synthetic": True},
    )
