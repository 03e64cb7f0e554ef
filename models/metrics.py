"""Evaluation metrics for temporal action detection (numpy only, no torch).

* :func:`detection_ap` / :func:`detection_map` — segment-level mAP at temporal-IoU
  thresholds, following the ActivityNet protocol (``compute_average_precision_detection``
  of the ActivityNet Evaluation kit): per class, predictions sorted by score, each
  greedily matched to the still-unmatched ground-truth instance of the same video with
  the highest tIoU >= threshold; AP is the area under the interpolated precision-recall
  curve (:func:`interpolated_prec_rec`).
* :func:`video_map` — mean over classes of the AP of ranking videos by class score
  (video-level multi-label classification, as reported by Yu & Fujiwara, AAAI 2023,
  "Frame-Level Label Refinement for Skeleton-Based Weakly-Supervised Action Recognition").
* :func:`frame_map` — mean over classes of the AP of ranking all frames of all videos
  (pooled) by class score.
* :func:`ood_mask` / :func:`ood_false_starts` — out-of-domain false starts per hour:
  the time of a stream outside every labelled instance of a class that overlaps the
  model's classes is out of domain, and a start event there is a false start.
* :func:`point_f1` / :func:`match_points` — start events against action points (point-level
  labels, MSRC-12): precision, recall and F1 within tolerance windows ``[-before, +after]``
  seconds around each point, one-to-one greedy matching by the smallest ``|offset|``
  (offset = event time - point time), micro and macro F1, median offset of the matches.
  Times are seconds on the data's own clock (each sequence's row times), never ``frame / fps``.

Conventions. Segments are **inclusive frame intervals** ``[start, end]`` (frame indices,
not seconds), so a segment has ``end - start + 1`` frames and tIoU uses those lengths.
Class ids are the dataset's ids. A class with no ground-truth instance (or no positive
video / frame) has no defined AP: it is **excluded** from the mean (and predictions of
such classes are ignored), as in ActivityNet, where the classes come from the ground
truth. All APs are fractions in [0, 1].

Ties. Detection predictions with equal scores keep their input order (stable sort),
so results are deterministic. For the ranking metrics (video, frame) equal scores
form one threshold: precision and recall are taken only after the whole tie group,
so the AP does not depend on input order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence

import numpy as np

__all__ = [
    "DEFAULT_POINT_WINDOWS",
    "DEFAULT_TIOUS",
    "detection_ap",
    "detection_map",
    "frame_ap",
    "frame_map",
    "interpolated_prec_rec",
    "match_points",
    "ood_false_starts",
    "ood_mask",
    "point_f1",
    "point_window",
    "ranking_ap",
    "segment_iou",
    "tiou_key",
    "video_ap",
    "video_map",
    "window_key",
]

DEFAULT_TIOUS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)

# Ground truth: (video, class_id, start, end); prediction: (video, class_id, start, end, score).
GT = tuple[Hashable, int, float, float]
Pred = tuple[Hashable, int, float, float, float]


def tiou_key(x: float) -> str:
    """Dictionary key of a tIoU threshold: ``f"{x:.1f}"`` ("0.1" ... "0.5"); thresholds with
    more decimals keep them (``0.75`` -> "0.75") so keys never collide."""
    k = f"{x:.1f}"
    return k if abs(float(k) - x) < 1e-9 else f"{x:g}"


def segment_iou(seg: tuple[float, float], segs: np.ndarray) -> np.ndarray:
    """tIoU of one inclusive ``[start, end]`` frame segment with each row of ``segs`` (N, 2)."""
    segs = np.asarray(segs, dtype=np.float64).reshape(-1, 2)
    s, e = float(seg[0]), float(seg[1])
    inter = np.clip(np.minimum(e, segs[:, 1]) - np.maximum(s, segs[:, 0]) + 1.0, 0.0, None)
    union = (e - s + 1.0) + (segs[:, 1] - segs[:, 0] + 1.0) - inter
    return inter / union


def interpolated_prec_rec(prec: np.ndarray, rec: np.ndarray) -> float:
    """ActivityNet's interpolated AP: make precision monotone non-increasing from the
    right (the envelope), then sum precision x recall increment over the recall steps."""
    mprec = np.concatenate([[0.0], np.asarray(prec, dtype=np.float64), [0.0]])
    mrec = np.concatenate([[0.0], np.asarray(rec, dtype=np.float64), [1.0]])
    mprec = np.maximum.accumulate(mprec[::-1])[::-1]
    idx = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx]))


def _class_ap(gts: list[GT], preds: list[Pred], tious: np.ndarray) -> np.ndarray:
    """AP at each threshold for one class (``gts`` non-empty)."""
    by_video: dict[Hashable, list[int]] = defaultdict(list)
    for j, g in enumerate(gts):
        by_video[g[0]].append(j)
    gt_segs = np.array([[g[2], g[3]] for g in gts], dtype=np.float64)
    n_t = len(tious)
    if not preds:
        return np.zeros(n_t)
    scores = np.array([p[4] for p in preds], dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    lock = np.full((n_t, len(gts)), False)
    tp = np.zeros((n_t, len(preds)))
    for rank, i in enumerate(order):
        p = preds[i]
        cand = by_video.get(p[0])
        if not cand:
            continue  # a video without ground truth of this class: false positive
        cand_arr = np.asarray(cand)
        iou = segment_iou((p[2], p[3]), gt_segs[cand_arr])
        o = np.argsort(-iou, kind="stable")  # best tIoU first; ties: earlier instance
        by_iou, iou_sorted = cand_arr[o], iou[o]
        for k, thr in enumerate(tious):
            for j, v in zip(by_iou, iou_sorted, strict=True):
                if v < thr:
                    break
                if lock[k, j]:
                    continue
                lock[k, j] = True
                tp[k, rank] = 1.0
                break
    tp_c = np.cumsum(tp, axis=1)
    fp_c = np.cumsum(1.0 - tp, axis=1)
    rec = tp_c / len(gts)
    prec = tp_c / (tp_c + fp_c)
    return np.array([interpolated_prec_rec(prec[k], rec[k]) for k in range(n_t)])


def detection_ap(
    gt: Iterable[Sequence], pred: Iterable[Sequence], tiou_thresholds: Sequence[float] = DEFAULT_TIOUS
) -> dict[int, np.ndarray]:
    """Per-class detection AP at each tIoU threshold.

    ``gt``: ``(video, class_id, start, end)`` rows; ``pred``: ``(video, class_id, start,
    end, score)`` rows; frames inclusive. Returns ``{class_id: array(len(tious))}`` for
    every class with ground truth (sorted by class id); other classes are excluded.
    """
    tious = np.asarray(list(tiou_thresholds), dtype=np.float64)
    if tious.size == 0 or np.any(~(tious > 0)) or np.any(tious > 1):
        raise ValueError(f"tIoU thresholds must be in (0, 1]; got {list(tiou_thresholds)}")
    gts: dict[int, list[GT]] = defaultdict(list)
    for g in gt:
        v, c, s, e = g[0], int(g[1]), float(g[2]), float(g[3])
        if e < s:
            raise ValueError(f"ground-truth segment ends before it starts: {tuple(g)}")
        gts[c].append((v, c, s, e))
    preds: dict[int, list[Pred]] = defaultdict(list)
    for p in pred:
        v, c, s, e, sc = p[0], int(p[1]), float(p[2]), float(p[3]), float(p[4])
        if e < s:
            raise ValueError(f"predicted segment ends before it starts: {tuple(p)}")
        if not np.isfinite(sc):
            raise ValueError(f"predicted segment has a non-finite score: {tuple(p)}")
        preds[c].append((v, c, s, e, sc))
    return {c: _class_ap(gts[c], preds.get(c, []), tious) for c in sorted(gts)}


def detection_map(
    gt: Iterable[Sequence], pred: Iterable[Sequence], tiou_thresholds: Sequence[float] = DEFAULT_TIOUS
) -> dict[str, float]:
    """Mean AP over classes with ground truth at each threshold, keyed by :func:`tiou_key`
    ("0.1" ... "0.5"), plus "avg" (the mean over thresholds). Fractions in [0, 1].
    Raises ``ValueError`` when there is no ground truth at all."""
    tious = list(tiou_thresholds)
    per_class = detection_ap(gt, pred, tious)
    if not per_class:
        raise ValueError("no ground-truth segments: detection mAP is undefined")
    m = np.mean(np.stack(list(per_class.values())), axis=0)
    out = {tiou_key(x): float(v) for x, v in zip(tious, m, strict=True)}
    out["avg"] = float(np.mean(m))
    return out


def ranking_ap(labels: np.ndarray, scores: np.ndarray) -> float:
    """AP of ranking items by ``scores`` against binary ``labels`` (1-D), interpolated as
    ActivityNet does; equal scores form one threshold. NaN when there is no positive."""
    y = np.asarray(labels).astype(bool).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"labels {y.shape} and scores {s.shape} differ in shape")
    npos = int(y.sum())
    if npos == 0:
        return float("nan")
    s = np.where(np.isnan(s), -np.inf, s)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tp_c = np.cumsum(y)
    fp_c = np.cumsum(~y)
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])  # end of each tie group
    tp_c, fp_c = tp_c[last].astype(np.float64), fp_c[last].astype(np.float64)
    return interpolated_prec_rec(tp_c / (tp_c + fp_c), tp_c / npos)


def _column_aps(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    if labels.shape != scores.shape or labels.ndim != 2:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} must be equal (N, K) shapes")
    return np.array([ranking_ap(labels[:, k], scores[:, k]) for k in range(labels.shape[1])])


def _nanmean(aps: np.ndarray) -> float:
    ok = ~np.isnan(aps)
    if not ok.any():
        raise ValueError("no class has a positive example: mAP is undefined")
    return float(aps[ok].mean())


def video_ap(gt_video_labels: np.ndarray, video_scores: np.ndarray) -> np.ndarray:
    """(K,) AP per class of ranking N videos: ``gt_video_labels`` (N, K) bool (class present),
    ``video_scores`` (N, K). NaN for classes present in no video."""
    return _column_aps(np.asarray(gt_video_labels).astype(bool), np.asarray(video_scores, dtype=np.float64))


def video_map(gt_video_labels: np.ndarray, video_scores: np.ndarray) -> float:
    """Video-level classification mAP: mean of :func:`video_ap` over classes present in
    at least one video."""
    return _nanmean(video_ap(gt_video_labels, video_scores))


def frame_ap(frame_labels: Sequence[np.ndarray], frame_scores: Sequence[np.ndarray]) -> np.ndarray:
    """(K,) per-frame AP per class, frames of all videos pooled: ``frame_labels[i]``
    (T_i, K) bool multi-hot, ``frame_scores[i]`` (T_i, K). NaN for classes with no
    positive frame."""
    if len(frame_labels) != len(frame_scores):
        raise ValueError(f"{len(frame_labels)} label arrays for {len(frame_scores)} score arrays")
    if not len(frame_labels):
        raise ValueError("frame_ap needs at least one video")
    for i, (lab, sc) in enumerate(zip(frame_labels, frame_scores, strict=True)):
        if np.shape(lab) != np.shape(sc) or np.ndim(lab) != 2:
            raise ValueError(f"video {i}: labels {np.shape(lab)} and scores {np.shape(sc)} must be equal (T, K)")
    lab = np.concatenate([np.asarray(x).astype(bool) for x in frame_labels])
    sc = np.concatenate([np.asarray(x, dtype=np.float64) for x in frame_scores])
    return _column_aps(lab, sc)


def frame_map(frame_labels: Sequence[np.ndarray], frame_scores: Sequence[np.ndarray]) -> float:
    """Frame-level mAP: mean of :func:`frame_ap` over classes with a positive frame."""
    return _nanmean(frame_ap(frame_labels, frame_scores))


# ----------------------------------------------------------------------------- out of domain


def ood_mask(t: np.ndarray, overlapping: Iterable[tuple[float, float]]) -> np.ndarray:
    """(T,) bool: True for the rows of a stream (row times ``t``, seconds) that lie outside
    every span ``(start_s, end_s)`` (inclusive) of an instance of an overlapping class.
    Masking is per instance, not per sequence: a recording with one kick in it is still
    out of domain everywhere else."""
    t = np.asarray(t, dtype=np.float64)
    out = np.ones(len(t), dtype=bool)
    for a, b in overlapping:
        out &= ~((t >= a) & (t <= b))
    return out


def _row_durations(t: np.ndarray, max_gap_s: float = 1.0) -> np.ndarray:
    """Seconds each row stands for: the time to the next row (the last row: the median
    step), capped at ``max_gap_s`` so recording gaps do not count as watched time."""
    t = np.asarray(t, dtype=np.float64)
    if len(t) < 2:
        return np.zeros(len(t))
    d = np.diff(t)
    d = np.append(d, np.median(d))
    return np.clip(d, 0.0, max_gap_s)


def ood_false_starts(streams: dict[Hashable, np.ndarray], overlapping: dict[Hashable, list[tuple[float, float]]],
                     starts: Iterable[tuple[Hashable, int, int]]) -> dict:  # fmt: skip
    """Out-of-domain false starts per stream-hour.

    ``streams``: stream id -> row times (seconds). ``overlapping``: stream id -> the
    (start_s, end_s) spans of instances of classes that overlap the model's classes.
    ``starts``: (stream, row index, class_id) of every start event (the row its ``seq``
    names). Starts of streams not in ``streams`` are ignored.

    Returns ``ood_hours`` (out-of-domain time, hours), ``ood_false_starts`` (starts on
    an out-of-domain row), ``ood_false_starts_per_hour`` (NaN without OOD time),
    ``per_class`` ({class_id: false starts}) and ``starts_in_domain`` (starts inside an
    overlapping instance: not counted against the model).
    """
    masks = {s: ood_mask(t, overlapping.get(s, ())) for s, t in streams.items()}
    hours = sum(float((_row_durations(t) * masks[s]).sum()) for s, t in streams.items()) / 3600.0
    false = inside = 0
    per_class: dict[int, int] = defaultdict(int)
    for stream, row, cid in starts:
        m = masks.get(stream)
        if m is None or not 0 <= row < len(m):
            continue
        if m[row]:
            false += 1
            per_class[int(cid)] += 1
        else:
            inside += 1
    return {"ood_hours": hours, "ood_false_starts": false,
            "ood_false_starts_per_hour": false / hours if hours > 0 else float("nan"),
            "per_class": dict(sorted(per_class.items())), "starts_in_domain": inside}  # fmt: skip


# ----------------------------------------------------------------------------- action points

# Tolerance windows (before_s, after_s): an event matches a point when
# ``-before_s <= event time - point time <= after_s``.
DEFAULT_POINT_WINDOWS: tuple[tuple[float, float], ...] = ((0.5, 0.5), (0.5, 1.0))

_EPS = 1e-9  # seconds: window edges are inclusive up to float noise; offsets tie at this resolution


def point_window(before: float, after: float) -> tuple[float, float]:
    """A checked tolerance window ``(before_s, after_s)``: finite, both >= 0 (``before`` is
    counted back from the point), not both 0. Raises ``ValueError`` saying what is wrong."""
    b, a = float(before), float(after)
    if not (np.isfinite(b) and np.isfinite(a)):
        raise ValueError(f"window bounds must be finite seconds, got ({before}, {after})")
    if b < 0 or a < 0:
        raise ValueError(f"window bounds are seconds >= 0 (before counts back from the point: [-{abs(b):g}, "
                         f"+{abs(a):g}] is written ({abs(b):g}, {abs(a):g})), got ({before}, {after})")  # fmt: skip
    if b + a <= 0:
        raise ValueError("a window needs before + after > 0 seconds")
    return b, a


def window_key(window: tuple[float, float]) -> str:
    """Dictionary key of a window: ``(0.5, 1.0)`` -> ``"-0.5/+1.0"`` (one decimal at least,
    more when the bound has them: ``(0.25, 1)`` -> ``"-0.25/+1.0"``)."""

    def fmt(x: float) -> str:
        k = f"{x:.1f}"
        return k if abs(float(k) - x) < 1e-9 else f"{x:g}"

    return f"-{fmt(window[0])}/+{fmt(window[1])}"


def match_points(point_times: Sequence[float], event_times: Sequence[float],
                 window: tuple[float, float]) -> list[tuple[int, int, float]]:  # fmt: skip
    """One-to-one matching of events to points of ONE (sequence, class), times in seconds.

    A pair (point i, event j) is a candidate when its offset ``event - point`` lies in
    ``[-before, +after]`` (inclusive). Candidates are taken greedily by the smallest
    ``|offset|``; a pair whose point or event is already taken is skipped. Ties (equal
    ``|offset|`` to 1 ns) go to the earlier point, then to the earlier event, so the result
    does not depend on input order. Returns ``(point index, event index, offset)`` sorted by
    point index (indices into the given sequences).
    """
    before, after = point_window(*window)
    p = np.asarray(point_times, dtype=np.float64).reshape(-1)
    e = np.asarray(event_times, dtype=np.float64).reshape(-1)
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(e))):
        raise ValueError("point and event times must be finite seconds")
    if p.size == 0 or e.size == 0:
        return []
    off = e[None, :] - p[:, None]  # (points, events)
    pi, ej = np.nonzero((off >= -before - _EPS) & (off <= after + _EPS))
    if pi.size == 0:
        return []
    d = off[pi, ej]
    # |offset| first, then the earlier point, then the earlier event (np.lexsort: last key leads).
    order = np.lexsort((ej, pi, e[ej], p[pi], np.round(np.abs(d), 9)))
    used_p: set[int] = set()
    used_e: set[int] = set()
    out: list[tuple[int, int, float]] = []
    for k in order:
        i, j = int(pi[k]), int(ej[k])
        if i in used_p or j in used_e:
            continue
        used_p.add(i)
        used_e.add(j)
        out.append((i, j, float(d[k])))
    return sorted(out)


def _prf(tp: int, n_points: int, n_events: int) -> tuple[float, float, float]:
    """Precision (NaN without events), recall (NaN without points) and F1 = 2TP / (points
    + events) (NaN without either; 0 when only one side is empty)."""
    nan = float("nan")
    prec = tp / n_events if n_events else nan
    rec = tp / n_points if n_points else nan
    f1 = 2.0 * tp / (n_points + n_events) if n_points + n_events else nan
    return prec, rec, f1


def point_f1(points: Iterable[Sequence], events: Iterable[Sequence],
             windows: Sequence[tuple[float, float]] = DEFAULT_POINT_WINDOWS,
             classes: Iterable[int] | None = None) -> dict[str, dict]:  # fmt: skip
    """Precision, recall and F1 of start events against action points, per tolerance window.

    ``points``: ``(sequence, class_id, time_s)`` rows; ``events``: ``(sequence, class_id,
    time_s)`` rows (the time to score: a start's decision time ``t + delay_s``, or its ``t``).
    Times are seconds on each sequence's own clock. Matching is per (sequence, class),
    one-to-one, by :func:`match_points`. ``classes``: the evaluated class ids (default: the
    classes with points); events of other classes are ignored, while events of an evaluated
    class without points are false positives.

    Returns ``{window_key: {...}}`` (keys by :func:`window_key`, e.g. ``"-0.5/+0.5"``), each:
    ``precision``, ``recall``, ``f1`` (micro: over all points and events), ``macro_f1`` (mean
    per-class F1 over the classes with points; NaN when none), ``tp``, ``num_points``,
    ``num_events``, ``median_offset_s`` (median event - point time of the matched pairs;
    NaN without any) and ``per_class`` = {class_id: {precision, recall, f1, tp, num_points,
    num_events}} for every evaluated class. Precision without events and recall without
    points are NaN; F1 = 2TP / (points + events) is 0 when only one side is empty.
    """
    wins = [point_window(*w) for w in windows]
    if not wins:
        raise ValueError("point_f1 needs at least one window")
    keys = [window_key(w) for w in wins]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate windows: {keys}")
    pts: dict[tuple[Hashable, int], list[float]] = defaultdict(list)
    evs: dict[tuple[Hashable, int], list[float]] = defaultdict(list)
    for row in points:
        t = float(row[2])
        if not np.isfinite(t):
            raise ValueError(f"point time must be finite: {tuple(row)}")
        pts[(row[0], int(row[1]))].append(t)
    for row in events:
        t = float(row[2])
        if not np.isfinite(t):
            raise ValueError(f"event time must be finite: {tuple(row)}")
        evs[(row[0], int(row[1]))].append(t)
    cls = sorted({c for _, c in pts} if classes is None else {int(c) for c in classes})
    keep = set(cls)
    n_pts: dict[int, int] = defaultdict(int)
    n_evs: dict[int, int] = defaultdict(int)
    for (_, c), v in pts.items():
        if c in keep:
            n_pts[c] += len(v)
    for (_, c), v in evs.items():
        if c in keep:
            n_evs[c] += len(v)
    out: dict[str, dict] = {}
    for w, key in zip(wins, keys, strict=True):
        tp: dict[int, int] = defaultdict(int)
        offsets: list[float] = []
        for sc, pt in pts.items():
            if sc[1] not in keep or sc not in evs:
                continue
            m = match_points(pt, evs[sc], w)
            tp[sc[1]] += len(m)
            offsets += [o for _, _, o in m]
        per_class = {}
        for c in cls:
            p, r, f = _prf(tp[c], n_pts[c], n_evs[c])
            per_class[c] = {"precision": p, "recall": r, "f1": f, "tp": tp[c], "num_points": n_pts[c],
                            "num_events": n_evs[c]}  # fmt: skip
        n_p, n_e, n_tp = sum(n_pts.values()), sum(n_evs.values()), sum(tp.values())
        p, r, f = _prf(n_tp, n_p, n_e)
        with_points = [per_class[c]["f1"] for c in cls if n_pts[c]]
        out[key] = {"precision": p, "recall": r, "f1": f,
                    "macro_f1": float(np.mean(with_points)) if with_points else float("nan"),
                    "tp": n_tp, "num_points": n_p, "num_events": n_e,
                    "median_offset_s": float(np.median(offsets)) if offsets else float("nan"),
                    "per_class": per_class}  # fmt: skip
    return out
