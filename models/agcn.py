"""The paper's non-causal AGCN feature extractor, and the graph layers both backbones share.

Feature extraction as in the FLR paper (Yu & Fujiwara, AAAI 2023, section "Feature Extraction"): the
blocks of 2s-AGCN (Shi et al., CVPR 2019) before global pooling, plus a stride-2
temporal block after the first block, give features at T/8; they are linearly upsampled
back to T and L2-normalised per frame: ``f in R^{T x D}``.

Two deliberate deviations, both so that a frame's score depends on a bounded window:

* 2s-AGCN's data-dependent graph C_k is a softmax over embeddings pooled over the whole
  clip; here it is computed per (strided) frame. On untrimmed streams a clip-wide C
  would make every frame depend on the whole window (unbounded lookahead).
* Persons: the M skeletons of a frame form ONE graph of M*V nodes (fixed edges inside
  each skeleton; the learned B_k and data-dependent C_k can connect any two joints,
  across persons too), instead of 2s-AGCN's persons-folded-into-batch + mean. Two-person
  interaction classes (PKU-MMD) need joints of both persons to meet before pooling.
  Joints are averaged over all M*V nodes at the end; an absent person is all-zero input.

Tensors inside the backbone are ``(N, C, T, W)`` with W = M*V graph nodes.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..stream.layouts import CANONICAL
from .config import ModelConfig

__all__ = ["AGCN", "AdaptiveGraphConv", "skeleton_graph", "temporal_extent", "to_graph_layout"]


def skeleton_graph(persons: int, parents: tuple[int, ...] = CANONICAL.parents) -> np.ndarray:
    """(3, M*V, M*V) float32 spatial partitions of 2s-AGCN: identity, inward, outward.

    ``A[k][v, w]`` weights the message from node v to node w (``out[w] = sum_v x[v] A[v, w]``);
    inward/outward are column-normalised adjacency (each node averages its neighbours), one
    copy per person on the block diagonal.
    """
    v = len(parents)
    inward = np.zeros((v, v))
    for child, parent in enumerate(parents):
        if parent >= 0:
            inward[child, parent] = 1.0  # child -> parent (towards the root)
    outward = inward.T.copy()

    def col_norm(a: np.ndarray) -> np.ndarray:
        deg = a.sum(0)
        return a / np.where(deg > 0, deg, 1.0)[None, :]

    one = np.stack([np.eye(v), col_norm(inward), col_norm(outward)])
    out = np.zeros((3, persons * v, persons * v))
    for p in range(persons):
        out[:, p * v : (p + 1) * v, p * v : (p + 1) * v] = one
    return out.astype(np.float32)


def to_graph_layout(x: torch.Tensor, data_bn: nn.BatchNorm1d) -> torch.Tensor:
    """(N, T, M, V, C) input -> batch-normalised (N, C, T, M*V).

    ``data_bn`` normalises each (person, joint, channel) separately, as 2s-AGCN's input BN;
    in eval mode it is a per-channel affine map, so it is per frame.
    """
    n, t, m, v, c = x.shape
    z = x.permute(0, 2, 3, 4, 1).reshape(n, m * v * c, t)
    z = data_bn(z)
    return z.reshape(n, m, v, c, t).permute(0, 3, 4, 1, 2).reshape(n, c, t, m * v)


def frame_to_graph_layout(x_t: torch.Tensor, data_bn: nn.BatchNorm1d, m: int, v: int, c: int) -> torch.Tensor:
    """``to_graph_layout`` of one frame (N, M, V, C) -> (N, C, 1, M*V); sizes passed as
    python ints so a traced step graph has static shapes besides the batch."""
    z = data_bn(x_t.reshape(-1, m * v * c, 1))
    return z.reshape(-1, m, v, c).permute(0, 3, 1, 2).reshape(-1, c, 1, m * v)


class AdaptiveGraphConv(nn.Module):
    """2s-AGCN's adaptive graph convolution, with C_k computed per frame.

    ``out = sum_k W_k x (A_k + B_k + C_k)``: A_k the fixed skeleton partitions, B_k a learned
    (W, W) matrix (initialised ~0), C_k[v, w] = softmax_v(<theta_k x_v, phi_k x_w> / c_e) from
    the current frame only. Then BN (initialised near 0 so each block starts close to its
    residual path, as in 2s-AGCN), plus a residual 1x1 projection, then ReLU.
    """

    def __init__(self, c_in: int, c_out: int, graph: np.ndarray, adaptive: bool = True,
                 embed_ratio: int = 4) -> None:  # fmt: skip
        super().__init__()
        k, w, _ = graph.shape
        self.num_subsets, self.nodes, self.c_in = k, w, c_in
        self.register_buffer("A", torch.from_numpy(graph), persistent=False)
        self.B = nn.Parameter(torch.full((k, w, w), 1e-6))
        self.adaptive = adaptive
        self.c_embed = max(c_out // embed_ratio, 1)
        if adaptive:
            self.theta = nn.Conv2d(c_in, k * self.c_embed, 1)
            self.phi = nn.Conv2d(c_in, k * self.c_embed, 1)
        # One 1x1 conv over the K concatenated aggregations == sum_k of K separate convs.
        self.conv = nn.Conv2d(k * c_in, c_out, 1)
        self.bn = nn.BatchNorm2d(c_out)
        nn.init.constant_(self.bn.weight, 1e-6)
        if c_in == c_out:
            self.down: nn.Module = nn.Identity()
        else:
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, T, W) -> (N, C_out, T, W); frame t uses only frame t."""
        n, c, t, w = x.shape
        k = self.num_subsets
        z = torch.einsum("nctv,kvw->nkctw", x, self.A + self.B)  # the fixed and learned graphs
        if self.adaptive:
            if self.training and torch.is_grad_enabled():
                # the per-frame (N, K, T, W, W) attention is most of a training step's memory:
                # keep only its input and recompute it in the backward pass
                z = z + checkpoint(self._attend, x, use_reentrant=False)
            else:
                z = z + self._attend(x)
        return F.relu(self.bn(self.conv(z.reshape(n, k * c, t, w))) + self.down(x))

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        """The data-dependent graph C_k applied to x: (N, C, T, W) -> (N, K, C, T, W)."""
        n, _, t, w = x.shape
        k = self.num_subsets
        th = self.theta(x).reshape(n, k, self.c_embed, t, w) / self.c_embed  # scaled before the product: fewer elements
        ph = self.phi(x).reshape(n, k, self.c_embed, t, w)
        att = torch.softmax(torch.einsum("nkctv,nkctw->nktvw", th, ph), dim=-2)  # over senders v
        return torch.einsum("nctv,nktvw->nkctw", x, att)

    def forward_frame(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` for one frame, (N, C_in, 1, W): the same maths arranged for step
        graphs — batched matrix products instead of einsums, the softmax on the last axis
        (``x @ S`` as ``x @ (S^T)^T``), and only static sizes besides the batch, so the
        exported graph has no shape arithmetic."""
        k, w, c = self.num_subsets, self.nodes, self.c_in  # python ints: static shapes when traced
        x3 = x.reshape(-1, 1, c, w)
        graph = (self.A + self.B).unsqueeze(0)  # (1, K, W, W): the fixed and learned graphs
        if self.adaptive:
            th = self.theta(x).reshape(-1, k, self.c_embed, w)
            ph = self.phi(x).reshape(-1, k, self.c_embed, w)
            att_t = torch.matmul(ph.transpose(2, 3), th) / self.c_embed  # [w, v]
            # x A + x C = x (A + C): one product with the summed graphs instead of two
            graph = graph + torch.softmax(att_t, dim=-1).transpose(2, 3)
        z = torch.matmul(x3, graph).reshape(-1, k * c, 1, w)  # (N, K, C, W) -> (N, K*C, 1, W)
        return F.relu(self.bn(self.conv(z)) + self.down(x))


class TemporalConv(nn.Module):
    """2s-AGCN's ``unit_tcn``: a (kernel x 1) convolution over time, centred, then BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            c_in, c_out, (kernel, 1), padding=((kernel - 1) // 2, 0), stride=(stride, 1)
        )
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class AGCNBlock(nn.Module):
    """2s-AGCN ``TCN_GCN_unit``: relu(tcn(gcn(x)) + residual(x))."""

    def __init__(self, c_in: int, c_out: int, graph: np.ndarray, kernel: int, stride: int,
                 residual: bool, adaptive: bool, embed_ratio: int) -> None:  # fmt: skip
        super().__init__()
        self.gcn = AdaptiveGraphConv(c_in, c_out, graph, adaptive, embed_ratio)
        self.tcn = TemporalConv(c_out, c_out, kernel, stride)
        if not residual:
            self.residual: nn.Module | None = None
        elif c_in == c_out and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = TemporalConv(c_in, c_out, 1, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.tcn(self.gcn(x))
        if self.residual is not None:
            y = y + self.residual(x)
        return F.relu(y)


def temporal_extent(ops: list[tuple], length: int = 2048) -> tuple[int, int]:
    """(receptive_field, lookahead) in input frames of a stack of temporal ops.

    ``ops`` are ``("conv", kernel, stride, dilation, pad_left, pad_right)`` or ``("up", factor)``
    (linear, align_corners=False, then cropped to the input length). Tracks, for every
    output frame, the first and last input frame it can depend on, over a long dummy
    sequence; edge frames are excluded so padding does not shrink the answer.
    """
    lo = np.arange(length)
    hi = np.arange(length)
    for op in ops:
        if op[0] == "conv":
            _, k, s, d, pad_l, pad_r = op
            n_in = len(lo)
            n_out = (n_in + pad_l + pad_r - d * (k - 1) - 1) // s + 1
            idx = np.arange(n_out)[:, None] * s - pad_l + np.arange(k)[None, :] * d
            idx = np.clip(idx, 0, n_in - 1)  # taps on padding read zeros: no dependency
            lo, hi = lo[idx].min(1), hi[idx].max(1)
        elif op[0] == "up":
            f = op[1]
            o = np.arange(len(lo) * f)
            src = np.maximum((o + 0.5) / f - 0.5, 0.0)
            i0 = np.floor(src).astype(int)
            i1 = np.minimum(i0 + 1, len(lo) - 1)
            lo, hi = lo[i0], hi[i1]
        else:
            raise ValueError(f"unknown op {op!r}")
    lo, hi = lo[:length], hi[:length]
    inner = slice(length // 4, 3 * length // 4)
    t = np.arange(length)[inner]
    rf = int((hi[inner] - lo[inner]).max()) + 1
    look = int((hi[inner] - t).max())
    return rf, max(look, 0)


class AGCN(nn.Module):
    """Non-causal AGCN backbone: (N, T, M, V, C) -> L2-normalised features (N, T, D).

    Blocks run at strides 1, then 2 after block 1 (the paper's extra temporal block)
    and at the blocks whose ``strides`` entry is 2; features at T / prod(strides) are
    linearly upsampled by that factor (fixed scale, so frame phases do not depend on T)
    and cropped to T.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        graph = skeleton_graph(cfg.persons)
        self.data_bn = nn.BatchNorm1d(cfg.persons * cfg.joints * cfg.channels)
        layers: list[nn.Module] = []
        ops: list[tuple] = []
        pad = (cfg.kernel - 1) // 2
        c_in = cfg.channels
        for i, (c_out, s) in enumerate(zip(cfg.widths, cfg.strides)):
            layers.append(AGCNBlock(c_in, c_out, graph, cfg.kernel, s, residual=i > 0,
                                    adaptive=cfg.adaptive, embed_ratio=cfg.embed_ratio))  # fmt: skip
            ops.append(("conv", cfg.kernel, s, 1, pad, pad))
            c_in = c_out
            if i == 0 and cfg.extra_stride > 1:
                layers.append(
                    nn.Sequential(TemporalConv(c_in, c_in, cfg.kernel, cfg.extra_stride), nn.ReLU())
                )
                ops.append(("conv", cfg.kernel, cfg.extra_stride, 1, pad, pad))
        self.blocks = nn.ModuleList(layers)
        self.factor = math.prod(cfg.strides) * max(cfg.extra_stride, 1)
        if self.factor > 1:
            ops.append(("up", self.factor))
        self.receptive_field, self.lookahead = temporal_extent(ops)

    @property
    def dim(self) -> int:
        return self.cfg.widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        z = to_graph_layout(x, self.data_bn)
        for blk in self.blocks:
            z = blk(z)
        f = z.mean(-1)  # (N, D, T / factor): average over persons and joints
        if self.factor > 1:
            f = F.interpolate(
                f, scale_factor=float(self.factor), mode="linear", align_corners=False
            )
            f = f[:, :, :t]
        return F.normalize(f.transpose(1, 2), dim=-1)
