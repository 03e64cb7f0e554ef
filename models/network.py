"""The full model: backbone + one or two cosine heads; ``build_model(cfg)``.

Interface used by the exporter and the runtime:

* ``infer(x)``: x (N, T, M, V, C) float32 -> probs (N, T, K+1), per-frame softmax over the
  K action classes and background (index K), averaged over the heads.
* ``receptive_field`` / ``lookahead``: frames of context a frame's score depends on, and
  how many of them are in the future (0 for the causal model).
* Causal model only: ``init_state(batch)``, ``step(x_t, state)``, ``state_names()``; and
  ``ring_specs()``, ``init_taps(batch)``, ``tap_step(x_t, taps)`` (history kept outside).
"""

from __future__ import annotations

import torch
from torch import nn

from .agcn import AGCN
from .causal_agcn import CausalAGCN
from .config import ModelConfig
from .heads import CosineHead, attention_pool

__all__ = ["ActionNet", "CausalActionNet", "build_model", "count_parameters"]


class ActionNet(nn.Module):
    """Backbone + heads. ``forward`` returns frame logits (H, N, T, K+1) for training."""

    def __init__(self, cfg: ModelConfig, backbone: nn.Module) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.heads = nn.ModuleList(
            CosineHead(cfg.feature_dim, cfg.num_outputs, cfg.delta) for _ in range(cfg.heads)
        )

    @property
    def receptive_field(self) -> int:
        return int(self.backbone.receptive_field)

    @property
    def lookahead(self) -> int:
        return int(self.backbone.lookahead)

    @property
    def background_index(self) -> int:
        return self.cfg.num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.backbone(x)
        return torch.stack([h(f) for h in self.heads])

    def video_logits(self, logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(H, N, T, K+1) frame logits -> (H, N, K+1) video logits (temporal attention, tau)."""
        return attention_pool(logits, self.cfg.tau, mask)

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, M, V, C) -> (N, T, K+1) class probabilities (background last)."""
        return torch.softmax(self.forward(x), dim=-1).mean(0)


class CausalActionNet(ActionNet):
    """The step-able model: ``step`` one frame at a time equals ``infer`` on the sequence."""

    def init_state(self, batch: int) -> list[torch.Tensor]:
        return self.backbone.init_state(batch)

    def state_names(self) -> list[str]:
        return [f"state_{i}" for i in range(len(self.backbone.state_shapes()))]

    def state_shapes(self) -> list[tuple[int, ...]]:
        return self.backbone.state_shapes()

    def step(
        self, x_t: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x_t (N, M, V, C) + state -> probs_t (N, K+1), new state."""
        f, new_state = self.backbone.step(x_t, state)
        return self._probs(f), new_state

    def _probs(self, f: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.softmax(h(f), dim=-1) for h in self.heads]).mean(0)

    def ring_specs(self) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        return self.backbone.ring_specs()

    def init_taps(self, batch: int) -> list[torch.Tensor]:
        return self.backbone.init_taps(batch)

    def tap_step(
        self, x_t: torch.Tensor, taps: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x_t (N, M, V, C) + gathered taps -> probs_t (N, K+1), new columns."""
        f, cols = self.backbone.tap_step(x_t, taps)
        return self._probs(f), cols


def build_model(cfg: ModelConfig) -> ActionNet:
    """The network for ``cfg.arch``: ``CausalActionNet`` ("causal") or ``ActionNet`` ("agcn")."""
    if cfg.arch == "causal":
        return CausalActionNet(cfg, CausalAGCN(cfg))
    return ActionNet(cfg, AGCN(cfg))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
