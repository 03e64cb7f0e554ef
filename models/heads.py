"""Classifier heads of the FLR paper (Yu & Fujiwara, AAAI 2023): the cosine classifier and temporal softmax attention.

* ``CosineHead`` (Eq. 1): ``s[t, c] = delta * cos(f_t, w_c)`` over C + 1 classes, the
  background last. Cosine logits are bounded by +-delta, which keeps MIL's video scores
  and the frame softmax on a common, well-conditioned scale.
* ``attention_pool`` (Eqs. 2-3): class-wise softmax over time with temperature tau,
  ``r[c] = sum_t a[t, c] s[t, c]``. It looks at the whole clip, so it is used only for
  training-time video scores, never on the streaming inference path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CosineHead", "attention_pool"]


class CosineHead(nn.Module):
    """(..., D) features -> (..., C+1) logits delta * cos(f, w_c)."""

    def __init__(self, dim: int, num_outputs: int, delta: float = 5.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_outputs, dim) / dim**0.5)
        self.delta = float(delta)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.delta * F.linear(F.normalize(f, dim=-1), F.normalize(self.weight, dim=-1))


def attention_pool(s: torch.Tensor, tau: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Video-level class scores r (..., N, C+1) from frame scores s (..., N, T, C+1).

    ``mask`` (N, T) bool marks real frames (padding excluded from the softmax over time).
    """
    z = tau * s
    if mask is not None:
        z = z.masked_fill(~mask[..., :, None], float("-inf"))
    a = torch.softmax(z, dim=-2)
    return (a * s).sum(-2)
