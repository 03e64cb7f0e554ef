"""Per-class decision thresholds calibrated at training time, for open-set silence.

After training, the model's smoothed frame scores on the training positives and on
held-out negatives (recordings of other activities from the negatives' train splits
that the training run did not use) are fed through the runtime's own event state
machine (``stream.events``) for a grid of (``on``, ``min_frames``) settings. Per class,
the chosen setting is the one with the fewest starts on the negatives among those that
keep the class's recall on the positives within ``recall_slack`` of its best; ties go
to the shorter minimum duration, then the lower threshold (less delay). The result goes into the
checkpoint and from there into the ONNX metadata (``decision``), which ``serve`` and
``detect`` use unless ``--on``/``--off``/``--min-frames`` say otherwise.

No test data is used: the held-out split of the dataset stays for evaluation.
"""

from __future__ import annotations

import numpy as np
import torch

from ..stream.events import EventConfig, EventTracker
from ..stream.smoothing import SmoothingConfig, smooth

__all__ = ["ON_GRID", "MIN_FRAMES_GRID", "calibrate_decision", "clip_scores"]

ON_GRID: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
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


def _starts(scores: np.ndarray, cfg: EventConfig) -> list[tuple[int, int]]:
    """(class index, frame) of every start the state machine makes on (T, K) scores."""
    tr = EventTracker(cfg, scores.shape[1])
    out = []
    for i, s in enumerate(scores):
        out += [(d.class_index, d.seq) for d in tr.update(i, i / 30.0, s) if d.type == "start"]
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


def point_instances(points: np.ndarray, fps: float, before_s: float = 2.0, after_s: float = 1.0
                    ) -> list[tuple[int, int, int]]:  # fmt: skip
    """(class index, first, last frame) windows around labelled points (-1 = none): with
    point labels, a start within ``before_s`` .. ``after_s`` of a point finds its instance."""
    return [(int(points[f]), max(0, f - int(before_s * fps)), f + int(after_s * fps))
            for f in np.flatnonzero(np.asarray(points) >= 0)]  # fmt: skip


def calibrate_decision(pos_scores: list[np.ndarray], pos_targets: list[np.ndarray] | None, neg_scores: list[np.ndarray],
                       fps: float, recall_slack: float = 0.02, on_grid=ON_GRID,
                       min_frames_grid=MIN_FRAMES_GRID,
                       pos_instances: list[list[tuple[int, int, int]]] | None = None) -> dict:  # fmt: skip
    """Per-class ``on`` and ``min_frames`` (and the default ``off``/``min_gap``) as a
    metadata ``decision`` dict, with the numbers that chose them. The positives' instances
    come from frame targets (``pos_targets``) or are given (``pos_instances``, e.g.
    ``point_instances`` for point labels)."""
    k = pos_scores[0].shape[1] if pos_scores else neg_scores[0].shape[1]
    neg_hours = sum(len(s) for s in neg_scores) / fps / 3600.0
    inst = pos_instances if pos_instances is not None else [_instances(t, k) for t in pos_targets]
    n_inst = np.bincount([c for ii in inst for c, _, _ in ii], minlength=k)
    table = []  # (on, min_frames, recall (K,), false starts (K,))
    base = EventConfig()
    for on in on_grid:
        for mf in min_frames_grid:
            cfg = EventConfig(on=on, off=min(base.off, on - 0.05), min_frames=mf)
            hit = np.zeros(k)
            for s, ii in zip(pos_scores, inst):
                st = _starts(s, cfg)
                for c, a, b in ii:
                    hit[c] += any(sc == c and a - mf <= f <= b for sc, f in st)
            false = np.zeros(k)
            for s in neg_scores:
                for c, _f in _starts(s, cfg):
                    false[c] += 1
            table.append((on, mf, hit / np.maximum(n_inst, 1), false))
    best_recall = np.max([r for _, _, r, _ in table], axis=0)
    ons, mfs, per_class = [], [], []
    for c in range(k):
        ok = [row for row in table if row[2][c] >= best_recall[c] - recall_slack]
        on, mf, rec, false = min(ok, key=lambda r: (r[3][c], r[1], r[0]))
        ons.append(float(on))
        mfs.append(int(mf))
        per_class.append({"recall": float(rec[c]), "negative_starts": int(false[c])})
    return {
        "on": ons, "off": [min(base.off, on - 0.05) for on in ons], "min_frames": mfs, "min_gap": base.min_gap,
        "calibration": {"negative_hours": round(neg_hours, 4), "recall_slack": recall_slack,
                        "positive_instances": int(n_inst.sum()), "per_class": per_class},
    }  # fmt: skip
