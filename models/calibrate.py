"""Per-class decision thresholds calibrated at training time, for open-set silence.

After training, the model's smoothed frame scores on the training positives and on
held-out negatives (recordings of other activities from the negatives' train splits
that the training run did not use) are fed through the runtime's own event state
machine (``stream.events``) for a grid of (``on``, ``min_frames``) settings. Per class,
the chosen setting is the one with the best F1 of starts against instances,
``2 found / (instances + found + false)``; ties go to fewer false starts, the shorter
minimum duration, then the lower threshold (less delay). False starts are

* the starts on the positives that find no instance of their class (one start per
  instance: a second start inside one instance, or a start of a look-alike class,
  counts against the class), plus
* the starts on the negatives, each weighted by ``negative_weight`` (default: hours of
  positives / hours of negatives, as if the model spent as long on activities it does
  not know as on the ones it does; the held-out negatives are short, so one start
  there stands for many in use). The result goes into the
checkpoint and from there into the ONNX metadata (``decision``), which ``serve`` and
``detect`` use unless ``--on``/``--off``/``--min-frames`` say otherwise.

No test data is used: the held-out split of the dataset stays for evaluation.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from ..stream.events import EventConfig
from ..stream.smoothing import SmoothingConfig, smooth

__all__ = ["ON_GRID", "MIN_FRAMES_GRID", "calibrate_decision", "clip_scores"]

log = logging.getLogger(__name__)

ON_GRID: tuple[float, ...] = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
MIN_FRAMES_GRID: tuple[int, ...] = (4, 6, 8, 12)


@torch.no_grad()
def clip_scores(model, clips, smoothing: SmoothingConfig | None = None, device: str = "cpu") -> list[np.ndarray]:
    """Smoothed per-frame action probabilities (T, K) of each clip, as the runtime sees
    them (a causal model's whole-clip forward equals streaming it from the clip's start)."""
    model.eval()
    cfg = smoothing or SmoothingConfig()
    k = model.cfg.num_classes
    out = []
    for c in clips:
        logits = model(torch.from_numpy(c.x)[None].to(device))
        probs = torch.softmax(logits, -1).mean(0)[0, :, :k].cpu().numpy()
        out.append(smooth(probs, cfg))
    return out


def _run_lengths(flag: np.ndarray) -> np.ndarray:
    """(T,) length of the run of True ending at each frame (0 where False)."""
    idx = np.arange(len(flag))
    last_false = np.maximum.accumulate(np.where(flag, -1, idx))
    return np.where(flag, idx - last_false, 0)


def _starts(scores: np.ndarray, cfg: EventConfig, trigger: bool = False) -> list[tuple[int, int]]:
    """(class index, frame) of every start the state machine makes on (T, K) scores: the
    start's first frame (back-dated to the rise), or with ``trigger`` the frame that
    decided it. Ordered by class, then frame.

    The runtime's rules (``stream.events``), per class, without stepping a tracker frame by
    frame: a start is decided where a run of frames >= ``on`` reaches ``min_frames`` while
    no action of the class is open; the action stays open until ``min_gap`` consecutive
    frames <= ``off`` (which also breaks every run >= ``on``). So the decided starts are the
    frames where such a run reaches ``min_frames``, skipping those before the open
    action's end. ``tests/models/test_calibrate.py`` checks this against ``EventTracker``.
    """
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    k = s.shape[1]
    ons, offs, mfs = cfg.ons(k), cfg.offs(k), cfg.min_frames_per_class(k)
    out = []
    for c in range(k):
        x = s[:, c]
        high = _run_lengths(x >= ons[c])
        cand = np.flatnonzero(high == mfs[c])
        if not len(cand):
            continue
        live = x > offs[c]
        ends = np.flatnonzero(_run_lengths(~live) == cfg.min_gap)  # an open action ends here
        rise = np.maximum.accumulate(np.where(live & ~np.concatenate([[False], live[:-1]]), np.arange(len(x)), 0))
        free_from = -1  # the first frame at which no action is open
        for f in cand.tolist():
            if f < free_from:
                continue
            out.append((c, f if trigger else int(rise[f])))
            j = np.searchsorted(ends, f)
            free_from = int(ends[j]) + 1 if j < len(ends) else len(x)
    return out


def _instances(target: np.ndarray, k: int) -> list[tuple[int, int, int]]:
    """(class index, first, last frame) runs of each action class in a frame target."""
    out = []
    t = np.asarray(target)
    edges = np.flatnonzero(np.diff(np.concatenate([[-1], t, [-1]])) != 0)
    for a, b in zip(edges[:-1], edges[1:]):
        c = int(t[a])
        if 0 <= c < k:
            out.append((c, int(a), int(b) - 1))
    return out


def _match(starts: list[tuple[int, int]], instances: list[tuple[int, int, int]], min_frames: int, k: int
           ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """One-to-one: each start, in time order, takes the first open instance of its class
    that holds it (``first - min_frames <= frame <= last``). Returns (K,) instances found
    and (K,) starts left without one."""
    found, unmatched = np.zeros(k), np.zeros(k)
    taken = [False] * len(instances)
    for c, f in sorted(starts, key=lambda s: s[1]):
        for j, (ci, a, b) in enumerate(instances):
            if not taken[j] and ci == c and a - min_frames <= f <= b:
                taken[j] = True
                found[c] += 1
                break
        else:
            unmatched[c] += 1
    return found, unmatched


def point_instances(points: np.ndarray, fps: float, before_s: float = 0.5, after_s: float = 1.0
                    ) -> list[tuple[int, int, int]]:  # fmt: skip
    """(class index, first, last frame) windows around labelled points (-1 = none): with
    point labels, a start decided within ``before_s`` .. ``after_s`` of a point finds its
    instance (the default is point evaluation's window, -0.5/+1.0 s at decision time;
    calibrate with ``by_trigger=True``)."""
    return [(int(points[f]), max(0, f - int(before_s * fps)), f + int(after_s * fps))
            for f in np.flatnonzero(np.asarray(points) >= 0)]  # fmt: skip


def calibrate_decision(pos_scores: list[np.ndarray], pos_targets: list[np.ndarray] | None, neg_scores: list[np.ndarray],
                       fps: float, negative_weight: float | None = None, on_grid=ON_GRID,
                       min_frames_grid=MIN_FRAMES_GRID,
                       pos_instances: list[list[tuple[int, int, int]]] | None = None,
                       by_trigger: bool = False) -> dict:  # fmt: skip
    """Per-class ``on`` and ``min_frames`` (and the default ``off``/``min_gap``) as a
    metadata ``decision`` dict, with the numbers that chose them. The positives' instances
    come from frame targets (``pos_targets``) or are given (``pos_instances``, e.g.
    ``point_instances`` for point labels). A start finds an instance when its first frame
    lies in it (``min_frames`` of slack before), or with ``by_trigger`` when the frame that
    decided it does (no slack: point labels, scored at decision time)."""
    k = pos_scores[0].shape[1] if pos_scores else neg_scores[0].shape[1]
    neg_hours = sum(len(s) for s in neg_scores) / fps / 3600.0
    pos_hours = sum(len(s) for s in pos_scores) / fps / 3600.0
    if negative_weight is None:
        negative_weight = max(1.0, pos_hours / neg_hours) if neg_hours > 0 else 1.0
    inst = pos_instances if pos_instances is not None else [_instances(t, k) for t in pos_targets]
    n_inst = np.bincount([c for ii in inst for c, _, _ in ii], minlength=k)
    table = []  # (on, min_frames, found (K,), negative starts (K,), extra starts (K,))
    base = EventConfig()
    t0 = time.time()
    for n, on in enumerate(on_grid):
        if n:
            log.info("calibration: threshold %d of %d, %.0f s", n + 1, len(on_grid), time.time() - t0)
        for mf in min_frames_grid:
            cfg = EventConfig(on=on, off=min(base.off, on - 0.05), min_frames=mf)
            hit, extra = np.zeros(k), np.zeros(k)
            for s, ii in zip(pos_scores, inst):
                found, unmatched = _match(_starts(s, cfg, by_trigger), ii, 0 if by_trigger else mf, k)
                hit += found
                extra += unmatched
            false = np.zeros(k)
            for s in neg_scores:
                for c, _f in _starts(s, cfg):
                    false[c] += 1
            table.append((on, mf, hit, false, extra))

    def f1(row, c: int) -> float:
        wrong = row[4][c] + negative_weight * row[3][c]
        return 2 * row[2][c] / (n_inst[c] + row[2][c] + wrong) if n_inst[c] + row[2][c] + wrong else 1.0

    ons, mfs, per_class = [], [], []
    for c in range(k):
        row = min(table, key=lambda r: (-round(f1(r, c), 9), r[3][c] + r[4][c], r[1], r[0]))
        on, mf, hit, false, extra = row
        ons.append(float(on))
        mfs.append(int(mf))
        per_class.append({"recall": float(hit[c] / max(n_inst[c], 1)), "negative_starts": int(false[c]),
                          "extra_starts": int(extra[c]), "f1": round(float(f1(row, c)), 4)})  # fmt: skip
    return {
        "on": ons, "off": [min(base.off, on - 0.05) for on in ons], "min_frames": mfs, "min_gap": base.min_gap,
        "calibration": {"negative_hours": round(neg_hours, 4), "positive_hours": round(pos_hours, 4),
                        "negative_weight": round(float(negative_weight), 3), "objective": "f1",
                        "positive_instances": int(n_inst.sum()), "per_class": per_class},
    }  # fmt: skip
