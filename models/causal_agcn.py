"""Causal, step-able AGCN: the streaming redesign of the paper's feature extractor.

The paper's backbone (``agcn.py``) strides time down to T/8 with centred kernels and
upsamples linearly, so a frame's feature depends on future frames. Here every temporal
convolution has stride 1, dilation d and *left* zero padding of (k-1)*d frames, so the
feature of frame t depends only on frames <= t, and each block's output at t is
computable from its cached last (k-1)*d inputs plus frame t:

* graph convolution (fixed A_k + learned B_k + data-dependent C_k), input BN and the
  residual projections act on one frame at a time (BN is a per-channel affine in eval);
* state per block = the last (k-1)*d frames entering its temporal convolution,
  (N, C, (k-1)*d, M*V); zero state = the zero padding ``infer`` applies on the left,
  so ``step`` from ``init_state`` equals ``infer`` from the very first frame;
* or, for serving, the history stays outside the graph: ``tap_step`` takes only the
  k-1 past inputs the dilated kernel reads (at d, 2d, ... frames back) and returns the
  new input column, which the runtime writes into a per-track ring buffer;
* no attention over time on the inference path (the temporal softmax attention that
  produces video scores is a training-time pooling in ``network.py``).

Receptive field: 1 + sum_b (k-1) * d_b frames; lookahead 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .agcn import (
    AdaptiveGraphConv,
    frame_to_graph_layout,
    skeleton_graph,
    temporal_extent,
    to_graph_layout,
)
from .config import ModelConfig

__all__ = ["CausalAGCN", "CausalTemporalConv"]


class CausalTemporalConv(nn.Module):
    """(kernel x 1) dilated convolution over time with left zero padding, then BN."""

    def __init__(self, channels: int, kernel: int, dilation: int, nodes: int) -> None:
        super().__init__()
        self.pad = (kernel - 1) * dilation  # frames of past context = state length
        self.nodes = nodes  # M*V as a python int: static shapes in traced step graphs
        self.conv = nn.Conv2d(channels, channels, (kernel, 1), dilation=(dilation, 1))
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, W) -> (N, C, T, W); output t sees inputs t - pad .. t."""
        return self.bn(self.conv(F.pad(x, (0, 0, self.pad, 0))))

    def step(self, x_t: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, 1, W) frame + (N, C, pad, W) past -> (N, C, 1, W) output, new past."""
        buf = torch.cat([state, x_t], dim=2)
        return self.bn(self.conv(buf)), buf[:, :, 1:]

    @property
    def offsets(self) -> tuple[int, ...]:
        """Frames back of the past inputs the kernel reads, oldest first: (k-1)d, ..., d."""
        k, d = self.conv.kernel_size[0], self.conv.dilation[0]
        return tuple((k - 1 - j) * d for j in range(k - 1))

    def tap_step(self, x_t: torch.Tensor, taps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, 1, W) frame + (N, k-1, C, W) past inputs at ``offsets`` -> (N, C, 1, W)
        output and the (N, C, W) column to remember (this frame's input).

        The kernel's k inputs are gathered already, so the caller keeps the history and
        the graph sees only the taps."""
        c, k, w = self.conv.in_channels, self.conv.kernel_size[0], self.nodes
        # taps and frame stacked on the channel axis; the kernel's k time taps become one
        # 1x1 convolution over k*C channels (tap-major, like the stacking)
        buf = torch.cat([taps.reshape(-1, (k - 1) * c, 1, w), x_t], dim=1)
        weight = self.conv.weight.permute(0, 2, 1, 3).reshape(-1, k * c, 1, 1)
        return self.bn(F.conv2d(buf, weight, self.conv.bias)), x_t.reshape(-1, c, w)


class CausalBlock(nn.Module):
    """relu(tcn(gcn(x)) + residual(x)) with a causal tcn; residual is per frame."""

    def __init__(self, c_in: int, c_out: int, graph, kernel: int, dilation: int, residual: bool,
                 adaptive: bool, embed_ratio: int) -> None:  # fmt: skip
        super().__init__()
        self.gcn = AdaptiveGraphConv(c_in, c_out, graph, adaptive, embed_ratio)
        self.tcn = CausalTemporalConv(c_out, kernel, dilation, nodes=int(graph.shape[-1]))
        if not residual:
            self.residual: nn.Module | None = None
        elif c_in == c_out:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(c_in, c_out, 1), nn.BatchNorm2d(c_out))

    def _out(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.relu(y if self.residual is None else y + self.residual(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._out(x, self.tcn(self.gcn(x)))

    def step(self, x_t: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, state = self.tcn.step(self.gcn.forward_frame(x_t), state)
        return self._out(x_t, y), state

    def tap_step(self, x_t: torch.Tensor, taps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, col = self.tcn.tap_step(self.gcn.forward_frame(x_t), taps)
        return self._out(x_t, y), col


class CausalAGCN(nn.Module):
    """(N, T, M, V, C) -> L2-normalised (N, T, D) features; frame t sees frames <= t only."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.kernel < 2:
            raise ValueError(
                "a causal backbone needs kernel >= 2 (kernel 1 has no temporal context)"
            )
        self.cfg = cfg
        graph = skeleton_graph(cfg.persons)
        self.data_bn = nn.BatchNorm1d(cfg.persons * cfg.joints * cfg.channels)
        blocks = []
        c_in = cfg.channels
        for i, (c_out, d) in enumerate(zip(cfg.widths, cfg.dilations)):
            blocks.append(CausalBlock(c_in, c_out, graph, cfg.kernel, d, residual=i > 0,
                                      adaptive=cfg.adaptive, embed_ratio=cfg.embed_ratio))  # fmt: skip
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        ops = [("conv", cfg.kernel, 1, d, (cfg.kernel - 1) * d, 0) for d in cfg.dilations]
        self.receptive_field, self.lookahead = temporal_extent(ops)
        self.nodes = cfg.persons * cfg.joints

    @property
    def dim(self) -> int:
        return self.cfg.widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = to_graph_layout(x, self.data_bn)
        for blk in self.blocks:
            z = blk(z)
        return F.normalize(z.mean(-1).transpose(1, 2), dim=-1)

    def state_shapes(self) -> list[tuple[int, ...]]:
        """Per-block state shape without the batch axis: (C, (k-1)*d frames, M*V nodes)."""
        return [(b.tcn.conv.in_channels, b.tcn.pad, self.nodes) for b in self.blocks]

    def init_state(self, batch: int) -> list[torch.Tensor]:
        """Zero state = a past of zero padding (what ``forward`` pads on the left)."""
        p = next(self.parameters())
        return [
            torch.zeros((batch, *s), dtype=p.dtype, device=p.device) for s in self.state_shapes()
        ]

    def step(
        self, x_t: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One frame (N, M, V, C) + state -> feature (N, D) of that frame, new state."""
        z = frame_to_graph_layout(x_t, self.data_bn, self.cfg.persons, self.cfg.joints, self.cfg.channels)  # (N, C, 1, W)
        new_state = []
        for blk, s in zip(self.blocks, state):
            z, s = blk.step(z, s)
            new_state.append(s)
        return F.normalize(z.mean(-1)[:, :, 0], dim=-1), new_state

    def ring_specs(self) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """Per block: (tap offsets oldest first, column shape (C, M*V)) for ``tap_step``."""
        return [(b.tcn.offsets, (b.tcn.conv.in_channels, self.nodes)) for b in self.blocks]

    def init_taps(self, batch: int) -> list[torch.Tensor]:
        """Zero taps (a past of zero padding), (N, k-1, C, M*V) per block."""
        p = next(self.parameters())
        return [torch.zeros((batch, len(o), *col), dtype=p.dtype, device=p.device)
                for o, col in self.ring_specs()]  # fmt: skip

    def tap_step(
        self, x_t: torch.Tensor, taps: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One frame (N, M, V, C) + each block's gathered past inputs -> feature (N, D)
        and each block's new column (N, C, M*V). The history itself lives with the
        caller (a ring of ``max(offsets)`` columns per block, see stream/state.py), so
        a step moves ~(k-1)/((k-1)d) of what ``step`` moves."""
        z = frame_to_graph_layout(x_t, self.data_bn, self.cfg.persons, self.cfg.joints, self.cfg.channels)
        cols = []
        for blk, tp in zip(self.blocks, taps):
            z, col = blk.tap_step(z, tp)
            cols.append(col)
        return F.normalize(z.mean(-1).reshape(-1, self.dim), dim=-1), cols
