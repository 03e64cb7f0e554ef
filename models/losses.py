"""Losses of the FLR paper (Yu & Fujiwara, AAAI 2023: MIL + frame-level label refinement) and the fully supervised baseline.

Pure functions on tensors. Shapes: N videos, T frames, C1 = K + 1 outputs (background
last). ``mask`` (N, T) bool marks real (unpadded) frames; None = all real.

* ``mil_bce`` — Eq. 5: binary cross-entropy of sigmoid(video logits), summed over the
  C + 1 classes and averaged over videos; the background target is forced to 1
  (every untrimmed video contains background frames).
* ``pseudo_label_ce`` — Eq. 7: cross-entropy of the frame softmax against soft pseudo
  labels. Eq. 7 sums over frames; we *average* over frames, so lambda_pseudo = 1
  balances it against the per-video BCE whatever the clip length.
* ``symmetric_kl`` / ``small_loss_kl`` — Eqs. 10-14: per-frame KL(p1||p2) + KL(p2||p1)
  between the two heads' frame softmaxes, averaged over the alpha fraction of frames
  with the smallest divergence (small-loss selection, taken within the batch).
* ``frame_ce`` — the fully supervised baseline: frame-level cross-entropy.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["frame_ce", "mil_bce", "pseudo_label_ce", "small_loss_kl", "symmetric_kl"]


def _mask_like(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return torch.ones(x.shape[:-1], dtype=torch.bool, device=x.device)
    return mask


def mil_bce(video_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Eq. 5. video_logits r (N, C1) before the sigmoid; targets (N, C1) in {0, 1}.

    The last column (background) is set to 1 regardless of ``targets``.
    """
    y = targets.to(video_logits.dtype).clone()
    y[..., -1] = 1.0
    bce = F.binary_cross_entropy_with_logits(video_logits, y, reduction="none")
    return bce.sum(-1).mean()


def pseudo_label_ce(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Eq. 7 (frame-averaged). logits (N, T, C1), targets (N, T, C1) soft labels summing to 1.

    Frames where ``mask`` is False (padding, or no pseudo label yet) are ignored; with no
    selected frame the loss is 0 (and still differentiable).
    """
    m = _mask_like(logits, mask).to(logits.dtype)
    ce = -(targets * F.log_softmax(logits, dim=-1)).sum(-1)  # (N, T)
    return (ce * m).sum() / m.sum().clamp_min(1.0)


def symmetric_kl(logits1: torch.Tensor, logits2: torch.Tensor) -> torch.Tensor:
    """Eqs. 10-12 per frame: KL(p1||p2) + KL(p2||p1) = sum_c (p1 - p2)(log p1 - log p2)."""
    lp1, lp2 = F.log_softmax(logits1, dim=-1), F.log_softmax(logits2, dim=-1)
    return ((lp1.exp() - lp2.exp()) * (lp1 - lp2)).sum(-1)


def small_loss_kl(logits1: torch.Tensor, logits2: torch.Tensor, alpha: float = 0.2,
                  mask: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """Eqs. 13-14: mean symmetric KL over the ceil(alpha * n) frames with the smallest one.

    n = number of real frames (``mask``). Small divergence = the heads agree = the frame
    is more likely cleanly labelled, so only those frames are pulled together.
    """
    kl = symmetric_kl(logits1, logits2)
    m = _mask_like(kl[..., None], mask).reshape(-1)
    vals = kl.reshape(-1)[m]
    if vals.numel() == 0:
        return kl.sum() * 0.0
    k = max(1, math.ceil(alpha * vals.numel()))
    return torch.topk(vals, k, largest=False).values.mean()


def frame_ce(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Fully supervised frame loss: mean CE over real frames. logits (N, T, C1), targets (N, T) int."""
    m = _mask_like(logits, mask)
    ce = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none"
    )
    mf = m.reshape(-1).to(ce.dtype)
    return (ce * mf).sum() / mf.sum().clamp_min(1.0)
