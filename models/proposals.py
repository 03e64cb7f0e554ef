"""Offline post-processing of whole-sequence scores into action segments (numpy only).

This is the non-causal inference of the S-WTAL + FLR paper (Yu & Fujiwara,
AAAI 2023), used by ``skelact detect --offline`` for evaluation. The paper says
(Experiment, "Implementation Details", last paragraph): "During inference, we reject
the category whose class probability r^c in Eq. (5) is lower than 0.1. Following
(Huang, Wang, and Li 2021), a set of thresholds are used to obtain the predicted
action segments, then non-maximum suppression is performed to remove overlapping
segments"; and (Experimental Setup, "Evaluation Protocols") that it adopts the
official evaluation code of FAC-Net (Huang, Wang, and Li 2021). The paper does not
spell out the proposal score; FAC-Net's official code (``getActLoc`` in its
``evaluation/detectionMAP.py``) uses the outer-inner contrast, reproduced here:

1. classes whose video-level score is below ``class_threshold`` (0.1) are rejected;
2. for every threshold, each maximal run of frames whose score is ``> threshold`` and
   at least ``min_length`` frames long is a proposal ``[s, e]`` (inclusive);
3. its score is ``inner - outer_weight * outer``: ``inner`` the mean frame score over
   ``[s, e]``, ``outer`` the mean over up to ``ceil(outer_ratio * L)`` frames on each
   side (``L = e - s + 1``, clipped to the sequence; 0 when there is none), with
   FAC-Net's ``outer_ratio = 0.25`` and ``outer_weight = 0.6``;
4. class-wise non-maximum suppression over the proposals of all thresholds.

Cleaned-up details relative to FAC-Net's code (documented, not silent): FAC-Net's
inner mean also takes the first frame after the run and its outer window is one frame
lopsided; here both are symmetric over the inclusive run. FAC-Net's NMS suppresses on
intersection over the *suppressed* segment's length (``nms_metric="ios"``); the
default here is the usual temporal IoU (``"iou"``), threshold configurable. Frame
indices are model-frame indices of the ``(T, K)`` input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_THRESHOLDS", "ProposalConfig", "nms", "propose", "segments_above"]

# Per-frame probability thresholds. FAC-Net sweeps np.arange(0.032, 0.055, 0.004) on its
# own (tiny) softmax outputs; our frame scores are class probabilities in [0, 1], so the
# sweep covers that range instead.
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.1 + 0.05 * i, 2) for i in range(17))  # 0.10..0.90


@dataclass(frozen=True)
class ProposalConfig:
    """Settings of :func:`propose` (defaults: the paper's 0.1 class rejection and FAC-Net's
    proposal scoring and NMS threshold).

    ``class_threshold``: reject classes whose video score is below it.
    ``thresholds``: per-frame score thresholds, each generating proposals.
    ``min_length``: shortest proposal in frames (FAC-Net: 3).
    ``outer_ratio``, ``outer_weight``: outer-inner contrast (FAC-Net: 0.25, 0.6).
    ``nms_threshold``: proposals overlapping a better one by more than this are removed
    (FAC-Net: 0.2). ``nms_metric``: "iou" (temporal IoU) or "ios" (intersection over the
    lower-scored segment's length, as FAC-Net).
    """

    class_threshold: float = 0.1
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    min_length: int = 3
    outer_ratio: float = 0.25
    outer_weight: float = 0.6
    nms_threshold: float = 0.2
    nms_metric: str = "iou"

    def __post_init__(self) -> None:
        if not self.thresholds:
            raise ValueError("proposal thresholds must not be empty")
        if any(not np.isfinite(float(x)) for x in self.thresholds):
            raise ValueError(f"proposal thresholds must be finite; got {self.thresholds}")
        if isinstance(self.min_length, bool) or not isinstance(self.min_length, (int, np.integer)) or self.min_length < 1:
            raise ValueError(f"min_length must be an integer >= 1 (frames); got {self.min_length!r}")
        if not (self.outer_ratio >= 0.0 and np.isfinite(self.outer_ratio)):
            raise ValueError(f"outer_ratio must be >= 0; got {self.outer_ratio}")
        if not np.isfinite(self.outer_weight):
            raise ValueError(f"outer_weight must be finite; got {self.outer_weight}")
        if not (0.0 <= self.nms_threshold <= 1.0):
            raise ValueError(f"nms_threshold must be in [0, 1]; got {self.nms_threshold}")
        if self.nms_metric not in ("iou", "ios"):
            raise ValueError(f"nms_metric must be 'iou' or 'ios'; got {self.nms_metric!r}")


def segments_above(x: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Maximal runs of ``x > threshold`` as inclusive ``(start, end)`` frame pairs."""
    m = np.concatenate([[False], np.asarray(x) > threshold, [False]])
    d = np.diff(m.astype(np.int8))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def _oic_score(x: np.ndarray, s: int, e: int, ratio: float, weight: float) -> float:
    """Outer-inner contrast of the inclusive run [s, e] of the 1-D scores ``x``."""
    length = e - s + 1
    inner = float(np.mean(x[s : e + 1]))
    w = math.ceil(ratio * length)
    left = x[max(0, s - w) : s]
    right = x[e + 1 : min(len(x), e + 1 + w)]
    n = left.size + right.size
    outer = float((left.sum() + right.sum()) / n) if n else 0.0
    return inner - weight * outer


def _overlap(s: int, e: int, ss: np.ndarray, es: np.ndarray, metric: str) -> np.ndarray:
    inter = np.maximum(0, np.minimum(e, es) - np.maximum(s, ss) + 1).astype(np.float64)
    other = (es - ss + 1).astype(np.float64)
    if metric == "ios":
        return inter / other
    return inter / ((e - s + 1) + other - inter)


def nms(segments: list[tuple[int, int, float]], threshold: float, metric: str = "iou") -> list[int]:
    """Greedy 1-D NMS over inclusive ``(start, end, score)`` segments of one class.

    Returns the kept indices, best first. Ties in score keep input order (stable), so
    the result is deterministic. A segment is suppressed when its overlap with a kept
    one is ``> threshold``.
    """
    if not segments:
        return []
    arr = np.asarray(segments, dtype=np.float64)
    ss, es, sc = arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2]
    order = np.argsort(-sc, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        ov = _overlap(int(ss[i]), int(es[i]), ss[rest], es[rest], metric)
        order = rest[ov <= threshold]
    return keep


def propose(
    frame_scores: np.ndarray, video_scores: np.ndarray, cfg: ProposalConfig | None = None
) -> list[tuple[int, int, int, float]]:
    """Segments from one sequence's scores.

    ``frame_scores``: ``(T, K)`` per-frame class probabilities (model frames);
    ``video_scores``: ``(K,)`` video-level class scores. Non-finite frame scores count
    as 0. Returns ``(class_index, start_frame, end_frame, score)`` with inclusive
    frames, sorted by class index, then score descending, then start.
    """
    cfg = cfg or ProposalConfig()
    x = np.asarray(frame_scores, dtype=np.float64)
    v = np.asarray(video_scores, dtype=np.float64).reshape(-1)
    if x.ndim != 2:
        raise ValueError(f"frame_scores must be (T, K); got shape {x.shape}")
    if v.shape[0] != x.shape[1]:
        raise ValueError(f"video_scores has {v.shape[0]} classes, frame_scores {x.shape[1]}")
    x = np.where(np.isfinite(x), x, 0.0)
    out: list[tuple[int, int, int, float]] = []
    for c in range(x.shape[1]):
        if not (v[c] >= cfg.class_threshold):  # also rejects NaN video scores
            continue
        col = x[:, c]
        seen: set[tuple[int, int]] = set()
        cand: list[tuple[int, int, float]] = []
        for thr in cfg.thresholds:
            for s, e in segments_above(col, float(thr)):
                if e - s + 1 < cfg.min_length or (s, e) in seen:
                    continue  # a run found at several thresholds is one proposal
                seen.add((s, e))
                cand.append((s, e, _oic_score(col, s, e, cfg.outer_ratio, cfg.outer_weight)))
        cand.sort(key=lambda p: (p[0], p[1]))  # canonical order before the stable NMS
        kept = [cand[i] for i in nms(cand, cfg.nms_threshold, cfg.nms_metric)]
        kept.sort(key=lambda p: (-p[2], p[0], p[1]))
        out += [(c, s, e, float(sc)) for s, e, sc in kept]
    return out
