"""Skeleton preprocessing shared by training and serving: one code path, per frame.

Pipeline (``prepare``): source layout -> canonical joints and axes (``layouts.to_canonical``,
low-confidence joints masked first) -> first ``persons`` person slots -> resample to the
model's fps (``resample.Resampler``) -> ``normalize``.

``normalize`` works frame by frame and never looks across the window, so the runtime can
call it on one frame at a time (passing the previous canonical frame for the velocity
channels) and get bit-identical numbers to the offline call on a whole sequence.

Output channels (``NormConfig.channels``):
  0..2  joint position relative to the frame's centre (mean pelvis of the persons
        present), divided by the frame's body scale (mean pelvis->shoulder-centre
        length; ``default_scale_m`` when unknown) — so units are "torsos", not metres;
  3..5  (``velocity``) joint displacement since the previous model frame, in torsos,
        times ``velocity_gain`` (it is small at 30 fps).
Missing joints and absent persons become 0 after normalisation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .layouts import CANONICAL, get_layout, to_canonical

__all__ = ["NormConfig", "canonicalize", "normalize", "normalize_pairs"]

_PELVIS = CANONICAL.index("pelvis")
_NECK = CANONICAL.index("shoulder_center")
_L_HIP = CANONICAL.index("l_hip")
_R_HIP = CANONICAL.index("r_hip")


@dataclass(frozen=True)
class NormConfig:
    """How raw joints become model input; stored in checkpoints and ONNX metadata."""

    persons: int = 1
    center: bool = True
    scale: bool = True
    align: bool = False
    velocity: bool = True
    velocity_gain: float = 10.0
    default_scale_m: float = 0.5
    min_confidence: float = 0.3

    def __post_init__(self) -> None:
        if not 1 <= self.persons <= 16:
            raise ValueError(f"persons must be in 1..16, got {self.persons}")
        if self.default_scale_m <= 0:
            raise ValueError("default_scale_m must be > 0")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError("min_confidence must be in [0, 1]")

    @property
    def channels(self) -> int:
        return 6 if self.velocity else 3

    @property
    def num_joints(self) -> int:
        return CANONICAL.num_joints

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> NormConfig:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


def canonicalize(joints: np.ndarray, layout: str, cfg: NormConfig) -> np.ndarray:
    """(T, P, J, C) source joints -> (T, M, 20, 3) canonical joints, M = cfg.persons.

    A 4th channel is a confidence in [0, 1]: joints below ``cfg.min_confidence`` are
    masked to NaN. Only the first M person slots are kept (sources order persons
    by track id); missing slots are NaN.
    """
    x = np.asarray(joints, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"joints must be (T, P, J, C), got shape {x.shape}")
    if x.shape[-1] >= 4:
        low = ~(x[..., 3] >= cfg.min_confidence)  # NaN confidence counts as low
        x = x[..., :3].copy()
        x[low] = np.nan
    c = to_canonical(x, get_layout(layout))
    m = cfg.persons
    if c.shape[1] >= m:
        return c[:, :m]
    pad = np.full((c.shape[0], m - c.shape[1], *c.shape[2:]), np.nan, dtype=np.float32)
    return np.concatenate([c, pad], axis=1)


def _frame_centre_scale(x: np.ndarray, cfg: NormConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame centre (T, 1, 1, 3) and scale (T, 1, 1, 1) from canonical (T, M, 20, 3)."""
    pelvis = x[:, :, _PELVIS]  # (T, M, 3)
    ok = np.isfinite(pelvis).all(-1)  # (T, M)
    n = ok.sum(1)  # (T,)
    safe_n = np.maximum(n, 1)[:, None]
    centre = np.where(ok[..., None], pelvis, 0.0).sum(1) / safe_n  # (T, 3)
    centre = np.where((n > 0)[:, None], centre, np.nan)
    torso = np.sqrt(((x[:, :, _NECK] - pelvis) ** 2).sum(-1))  # (T, M)
    tok = np.isfinite(torso) & (torso > 1e-3)
    tn = tok.sum(1)
    scale = np.where(tok, torso, 0.0).sum(1) / np.maximum(tn, 1)
    scale = np.where(tn > 0, scale, cfg.default_scale_m)
    if not cfg.scale:
        scale = np.full_like(scale, cfg.default_scale_m)
    return centre[:, None, None, :], scale[:, None, None, None]


def _align_rotation(x: np.ndarray) -> np.ndarray:
    """Per-frame rotation about +y (T, 3, 3) turning the first person's hip line onto +x."""
    hip = x[:, 0, _L_HIP] - x[:, 0, _R_HIP]  # (T, 3)
    ang = np.arctan2(hip[:, 2], hip[:, 0])
    ang = np.where(np.isfinite(ang), ang, 0.0)
    c, s = np.cos(ang), np.sin(ang)
    rot = np.zeros((len(x), 3, 3), dtype=np.float64)
    rot[:, 0, 0], rot[:, 0, 2] = c, s
    rot[:, 1, 1] = 1.0
    rot[:, 2, 0], rot[:, 2, 2] = -s, c
    return rot


def normalize(x: np.ndarray, cfg: NormConfig, prev: np.ndarray | None = None) -> np.ndarray:
    """(T, M, 20, 3) canonical joints at the model's fps -> (T, M, 20, channels) float32.

    ``prev`` is the canonical frame (M, 20, 3) just before ``x[0]`` (None at a stream's
    start: the first velocity is then 0). Computed per frame: calling on frames one by
    one with ``prev`` gives the same result as calling on the whole array.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4 or x.shape[1:] != (cfg.persons, CANONICAL.num_joints, 3):
        raise ValueError(f"expected (T, {cfg.persons}, 20, 3) canonical joints, got {x.shape}")
    before = np.empty_like(x)
    before[1:] = x[:-1]
    before[0] = x[0] if prev is None else prev
    return normalize_pairs(x, before, cfg)


def normalize_pairs(x: np.ndarray, before: np.ndarray, cfg: NormConfig) -> np.ndarray:
    """``normalize`` for independent frames: row i is frame ``x[i]`` whose previous model
    frame is ``before[i]`` (pass ``x[i]`` itself for a stream's first frame). The runtime
    uses this to normalise frames of many tracks in one call."""
    xd = np.asarray(x, dtype=np.float32).astype(np.float64)
    centre, scale = _frame_centre_scale(xd, cfg)
    pos = (xd - centre) if cfg.center else xd
    if cfg.align:
        rot = _align_rotation(xd)
        pos = np.einsum("tij,tmvj->tmvi", rot, pos)
    pos = pos / scale
    feats = [pos]
    if cfg.velocity:
        vel = (xd - np.asarray(before, dtype=np.float32).astype(np.float64)) / scale * cfg.velocity_gain
        if cfg.align:
            vel = np.einsum("tij,tmvj->tmvi", rot, vel)
        feats.append(vel)
    out = np.concatenate(feats, axis=-1).astype(np.float32)
    out[~np.isfinite(out)] = 0.0
    return out
