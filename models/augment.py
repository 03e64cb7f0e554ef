"""Training-time augmentation that imitates what real sources do to a skeleton.

A model trained on one Kinect v1 setup meets Kinect v2 (``ntu25``), MediaPipe and mocap
streams after canonical mapping: other viewpoints, other bodies, jittery or missing
joints, other frame rates, a second person coming and going. ``augment`` applies
random versions of those to a normalised training crop (``stream.normalize`` output:
channels 0..2 position, 3..5 velocity × ``velocity_gain``, in torsos, y up):

* **view**: rotation about the vertical axis (``view_deg``, both ways);
* **body**: per-axis scaling (``scale``), a stand-in for other bone lengths;
* **frame rate**: the crop is resampled in time by a factor (``fps_jitter``), velocities
  scaled to match (a 25-fps or 35-fps source resampled to the model rate);
* **noise**: Gaussian joint noise (``noise`` torsos), velocities kept consistent;
* **dropout**: joints missing in single frames (``dropout``: MediaPipe's low
  visibility), zero like a missing joint after normalisation;
* **second person**: with several person slots, slot 2+ is blanked (``drop_person``).

The rotation and scaling commute with centring and torso scaling, so applying them to
normalised frames equals applying them to the raw skeleton (``align`` off, the default).
numpy only; deterministic for a given ``rng``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AugmentConfig", "augment"]


@dataclass(frozen=True)
class AugmentConfig:
    view_deg: float = 45.0
    scale: float = 0.15
    fps_jitter: float = 0.2
    noise: float = 0.02
    dropout: float = 0.05
    drop_person: float = 0.3


def _resample_time(x: np.ndarray, factor: float) -> np.ndarray:
    """Linear resampling of (T, ...) along time so that ``factor`` source frames pass per
    output frame (the output keeps T frames where the input allows)."""
    t = len(x)
    src = np.arange(t) * factor
    src = src[src <= t - 1]
    if len(src) < 2:
        return x
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, t - 1)
    w = (src - i0).reshape(-1, *([1] * (x.ndim - 1)))
    return (1 - w) * x[i0] + w * x[i1]


def augment(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig | None = None,
            velocity_gain: float = 10.0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A randomly altered copy of a normalised crop ``(T, M, V, C)`` (C = 3 or 6), and for
    each of its frames the index of the input frame it stands for (frame-rate jitter
    changes the length: carry frame labels over with it)."""
    cfg = cfg or AugmentConfig()
    src = np.arange(len(x))
    y = np.array(x, dtype=np.float32)
    c = y.shape[-1]
    # (T, M, V): joints that were absent (every channel 0; the pelvis sits at the origin
    # but moves, so position alone would call it missing)
    missing = ~np.any(y != 0, axis=-1)
    theta = np.deg2rad(rng.uniform(-cfg.view_deg, cfg.view_deg))
    rot = np.array([[np.cos(theta), 0, np.sin(theta)], [0, 1, 0], [-np.sin(theta), 0, np.cos(theta)]])
    lin = rot @ np.diag(rng.uniform(1 - cfg.scale, 1 + cfg.scale, 3))
    for k in range(0, c, 3):
        y[..., k : k + 3] = y[..., k : k + 3] @ lin.T.astype(np.float32)
    if cfg.fps_jitter > 0 and len(y) > 2:
        f = float(np.exp(rng.uniform(-cfg.fps_jitter, cfg.fps_jitter)))
        y = _resample_time(y, f).astype(np.float32)
        missing = _resample_time(missing.astype(np.float32), f) > 0.5
        src = np.minimum(np.round(np.arange(len(y)) * f).astype(int), len(x) - 1)
        if c >= 6:
            y[..., 3:6] *= f
    if cfg.noise > 0:
        n = rng.normal(0.0, cfg.noise, y[..., :3].shape).astype(np.float32)
        y[..., :3] += n
        if c >= 6:
            gain_step = np.diff(n, axis=0, prepend=n[:1])
            y[..., 3:6] += gain_step * velocity_gain
    drop = missing | (rng.random(missing.shape) < cfg.dropout)
    if y.shape[1] > 1 and rng.random() < cfg.drop_person:
        drop[:, 1:] = True
    y[drop] = 0.0
    return y, src
