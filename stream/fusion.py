"""SST-A: joint-level aggregation of several pose estimators (Yang et al., WACV 2021).

Selective Spatio-Temporal Aggregation, paper section 3.1 ("Selective Spatio-Temporal
Aggregation"), equations (1)-(4):

1. **Joint-level aggregation** (eq. 1, 2). Each joint of the aggregated pose is *one* of the
   estimators' keypoints, never an average. On the first frame, per joint, the two
   estimators whose keypoints are closest to each other are found and "any one of the two"
   is taken (here: the one listed first in the estimator order, so the order is a
   priority). On every later frame each joint takes the estimator whose keypoint is closest
   to the same joint of the previous frame's aggregate. ``D`` is the Euclidean distance.
2. **Body-level aggregation** (eq. 3, 4). A confidence
   ``C = exp(-1/(N*M) * sum_v sum_k D(P_A(v), P_k(v)) / (D_normal + eps))`` with ``N``
   joints, ``M`` estimators, ``D_normal`` the head-neck distance of the aggregate and
   ``eps = 1e-12``. A frame with ``C < gamma`` is discarded (``gamma = 0.18``, paper
   section 4.2).

Choices where the paper is silent (documented in docs/sources.md):

* Missing keypoints (NaN) are what SST-A is meant to fill: a joint is chosen among the
  estimators that have it; if only one has it, that one is taken; if none has it, the
  aggregate joint is NaN. A joint whose previous aggregate is NaN (first frame, after a
  frame without it, or after ``reset``) uses the first-frame rule (closest pair).
* The confidence averages over the (joint, estimator) pairs where both are finite. With a
  single estimator present every distance is 0 and ``C = 1``: agreement cannot be
  measured then, only the temporal selection applies.
* If the head or neck of the aggregate is missing, ``C`` cannot be computed and is 0
  (the frame is flagged).
* The temporal reference is the previous frame's aggregate whether or not that frame
  passed the confidence filter (step 1 builds the whole aggregated sequence, step 2 then
  filters it, as the paper orders them).
* Works on any number of coordinates (2-D image points or 3-D metres); units of ``D`` and
  ``D_normal`` cancel in ``C``.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .layouts import get_layout
from .sequence import Sequence

__all__ = [
    "DEFAULT_GAMMA",
    "SSTA",
    "SSTAResult",
    "head_neck_joints",
    "ssta_aggregate",
    "fuse_sequences",
    "fuse_files",
]

DEFAULT_GAMMA = 0.18
"""Confidence threshold gamma of the paper (section 4.2)."""

_EPS = 1e-12  # eq. (4): offset against D_normal = 0

# Head and neck of each layout as lists of joints whose mean is the point (the paper's
# 13-joint OpenPose/LCRNet skeleton has both; MediaPipe and COCO have no neck, so the
# neck is the shoulder midpoint and the head the ear midpoint).
_HEAD_NECK: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "canonical20": (("head",), ("shoulder_center",)),
    "kinect_v1_20": (("Head",), ("ShoulderCenter",)),
    "ntu25": (("Head",), ("Neck",)),
    "mediapipe33": (("left_ear", "right_ear"), ("left_shoulder", "right_shoulder")),
    "coco17": (("left_ear", "right_ear"), ("left_shoulder", "right_shoulder")),
}


def head_neck_joints(layout: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(head joint indices, neck joint indices) of a layout: the mean of each set is the
    head/neck point whose distance is the paper's ``D_normal``."""
    lay = get_layout(layout)
    try:
        head, neck = _HEAD_NECK[lay.name]
    except KeyError:
        raise KeyError(f"SST-A has no head/neck definition for layout {lay.name!r}") from None
    return tuple(lay.index(n) for n in head), tuple(lay.index(n) for n in neck)


class SSTA:
    """Live SST-A stage: one frame of several estimates in, one aggregated pose out.

    ``head``/``neck``: joint indices whose means define ``D_normal`` (see
    ``head_neck_joints``). ``gamma``: confidence threshold (frames below are discarded).
    After each ``push``, ``last_choice`` (J,) holds the estimator index chosen per joint
    (-1 = none had it), ``last_aggregate`` the aggregate before filtering and
    ``last_kept`` whether the frame passed.
    """

    def __init__(self, head: Seq[int], neck: Seq[int], gamma: float = DEFAULT_GAMMA) -> None:
        if not head or not neck:
            raise ValueError("SST-A needs head and neck joint indices")
        self.head = tuple(int(i) for i in head)
        self.neck = tuple(int(i) for i in neck)
        self.gamma = float(gamma)
        self._prev: np.ndarray | None = None
        self.last_choice: np.ndarray | None = None
        self.last_aggregate: np.ndarray | None = None
        self.last_kept = False

    @classmethod
    def for_layout(cls, layout: str, gamma: float = DEFAULT_GAMMA) -> SSTA:
        """An SST-A stage with the layout's head and neck joints."""
        head, neck = head_neck_joints(layout)
        return cls(head, neck, gamma)

    def reset(self) -> None:
        """Forget the previous aggregate (a new stream, or the person was lost)."""
        self._prev = None

    def push(self, estimates: np.ndarray) -> tuple[np.ndarray | None, float]:
        """Aggregate one frame.

        ``estimates``: (E, J, D) coordinates (D = 2 or 3; extra channels beyond 3 are
        ignored), NaN = the estimator has no such keypoint (a whole NaN row = it saw no
        person). Returns ``(fused (J, D) or None, confidence)``: None when the frame is
        discarded (``confidence < gamma``) or when no estimator saw anyone (confidence 0).
        """
        est = np.asarray(estimates, dtype=np.float64)
        if est.ndim != 3 or est.shape[0] < 1:
            raise ValueError(f"estimates must be (E, J, D), got shape {est.shape}")
        est = est[..., : min(est.shape[-1], 3)]
        E, J, _ = est.shape
        finite = np.isfinite(est).all(-1)  # (E, J)
        prev = self._prev if self._prev is not None and self._prev.shape == (J, est.shape[-1]) else None
        choice = np.full(J, -1, dtype=np.int64)
        if prev is not None:
            d_prev = np.linalg.norm(est - prev[None], axis=-1)  # (E, J); NaN where either missing
            d_prev = np.where(finite, d_prev, np.inf)
            temporal = np.isfinite(prev).all(-1) & finite.any(0)
            choice[temporal] = np.argmin(d_prev[:, temporal], axis=0)
        else:
            temporal = np.zeros(J, dtype=bool)
        first = ~temporal & finite.any(0)
        if first.any():
            choice[first] = _closest_pair_first(est[:, first], finite[:, first])
        agg = np.full(est.shape[1:], np.nan)
        has = choice >= 0
        agg[has] = est[choice[has], np.flatnonzero(has)]
        self._prev = agg
        self.last_choice = choice
        self.last_aggregate = agg
        conf = self._confidence(agg, est, finite)
        self.last_kept = bool(has.any() and conf >= self.gamma)
        return (agg if self.last_kept else None), conf

    def _confidence(self, agg: np.ndarray, est: np.ndarray, finite: np.ndarray) -> float:
        """Eq. (4), averaged over the (joint, estimator) pairs that are both present."""
        d_norm = float(np.linalg.norm(agg[list(self.head)].mean(0) - agg[list(self.neck)].mean(0)))
        pair = finite & np.isfinite(agg).all(-1)[None]
        if not np.isfinite(d_norm) or not pair.any():
            return 0.0
        d = np.linalg.norm(est - agg[None], axis=-1)[pair]
        return float(np.exp(-float(d.mean()) / (d_norm + _EPS)))


def _closest_pair_first(est: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """Eq. (1), t = 0: per joint, the first estimator of the closest pair (E, J', D) -> (J',).
    A joint seen by only one estimator takes that one."""
    E = est.shape[0]
    if E == 1:
        return np.zeros(est.shape[1], dtype=np.int64)
    d = np.linalg.norm(est[:, None] - est[None, :], axis=-1)  # (E, E, J')
    ok = finite[:, None] & finite[None, :] & ~np.eye(E, dtype=bool)[..., None]
    d = np.where(ok, d, np.inf)
    flat = d.reshape(E * E, -1)
    best = np.argmin(flat, axis=0)  # row-major: smallest (i, j) pair first on ties
    a, b = np.divmod(best, E)
    pick = np.minimum(a, b)
    alone = ~np.isfinite(flat.min(axis=0))  # fewer than two estimators have the joint
    if alone.any():
        pick[alone] = np.argmax(finite[:, alone], axis=0)
    return pick.astype(np.int64)


@dataclass
class SSTAResult:
    """Offline SST-A over a sequence.

    ``fused`` (T, J, D): the aggregate with discarded frames set to NaN; ``aggregate``
    (T, J, D): before filtering; ``confidence`` (T,); ``kept`` (T,) bool; ``choice``
    (T, J) estimator index per joint (-1 = none).
    """

    fused: np.ndarray
    aggregate: np.ndarray
    confidence: np.ndarray
    kept: np.ndarray
    choice: np.ndarray


def ssta_aggregate(estimates: np.ndarray, head: Seq[int], neck: Seq[int],
                   gamma: float = DEFAULT_GAMMA) -> SSTAResult:  # fmt: skip
    """SST-A over whole sequences: ``estimates`` (E, T, J, D) -> ``SSTAResult``.

    Causal (frame t uses frames <= t only), so it equals running ``SSTA.push`` live.
    """
    est = np.asarray(estimates, dtype=np.float64)
    if est.ndim != 4:
        raise ValueError(f"estimates must be (E, T, J, D), got shape {est.shape}")
    stage = SSTA(head, neck, gamma)
    E, T, J, D = est.shape
    D = min(D, 3)
    agg = np.full((T, J, D), np.nan)
    conf = np.zeros(T)
    kept = np.zeros(T, dtype=bool)
    choice = np.full((T, J), -1, dtype=np.int64)
    for t in range(T):
        _, conf[t] = stage.push(est[:, t])
        agg[t] = stage.last_aggregate
        kept[t] = stage.last_kept
        choice[t] = stage.last_choice
    fused = agg.copy()
    fused[~kept] = np.nan
    return SSTAResult(fused, agg, conf, kept, choice)


def fuse_sequences(seqs: Seq[Sequence], gamma: float = DEFAULT_GAMMA, seq_id: str | None = None) -> Sequence:
    """Fuse the same recording seen by several estimators into one ``Sequence``.

    All sequences need the same layout and frame count (same frames, e.g. several
    estimators run on one video); person slot ``p`` of each is fused with slot ``p`` of
    the others. Discarded frames are NaN persons. ``meta['ssta_confidence']`` is (T, P).
    Timestamps come from the first sequence.
    """
    if not seqs:
        raise ValueError("fuse_sequences needs at least one sequence")
    first = seqs[0]
    lay = get_layout(first.layout).name
    for s in seqs[1:]:
        if get_layout(s.layout).name != lay:
            raise ValueError(f"layouts differ: {first.id}={first.layout}, {s.id}={s.layout}")
        if s.num_frames != first.num_frames:
            raise ValueError(f"frame counts differ: {first.id}={first.num_frames}, {s.id}={s.num_frames}")
    head, neck = head_neck_joints(lay)
    P = max(s.num_persons for s in seqs)
    T, J = first.num_frames, first.joints.shape[2]
    out = np.full((T, P, J, 3), np.nan, dtype=np.float32)
    conf = np.zeros((T, P), dtype=np.float32)
    for p in range(P):
        est = np.full((len(seqs), T, J, 3), np.nan)
        for e, s in enumerate(seqs):
            if p < s.num_persons:
                est[e] = s.joints[:, p, :, :3]
        res = ssta_aggregate(est, head, neck, gamma)
        out[:, p] = res.fused
        conf[:, p] = res.confidence
    return Sequence(
        id=seq_id or first.id, joints=out, layout=first.layout, fps=first.fps, t=first.t.copy(),
        labels=first.labels, units=first.units,
        meta={"ssta_confidence": conf, "ssta_gamma": gamma, "ssta_sources": [s.id for s in seqs]},
    )  # fmt: skip


def fuse_files(paths: Seq[str | Path], gamma: float = DEFAULT_GAMMA, seq_id: str | None = None) -> Sequence:
    """``fuse_sequences`` on files (``FILE[:SEQ]`` specs any loader reads, e.g. several
    ``.pose.npz`` made by different estimators on the same video)."""
    from .formats import load_sequence

    return fuse_sequences([load_sequence(p) for p in paths], gamma=gamma, seq_id=seq_id)
