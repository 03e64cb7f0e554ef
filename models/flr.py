"""Frame-level label refinement (Yu & Fujiwara, AAAI 2023, "Frame-Level Label Refinement for Skeleton-Based Weakly-Supervised Action Recognition").

Joint optimisation (Tanaka et al. 2018; Eq. 9): the pseudo label of a frame for epoch e
is the network's own frame softmax from earlier epochs. Following the paper's
implementation details, it is the *average* frame probability over the past
``window`` (10) epochs, and it is used from epoch ``start`` (10) on. Multi-view learning
uses two heads (``ModelConfig.heads = 2``); their mean softmax is what gets recorded.

Predictions are recorded during the training forward passes. With random crops a frame
may be missed in some epochs, so each slot carries the epoch it was written in and the
average runs over whichever of the past ``window`` epochs saw the frame.
"""

from __future__ import annotations

import torch

from .losses import pseudo_label_ce, small_loss_kl

__all__ = ["PseudoLabelBank", "flr_losses"]


class PseudoLabelBank:
    """Per-frame ring buffer of frame softmaxes over the last ``window`` epochs.

    Frames are addressed by a flat index over all training clips (``Clip.offset + t``).
    Memory: (window + 1) x frames x (K+1) float16 plus an int32 epoch stamp per slot;
    the extra slot keeps epoch e - window readable while epoch e is being written.
    """

    def __init__(self, num_frames: int, num_outputs: int, window: int = 10) -> None:
        self.window = int(window)
        slots = self.window + 1
        self.probs = torch.zeros((slots, num_frames, num_outputs), dtype=torch.float16)
        self.stamp = torch.full((slots, num_frames), -1, dtype=torch.int32)

    def record(self, epoch: int, frames: torch.Tensor, probs: torch.Tensor) -> None:
        """Store ``probs`` (n, K+1) for flat frame indices ``frames`` (n,) as epoch ``epoch``."""
        slot = epoch % (self.window + 1)
        self.probs[slot, frames] = probs.detach().to(torch.float16)
        self.stamp[slot, frames] = int(epoch)

    def targets(self, epoch: int, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pseudo labels for epoch ``epoch``: (n, K+1) mean of epochs [epoch - window, epoch - 1]
        and (n,) bool ``valid`` (False where no such epoch saw the frame)."""
        st = self.stamp[:, frames]  # (slots, n)
        ok = (st >= epoch - self.window) & (st < epoch) & (st >= 0)
        w = ok.to(torch.float32)
        s = (self.probs[:, frames].to(torch.float32) * w[..., None]).sum(0)
        cnt = w.sum(0)
        t = s / cnt.clamp_min(1.0)[:, None]
        t = t / t.sum(-1, keepdim=True).clamp_min(1e-8)  # renormalise float16 rounding
        return t, cnt > 0

    def state_dict(self) -> dict:
        return {"window": self.window, "probs": self.probs, "stamp": self.stamp}

    def load_state_dict(self, d: dict) -> None:
        if tuple(d["probs"].shape) != tuple(self.probs.shape) or int(d["window"]) != self.window:
            raise ValueError(
                "pseudo-label bank shape differs from the training data (different dataset?)"
            )
        self.probs = d["probs"].to(torch.float16)
        self.stamp = d["stamp"].to(torch.int32)


def flr_losses(logits: torch.Tensor, mask: torch.Tensor, frames: torch.Tensor, bank: PseudoLabelBank,
               epoch: int, start: int, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(L_pseudo, L_KL) for one batch, and records this batch's predictions in ``bank``.

    logits (H, N, T, K+1); mask (N, T) real frames; frames (N, T) flat frame indices
    (ignored where mask is False). L_pseudo (mean over heads) is 0 before epoch ``start``;
    L_KL needs two heads (0 with one).
    """
    sel = frames[mask.cpu()]  # the bank lives on the CPU
    probs = torch.softmax(logits.detach(), dim=-1).mean(0)  # (N, T, K+1)
    l_pseudo = logits.sum() * 0.0
    if epoch >= start:
        tgt, ok = bank.targets(epoch, sel)
        full = torch.zeros_like(probs)
        full[mask] = tgt.to(full.device)
        valid = mask.clone()
        valid[mask] = ok.to(mask.device)
        l_pseudo = torch.stack([pseudo_label_ce(lg, full, valid) for lg in logits]).mean()
    l_kl = (
        small_loss_kl(logits[0], logits[1], alpha, mask)
        if logits.shape[0] > 1
        else logits.sum() * 0.0
    )
    bank.record(epoch, sel, probs[mask].cpu())
    return l_pseudo, l_kl
