"""Negative training data: other datasets' recordings as background, for open-set silence.

A model trained only on its own classes has never seen "nothing I know is happening":
its background class learnt the pauses between PRECOG moves, not reading, typing or
waving. ``--negatives PATH[:ID,ID...]`` adds the *train* split of another dataset as
background-only clips. The listed class ids are that dataset's classes that overlap the
model's (a PKU-MMD "kicking" looks like a PRECOG kick): their labelled instances, with a
margin, are cut out, so no frame of a real overlapping action is ever called background.
Point labels (MSRC-12) have no extent and cut ``POINT_WINDOW_S`` around each point.

Every person slot of a multi-person recording becomes its own clip (a one-person model
sees each person of a live stream as its own track). The clips are cut into runs of at
least ``min_run_s`` seconds outside the cut spans and pieces of at most ``max_piece_s``,
then a seeded subset of the pieces is kept so the negative frames number about ``ratio``
times the positive ones (short pieces spread the budget over many recordings and
subjects).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from ..stream.normalize import NormConfig
from ..stream.prepare import prepare_sequence
from .ood import overlap_spans

__all__ = ["negative_clips", "parse_negative_spec"]

log = logging.getLogger(__name__)

MARGIN_S = 0.5  # cut this much more around every overlapping instance


def parse_negative_spec(spec: str) -> tuple[str, tuple[int, ...]]:
    """``"PATH:18,19"`` -> ("PATH", (18, 19)); ValueError with a message when malformed."""
    path, sep, ids = spec.rpartition(":")
    if not sep or "/" in ids or not ids.replace(",", "").replace(" ", "").isdigit():
        return spec, ()
    try:
        return path, tuple(int(x) for x in ids.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"--negatives {spec!r}: expected PATH or PATH:ID,ID,...") from None


def _runs(keep: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """[start, end) runs of True at least ``min_len`` long."""
    runs, start = [], None
    for i, k in enumerate(np.append(keep, False)):
        if k and start is None:
            start = i
        elif not k and start is not None:
            if i - start >= min_len:
                runs.append((start, i))
            start = None
    return runs


def negative_clips(spec: str, norm: NormConfig, fps: float, num_outputs: int, max_frames: int, seed: int = 0,
                   min_run_s: float = 2.0, max_piece_s: float = 8.0,
                   holdout_frames: int = 0, holdout_share: float = 0.2) -> tuple[list, dict, list]:  # fmt: skip
    """Background-only clips from the dataset in ``spec`` (its train split when it has one).

    ``num_outputs`` = K + 1 (background last). Returns the clips (at most ``max_frames``
    model frames in all), a description of the source for the checkpoint (name,
    licence, frames used, overlap ids), and up to ``holdout_frames`` frames of pieces
    that were *not* chosen (held out: for calibration). The held-out pieces are drawn
    first, up to ``holdout_share`` of the available frames, so a small dataset whose every
    frame the budget could take still leaves some for calibration; pieces the budget
    leaves over top them up to ``holdout_frames``.
    """
    from ..stream.formats import load_dataset
    from .data import Clip  # torch: only when training

    path, overlap = parse_negative_spec(spec)
    ds = load_dataset(path)
    if "train" in ds.splits:
        ds = ds.split("train")
    spans = overlap_spans(ds, overlap)
    bg = num_outputs - 1
    video = np.zeros(num_outputs, dtype=np.float32)
    video[bg] = 1.0
    pieces: list = []
    for seq in ds:
        if seq.num_frames == 0:
            continue
        for p in range(min(seq.joints.shape[1], 2)):
            one = replace(seq, joints=seq.joints[:, p : p + 1]) if seq.joints.shape[1] > 1 else seq
            if p and not np.isfinite(one.joints).any():
                continue
            prep = prepare_sequence(one, norm, fps)
            keep = np.ones(len(prep.x), dtype=bool)
            for a, b in spans.get(seq.id, ()):
                keep &= ~((prep.t >= a - MARGIN_S) & (prep.t <= b + MARGIN_S))
            piece = max(2, int(round(max_piece_s * fps)))
            for a0, b0 in _runs(keep, max(1, int(round(min_run_s * fps)))):
                for a in range(a0, b0, piece):  # short pieces: the budget spreads over many recordings
                    b = min(a + piece, b0)
                    if b - a < piece // 2 and a > a0:
                        continue
                    pieces.append(Clip(f"neg:{ds.name}:{seq.id}:p{p}:{a}", prep.x[a:b], video,
                                       np.full(b - a, bg, dtype=np.int64)))  # fmt: skip
    order = np.random.default_rng([seed, 11]).permutation(len(pieces))
    chosen, total = [], 0
    rest, rest_total = [], 0
    reserve = min(holdout_frames, int(holdout_share * sum(c.num_frames for c in pieces)))
    for i in order:
        c = pieces[int(i)]
        if rest_total < reserve or total >= max_frames:  # not trained on: held out for calibrating the thresholds
            if rest_total < holdout_frames:
                rest.append(c)
                rest_total += c.num_frames
            continue
        if total + c.num_frames > max_frames:
            cut = max_frames - total
            c = Clip(c.id, c.x[:cut], c.video_target, c.frame_target[:cut])
        chosen.append(c)
        total += c.num_frames
    licence = ds.meta.get("license") or "see the dataset's meta.json"
    info = {"dataset": ds.name, "path": str(path), "use": "negatives (background)", "licence": licence,
            "frames": int(total), "overlap_class_ids": list(overlap)}  # fmt: skip
    log.info("negatives from %s: %d clips, %d frames (of %d available)", ds.name, len(chosen), total,
             sum(c.num_frames for c in pieces))  # fmt: skip
    return chosen, info, rest
