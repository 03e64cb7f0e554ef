"""Whole-sequence preprocessing: the offline twin of the runtime's per-frame path.

``prepare_sequence`` = canonicalize -> resample to the model fps -> normalize; training,
offline detection and evaluation all call it, and the runtime performs the same three
steps frame by frame (tests check they agree bit for bit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .normalize import NormConfig, canonicalize, normalize
from .resample import resample
from .sequence import Sequence

__all__ = ["Prepared", "prepare_sequence"]


@dataclass(frozen=True)
class Prepared:
    """Model-ready frames of one sequence.

    ``x`` (K, M, 20, C) float32 at ``fps``; ``t`` (K,) grid times in seconds; ``src`` (K,)
    the source row nearest each grid frame (labels and event ``seq`` map through it).
    """

    x: np.ndarray
    t: np.ndarray
    src: np.ndarray
    fps: float


def prepare_sequence(seq: Sequence, cfg: NormConfig, fps: float, interp_gap_s: float = 0.5) -> Prepared:
    canon = canonicalize(seq.joints, seq.layout, cfg)
    frames, grid_t, src = resample(canon, seq.t, fps, interp_gap_s=interp_gap_s)
    return Prepared(normalize(frames, cfg), grid_t, src, float(fps))
