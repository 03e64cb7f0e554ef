"""Helpers for the model tests: tiny networks with non-trivial BN statistics."""

from __future__ import annotations

import torch
from torch import nn

from skelact.models.config import model_config
from skelact.models.network import build_model


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm random statistics and affine terms, so eval-mode BN is not a
    near-identity and the tests would see any leak across frames or batch items."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model.eval()


def tiny_model(arch: str = "causal", persons: int = 1, heads: int = 2, **kw):
    torch.manual_seed(0)
    small = (dict(widths=(8, 8, 16), dilations=(1, 2, 4)) if arch == "causal"
             else dict(widths=(8, 8, 16), strides=(1, 2, 1), extra_stride=2, kernel=5))  # fmt: skip
    cfg = model_config(arch, num_classes=3, persons=persons, heads=heads, **{**small, **kw})
    return randomize_bn(build_model(cfg))
