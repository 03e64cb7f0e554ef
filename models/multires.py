"""Multi-resolution pseudo labels from video-level labels (Su, Xu, Zhou, Ouyang, "Improving
Weakly Supervised Temporal Action Localization by Exploiting Multi-resolution Information
in Temporal Domain"): initial label generation (ILG) with temporal
multi-resolution consistency, then progressive temporal label refinement (PTLR).

Our own implementation, written from the paper. The networks here are *teachers*: offline,
free to look ahead, used only to make frame pseudo labels. What is exported and served is
the causal, step-able student that ``models/train.py`` then trains on the final labels
(frame cross-entropy over the selected frames, Eq. 6), with the run's own backbone.

**Streams.** The paper's two streams are RGB (appearance) and optical flow (motion), fused
with weights 1 and 1.5. Our skeleton analogue is the **joint stream** (channels 0-2: the
normalised joint positions, the pose "appearance") and the **motion stream** (channels 3-5:
the per-frame joint displacements, our optical flow). We chose motion over bones because
it is the paper's split (appearance vs motion, motion weighted higher), the two channel
groups already exist in every input the runtime builds (``stream/normalize.py``), and
bones are a fixed linear map of joint positions that the graph convolution can already
compute from the joint stream. Each stream has its own network (no shared weights, as in
the paper); PTLR's networks see both fused (all six channels), as the paper's F_fused.

**ILG** (section III-C). Per stream a BaS-Net-style network (``ILGNet``): this repo's
backbone and cosine head give frame logits s (N, T, K + 1); BaS-Net's filtering module (two
temporal convolutions, kernel 3 and 1, and a sigmoid) gives a foreground weight w (N, T).
BaS-Net's two branches: the *base* branch is our MIL (temporal attention pooling of s,
``mil_bce``, background counted present in every video); the *suppression* branch pools
``w * s`` (a linear classifier's logits of the filtered features ``w f``; with a cosine head
the weight must go on the logits, since the head normalises f) and is trained with the
background target 0; plus BaS-Net's L1 norm of w with weight 1e-4
(``bas_losses``). The class activation sequence is
``A = [w * softmax(s[:K]), 1 - w]`` (``bas_cas``): foreground weight times the class
distribution among actions, background 1 - w. *Why*: our first version used the MIL CAS
(frame softmax over K + 1) alone. MIL trains the background logit high in every video and the
present classes high where they act, so the frame softmax split action frames between the
class and background, never reaching 0.7, and the action scores never summed below 0.1:
ILG selected 0 of 14,034 PRECOG frames and every later stage learned nothing. The
suppression branch is what the paper's base network (BaS-Net) has for exactly this: it makes
w separate action from background. The temporal scale transform
``ST(x, s)`` resamples the skeleton input linearly in time by a random factor
s in [0.5, 2] (the paper's range; velocities are divided by s, since motion per frame
shrinks when time is stretched). Losses, Eq. 5: ``L_mil(joint) + L_mil(motion) +
0.5 L_csc + 0.5 L_sc(joint) + 0.5 L_sc(motion)`` with ``L_csc = |A_joint - A_motion|_1``
(Eq. 2) and ``L_sc = |ST(A, s) - A_hat|_1`` (Eqs. 3-4; A_hat = the CAS of the transformed
input). One network per stream serves both resolutions (shared weights). Our L1 terms are
per-frame sums over classes averaged over frames, so their size does not grow with the
clip. Labels (``ilg_labels``): ``A = (1 A_joint + 1.5 A_motion) / 2.5``; a frame whose score
for a class of its video reaches 0.7 takes that class, a frame whose action scores sum
below 0.1 is background, every other frame is ignored (not trained on).

**PTLR** (section III-D, Algorithm 1). Network-OTS works at the original temporal scale
(here: the run's backbone + one cosine head, as the student); Network-RTS has a shared
kernel-3 convolution on the backbone features and M = 3 branches, branch m stacking m
stride-2 kernel-3 convolutions (scale 1 / 2^m) before a 1x1 classifier; its branch CASs
are upsampled by repetition and averaged. A round trains OTS on the current labels,
relabels with OTS, trains RTS on those, relabels with RTS (``ptlr``). Labels at stage r use
threshold theta_p = 0.7, 0.65, 0.6, 0.55 (stages 1-4; later stages continue down by 0.05,
not below 0.5): a class of the video above theta_p, or background above theta_p, else
ignored. The paper's best result uses three stages (our default ``rounds`` = 3). OTS's
loss is Eq. 6 (cross-entropy averaged over the selected frames), RTS's Eq. 7 (per branch m,
low-res frame t takes the label of frame t 2^m when that one is selected; mean over branches).

**Ablation switches**: ``rounds`` = 0 skips PTLR (ILG labels train the student);
``multires=False`` is single resolution throughout (no L_sc in ILG, and PTLR with OTS
networks only: the paper's "PTLR-OTS"); ``cross_stream=False`` drops L_csc.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .heads import attention_pool
from .losses import mil_bce

__all__ = [
    "IGNORE_INDEX",
    "ILGNet",
    "MultiresConfig",
    "bas_cas",
    "bas_losses",
    "RTSNet",
    "cross_stream_loss",
    "ilg_labels",
    "ilg_loss",
    "ilg_score_summary",
    "multires_consistency_loss",
    "multires_pseudo_labels",
    "ptlr",
    "pseudo_frame_ce",
    "refine_labels",
    "rts_loss",
    "scale_transform",
    "stage_threshold",
    "teacher_epochs",
    "teacher_stages",
    "upsample_cas",
]

IGNORE_INDEX = -100  # a frame without a pseudo label (torch's cross-entropy default)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MultiresConfig:
    """ILG and PTLR hyper-parameters; defaults are the paper's (section III and IV-A).

    ``alpha`` / ``beta`` / ``gamma``: weights of the cross-stream and the two streams'
    multi-resolution consistency losses (Eq. 5: 0.5 each). ``scale_range``: the random
    temporal scale factor s (0.5 to 2). ``stream_weights``: joint and motion CAS weights
    (the paper's RGB 1 and flow 1.5). ``high`` / ``low``: ILG thresholds (0.7, 0.1).
    ``thetas``: PTLR's theta_p per stage (0.7, 0.65, 0.6, 0.55). ``branches``: M, RTS
    branches (3). ``rounds``: PTLR stages (3, the paper's best). ``multires`` /
    ``cross_stream``: the ablation switches. ``norm_weight``: BaS-Net's weight of the L1 norm
    of the foreground weights (1e-4).
    """

    alpha: float = 0.5
    beta: float = 0.5
    gamma: float = 0.5
    scale_range: tuple[float, float] = (0.5, 2.0)
    stream_weights: tuple[float, float] = (1.0, 1.5)
    high: float = 0.7
    low: float = 0.1
    thetas: tuple[float, ...] = (0.7, 0.65, 0.6, 0.55)
    branches: int = 3
    rounds: int = 3
    multires: bool = True
    cross_stream: bool = True
    norm_weight: float = 1e-4


def stage_threshold(cfg: MultiresConfig, stage: int) -> float:
    """theta_p of PTLR stage ``stage`` (0-based): the paper's list, then 0.05 lower per stage, >= 0.5."""
    if stage < len(cfg.thetas):
        return cfg.thetas[stage]
    return max(0.5, cfg.thetas[-1] - 0.05 * (stage - len(cfg.thetas) + 1))


# ----------------------------------------------------------------------------- pure functions


def scale_transform(x: torch.Tensor, s: float | None = None, length: int | None = None) -> torch.Tensor:
    """ST(x, s): linear resampling along time (axis 1) of x (N, T, ...) to ``round(T s)``
    frames (or ``length``), end frames aligned (``align_corners``)."""
    n, t = x.shape[:2]
    out = int(length if length is not None else max(1, round(t * float(s))))
    flat = x.reshape(n, t, -1).transpose(1, 2)  # (N, F, T)
    if t == 1:
        y = flat.expand(-1, -1, out)
    else:
        y = F.interpolate(flat, size=out, mode="linear", align_corners=True)
    return y.transpose(1, 2).reshape(n, out, *x.shape[2:])


def _frame_mean(v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return v.mean()
    m = mask.to(v.dtype)
    return (v * m).sum() / m.sum().clamp_min(1.0)


def multires_consistency_loss(cas: torch.Tensor, cas_scaled: torch.Tensor,
                              mask_scaled: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """Eqs. 3-4: ``|ST(A, s) - A_hat|_1``. cas (N, T, C1) at the original resolution, cas_scaled
    (N, T', C1) from the transformed input; ST resamples ``cas`` to T'. L1 over classes per
    frame, averaged over the real frames of ``mask_scaled`` (N, T')."""
    st = scale_transform(cas, length=cas_scaled.shape[1])
    return _frame_mean((st - cas_scaled).abs().sum(-1), mask_scaled)


def cross_stream_loss(cas_a: torch.Tensor, cas_b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 2: ``|A_joint - A_motion|_1`` per frame (sum over classes), averaged over real frames."""
    return _frame_mean((cas_a - cas_b).abs().sum(-1), mask)


def ilg_labels(cas_joint: torch.Tensor, cas_motion: torch.Tensor, video: torch.Tensor,
               weights: tuple[float, float] = (1.0, 1.5), high: float = 0.7, low: float = 0.1) -> torch.Tensor:  # fmt: skip
    """Initial pseudo labels of one clip. cas_* (T, K+1) probabilities, video (K+1,) multi-hot.

    ``A = (w_j A_joint + w_m A_motion) / (w_j + w_m)``; frame t gets the class c of the video
    with the highest A[t, c] when that reaches ``high``; otherwise background (K) when
    ``sum_c A[t, c]`` over the actions is below ``low``; otherwise ``IGNORE_INDEX``."""
    a = (weights[0] * cas_joint + weights[1] * cas_motion) / float(sum(weights))
    return _threshold(a, video, high, lambda act, bg: act.sum(-1) < low)


def refine_labels(probs: torch.Tensor, video: torch.Tensor, theta: float) -> torch.Tensor:
    """PTLR pseudo labels of one clip: probs (T, K+1); a class of the video whose score reaches
    ``theta`` (the highest such), else background when its score reaches ``theta``, else ignored."""
    return _threshold(probs, video, theta, lambda act, bg: bg >= theta)


def _threshold(a: torch.Tensor, video: torch.Tensor, high: float, is_bg: Callable) -> torch.Tensor:
    k = a.shape[-1] - 1
    present = video[:k] > 0
    act = a[:, :k].masked_fill(~present, -1.0)
    best, cls = act.max(-1)
    out = torch.full((a.shape[0],), IGNORE_INDEX, dtype=torch.int64, device=a.device)
    out = torch.where(is_bg(a[:, :k], a[:, k]), torch.full_like(out, k), out)
    # ">= threshold": the paper says "larger than", but its worked example (section III-D,
    # theta_p = 0.7) selects the frames scoring exactly 0.7
    return torch.where(best >= high, cls, out)


def bas_cas(logits: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The ILG class activation sequence (N, T, K+1) from frame logits (N, T, K+1) and
    foreground weights w (N, T) in [0, 1]: ``[w * softmax(logits[:K]), 1 - w]`` (sums to 1)."""
    return torch.cat([w[..., None] * torch.softmax(logits[..., :-1], -1), (1.0 - w)[..., None]], -1)


def bas_losses(logits: torch.Tensor, w: torch.Tensor, video: torch.Tensor, tau: float,
               mask: torch.Tensor | None = None, norm_weight: float = 1e-4) -> torch.Tensor:  # fmt: skip
    """BaS-Net's objective on our heads: ``L_base + L_supp + norm_weight * mean(w)``.

    logits (N, T, K+1), w (N, T), video (N, K+1) multi-hot. ``L_base`` = ``mil_bce`` of the
    attention-pooled logits (background target 1); ``L_supp`` = the same BCE of the pooled
    ``w * logits`` with background target 0; the norm term is the mean of w over real frames."""
    base = mil_bce(attention_pool(logits, tau, mask), video)
    y = video.to(logits.dtype).clone()
    y[..., -1] = 0.0
    r = attention_pool(logits * w[..., None], tau, mask)
    supp = F.binary_cross_entropy_with_logits(r, y, reduction="none").sum(-1).mean()
    return base + supp + norm_weight * _frame_mean(w, mask)


def upsample_cas(branch_probs: Sequence[torch.Tensor], factors: Sequence[int], length: int) -> torch.Tensor:
    """The RTS combination block: each (N, T_m, C1) branch CAS repeated ``factor`` times along
    time (low-res frame t covers frames t f .. t f + f - 1), cut to ``length``, then averaged."""
    ups = [p.repeat_interleave(f, dim=1)[:, :length] for p, f in zip(branch_probs, factors)]
    return torch.stack(ups).mean(0)


def pseudo_frame_ce(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 6: cross-entropy over the selected frames (label != IGNORE_INDEX, real), divided by
    their number N_in. logits (N, T, C1), labels (N, T) int64. No selected frame: 0."""
    sel = labels != IGNORE_INDEX
    if mask is not None:
        sel = sel & mask
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.clamp_min(0).reshape(-1), reduction="none")
    w = sel.reshape(-1).to(ce.dtype)
    return (ce * w).sum() / w.sum().clamp_min(1.0)


def rts_loss(branch_logits: Sequence[torch.Tensor], factors: Sequence[int], labels: torch.Tensor,
             mask: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """Eq. 7: per branch (factor f = 2^m), low-res frame t is trained on the label of frame t f
    (when that frame is selected and real); Eq. 6 per branch, averaged over the branches."""
    t = labels.shape[1]
    out = []
    for lg, f in zip(branch_logits, factors):
        idx = torch.arange(lg.shape[1], device=labels.device) * f
        ok = idx < t
        lab = torch.full((labels.shape[0], lg.shape[1]), IGNORE_INDEX, dtype=labels.dtype, device=labels.device)
        lab[:, ok] = labels[:, idx[ok]]
        m = None
        if mask is not None:
            m = torch.zeros_like(lab, dtype=torch.bool)
            m[:, ok] = mask[:, idx[ok]]
        out.append(pseudo_frame_ce(lg, lab, m))
    return torch.stack(out).mean()


def ptlr(labels: object, train: Callable[[str, object], object], relabel: Callable[[object, str, float], object],
         rounds: int, thresholds: Callable[[int], float], multires: bool = True,
         empty: Callable[[object], bool] | None = None) -> tuple[object, list[tuple[str, int]]]:  # fmt: skip
    """Algorithm 1: ``rounds`` stages, each training the original-scale network on the current
    labels and relabelling with it, then the reduced-scale network on *those* labels and
    relabelling with it (``multires=False``: the original-scale network both times).

    ``train(scale, labels) -> net`` and ``relabel(net, scale, theta) -> labels`` are injected
    (``scale`` is "ots" or "rts"), so the exchange is testable on its own. ``empty(labels)``:
    true when the labels select no frame; then no further network is trained (it would
    learn from nothing). Returns the final labels and the (scale, stage) order the networks
    were trained in."""
    order = []
    for stage in range(rounds):
        theta = thresholds(stage)
        for scale in ("ots", "rts" if multires else "ots"):
            if empty is not None and empty(labels):
                log.warning("multires: no frame selected, so the remaining PTLR stages are skipped "
                            "(they would train on nothing)")  # fmt: skip
                return labels, order
            net = train(scale, labels)
            labels = relabel(net, scale, theta)
            order.append((scale, stage))
    return labels, order


# ----------------------------------------------------------------------------- networks


class ILGNet(nn.Module):
    """An ILG teacher for one stream: an ``ActionNet`` (one head) plus BaS-Net's filtering
    module on its features (non-causal: a teacher only). ``forward`` -> (logits (N, T, K+1),
    w (N, T)); ``cas`` -> ``bas_cas``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        d = net.cfg.feature_dim
        self.filter = nn.Sequential(nn.Conv1d(d, d, 3, padding=1), nn.ReLU(), nn.Conv1d(d, 1, 1))

    @property
    def tau(self) -> float:
        return float(self.net.cfg.tau)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.net.backbone(x)  # (N, T, D)
        logits = self.net.heads[0](f)
        w = torch.sigmoid(self.filter(f.transpose(1, 2)))[:, 0]  # (N, T)
        return logits, w

    def cas(self, x: torch.Tensor) -> torch.Tensor:
        return bas_cas(*self(x))


class RTSNet(nn.Module):
    """Network-RTS: backbone features (N, T, D) -> kernel-3 conv -> M branches of m stride-2
    kernel-3 convs -> 1x1 classifier, CASs at T / 2^m (non-causal: a teacher only)."""

    def __init__(self, backbone: nn.Module, dim: int, num_outputs: int, branches: int = 3) -> None:
        super().__init__()
        self.backbone = backbone
        self.shared = nn.Sequential(nn.Conv1d(dim, dim, 3, padding=1), nn.ReLU())
        self.branches = nn.ModuleList(
            nn.Sequential(*[m for _ in range(b + 1) for m in (nn.Conv1d(dim, dim, 3, stride=2, padding=1), nn.ReLU())],
                          nn.Conv1d(dim, num_outputs, 1))  # fmt: skip
            for b in range(branches)
        )
        self.factors = tuple(2 ** (b + 1) for b in range(branches))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(N, T, M, V, C) -> [(N, ceil(T / 2^m), C1)] branch logits, m = 1..M."""
        h = self.shared(self.backbone(x).transpose(1, 2))
        return [b(h).transpose(1, 2) for b in self.branches]

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, C1) the combined CAS at the original resolution."""
        return upsample_cas([torch.softmax(lg, -1) for lg in self(x)], self.factors, x.shape[1])


def _streams(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 6) input -> joint (..., 0:3) and motion (..., 3:6) streams."""
    return x[..., :3], x[..., 3:]


def _scaled_input(x: torch.Tensor, mask: torch.Tensor, s: float) -> tuple[torch.Tensor, torch.Tensor]:
    """ST on the skeleton input (N, T, M, V, C): positions resampled, velocities also divided
    by s (time stretched by s: displacement per frame / s); the mask resampled and kept
    only where wholly real."""
    y = scale_transform(x, s)
    if x.shape[-1] >= 6:
        y = torch.cat([y[..., :3], y[..., 3:] / float(s)], dim=-1)
    m = scale_transform(mask.to(x.dtype)[..., None], length=y.shape[1])[..., 0] > 0.999
    return y, m


def ilg_loss(nets: nn.ModuleList, batch: dict, s: float, cfg: MultiresConfig, early: bool = True) -> torch.Tensor:
    """Eq. 5 on one batch for the two stream networks ``nets`` (joint, motion), with the
    temporal scale factor ``s`` for the multi-resolution terms.

    ``early`` (the default) backpropagates each stream's time-rescaled pass as soon as its
    term is known, so only one rescaled graph (up to twice the crop) is alive at a time:
    ``|ST(A) - A_hat|`` is differentiated towards A_hat with A held fixed, right away, and
    towards A with A_hat held fixed inside the returned loss. The two parts add up to the
    gradient of the whole term (the L1's derivative on each side is taken at the same
    values), so the update is the same as with ``early=False``, which keeps every graph
    until the caller's ``backward``. The returned value is the full loss either way, and
    the caller must clear the gradients *before* calling this."""
    mask = batch["mask"]
    outs = [n(x) for n, x in zip(nets, _streams(batch["x"]))]  # (logits, w) per stream
    loss = sum(bas_losses(lg, w, batch["video"], n.tau, mask, cfg.norm_weight) for n, (lg, w) in zip(nets, outs))
    probs = [bas_cas(lg, w) for lg, w in outs]
    if cfg.cross_stream:
        loss = loss + cfg.alpha * cross_stream_loss(probs[0], probs[1], mask)
    if cfg.multires:
        xh, mh = _scaled_input(batch["x"], mask, s)
        for wt, n, p, x in zip((cfg.beta, cfg.gamma), nets, probs, _streams(xh)):
            a_hat = n.cas(x)
            if not early:
                loss = loss + wt * multires_consistency_loss(p, a_hat, mh)
                continue
            towards_hat = wt * multires_consistency_loss(p.detach(), a_hat, mh)
            towards_hat.backward()  # frees the rescaled graph now
            loss = loss + wt * multires_consistency_loss(p, a_hat.detach(), mh)
    return loss


def ilg_score_summary(cas_joint: Sequence[torch.Tensor], cas_motion: Sequence[torch.Tensor],
                      videos: Sequence[torch.Tensor], cfg: MultiresConfig) -> str:  # fmt: skip
    """How far the fused CAS is from ILG's thresholds, for the log: percentiles over all
    frames of the best score among each video's classes (a frame is labelled from
    ``cfg.high`` up) and of the summed action scores (background below ``cfg.low``)."""
    best, total = [], []
    for a, b, v in zip(cas_joint, cas_motion, videos):
        fused = (cfg.stream_weights[0] * a + cfg.stream_weights[1] * b) / float(sum(cfg.stream_weights))
        act = fused[:, :-1]
        present = v[: act.shape[1]] > 0
        best.append(act[:, present].max(-1).values if present.any() else torch.zeros(len(act)))
        total.append(act.sum(-1))
    if not best:
        return "no frames"
    bq = np.percentile(torch.cat(best).numpy(), [50, 90, 99, 100])
    tq = np.percentile(torch.cat(total).numpy(), [0, 1, 10, 50])
    return (f"best class of the video p50/p90/p99/max {bq[0]:.2f}/{bq[1]:.2f}/{bq[2]:.2f}/{bq[3]:.2f} "
            f"(labelled from {cfg.high:g}); action sum min/p1/p10/p50 {tq[0]:.2f}/{tq[1]:.2f}/{tq[2]:.2f}/"
            f"{tq[3]:.2f} (background below {cfg.low:g})")  # fmt: skip


def _fit(net: nn.Module, clips: list, loss_fn: Callable, epochs: int, tcfg, device: str, seed: int,
         desc: str) -> nn.Module:  # fmt: skip
    """A plain training loop over random-phase crops (the student's ``ClipDataset``)."""
    from .data import ClipDataset, collate

    data = ClipDataset(clips, tcfg.crop_length(clips[0].x.shape[1] if clips else 1), seed, swap_persons=False)
    opt = torch.optim.Adam(net.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    net.to(device).train()
    for epoch in range(epochs):
        data.set_epoch(epoch)
        torch.manual_seed(seed * 1_000_003 + epoch)
        rng = np.random.default_rng([seed, epoch, 11])
        order = rng.permutation(len(data))
        total, seen = 0.0, 0
        for b in range(0, len(order), tcfg.batch_size):
            batch = collate([data[int(i)] for i in order[b : b + tcfg.batch_size]])
            batch = {k: v.to(device) if k not in ("offset", "index") else v for k, v in batch.items()}
            opt.zero_grad(set_to_none=True)  # before the loss: it may backpropagate parts itself
            loss = loss_fn(net, batch, rng)
            loss.backward()
            if tcfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), tcfg.grad_clip)
            opt.step()
            total += loss.item() * len(batch["x"])
            seen += len(batch["x"])
        log.info("multires %s: epoch %d/%d loss %.4f", desc, epoch + 1, epochs, total / max(seen, 1))
    return net.eval()


@torch.no_grad()
def _predict(fn: Callable[[torch.Tensor], torch.Tensor], clips: list, device: str) -> list[torch.Tensor]:
    """(T, C1) probabilities of each whole clip (eval mode)."""
    return [fn(torch.from_numpy(c.x)[None].to(device))[0].cpu() for c in clips]


def _stats(labels: list[np.ndarray], k: int) -> str:
    lab = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    n = max(len(lab), 1)
    return f"{(lab != IGNORE_INDEX).sum() / n:.1%} of frames selected ({(lab >= 0).sum() - (lab == k).sum()} action, " \
           f"{(lab == k).sum()} background)"


def _selects_nothing(labels: list[np.ndarray]) -> bool:
    return not any((lab != IGNORE_INDEX).any() for lab in labels)


def _warn_if_empty(labels: list[np.ndarray], stage: str) -> None:
    sel = sum(int((lab != IGNORE_INDEX).sum()) for lab in labels)
    total = sum(len(lab) for lab in labels)
    if sel < 0.01 * max(total, 1):
        log.warning("multires %s selected %d of %d frames: too few pseudo labels to learn from "
                    "(more --teacher-epochs?)", stage, sel, total)  # fmt: skip


def multires_pseudo_labels(clips: list, tcfg, model_cfg, device: str = "cpu",
                           cfg: MultiresConfig | None = None) -> dict[str, np.ndarray]:
    """Run ILG and PTLR on ``clips`` (video labels only) -> {clip id: (T,) int64 pseudo labels}
    (class index, K = background, ``IGNORE_INDEX`` = not selected).

    ``tcfg`` (TrainConfig) gives the teachers' budget (``teacher_epochs``, 0 = max(1,
    epochs // 4) each), optimiser, crops and seed, ``ptlr_rounds`` and ``ablate``;
    ``model_cfg`` the backbone shape (teachers use the same; the joint and motion networks
    take 3 channels each). Deterministic given the seed."""
    from .network import build_model

    cfg = cfg or MultiresConfig(rounds=tcfg.ptlr_rounds, multires="multires" not in tcfg.ablate,
                                cross_stream="cross-stream" not in tcfg.ablate)  # fmt: skip
    epochs = teacher_epochs(tcfg)
    k = model_cfg.num_classes
    one_head = replace(model_cfg, heads=1)
    videos = [torch.from_numpy(c.video_target) for c in clips]

    # --- ILG: one MIL network per stream, multi-resolution and cross-stream consistency
    torch.manual_seed(tcfg.seed * 7919 + 1)
    nets = nn.ModuleList([ILGNet(build_model(replace(one_head, channels=3))) for _ in range(2)])

    def loss_fn(net: nn.ModuleList, batch: dict, rng: np.random.Generator) -> torch.Tensor:
        s = float(rng.uniform(*cfg.scale_range)) if cfg.multires else 1.0
        return ilg_loss(net, batch, s, cfg)

    _fit(nets, clips, loss_fn, epochs, tcfg, device, tcfg.seed * 7919 + 1, "ILG")
    cas = [_predict(lambda x, n=n, i=i: n.cas(_streams(x)[i]), clips, device) for i, n in enumerate(nets)]
    labels = [ilg_labels(a, b, v, cfg.stream_weights, cfg.high, cfg.low).numpy()
              for a, b, v in zip(cas[0], cas[1], videos)]  # fmt: skip
    log.info("multires ILG labels: %s", _stats(labels, k))
    log.info("multires ILG scores: %s", ilg_score_summary(cas[0], cas[1], videos, cfg))
    _warn_if_empty(labels, "ILG")
    del nets

    # --- PTLR: OTS and RTS refine each other's labels in turn
    counter = iter(range(1, 1 << 30))

    def train(scale: str, current: list[np.ndarray]) -> nn.Module:
        seed = tcfg.seed * 7919 + 10 + next(counter)
        torch.manual_seed(seed)
        tagged = [replace(c, frame_target=lab) for c, lab in zip(clips, current)]
        if scale == "ots":
            net = build_model(one_head)

            def loss_fn(n, batch, rng):
                return pseudo_frame_ce(n(batch["x"])[0], batch["frame"], batch["mask"])
        else:
            net = RTSNet(build_model(one_head).backbone, model_cfg.feature_dim, model_cfg.num_outputs, cfg.branches)

            def loss_fn(n, batch, rng):
                return rts_loss(n(batch["x"]), n.factors, batch["frame"], batch["mask"])
        return _fit(net, tagged, loss_fn, epochs, tcfg, device, seed, f"PTLR {scale.upper()}")

    def relabel(net: nn.Module, scale: str, theta: float) -> list[np.ndarray]:
        fn = net.probs if scale == "rts" else (lambda x: torch.softmax(net(x)[0], -1))
        out = [refine_labels(p, v, theta).numpy() for p, v in zip(_predict(fn, clips, device), videos)]
        log.info("multires PTLR %s labels (theta %.2f): %s", scale.upper(), theta, _stats(out, k))
        _warn_if_empty(out, f"PTLR {scale.upper()}")
        return out

    labels, _order = ptlr(labels, train, relabel, cfg.rounds, lambda st: stage_threshold(cfg, st), cfg.multires,
                          empty=_selects_nothing)  # fmt: skip
    if _selects_nothing(labels):
        log.warning("multires: the teachers selected no frame at all, so the student has nothing to learn "
                    "from and its model will detect nothing (more --teacher-epochs, or --method flr)")  # fmt: skip
    return {c.id: np.asarray(lab, dtype=np.int64) for c, lab in zip(clips, labels)}


def teacher_epochs(tcfg) -> int:
    """Epochs of each teacher stage for a TrainConfig (``teacher_epochs`` or epochs // 4, >= 1)."""
    return tcfg.teacher_epochs or max(1, tcfg.epochs // 4)


def teacher_stages(tcfg) -> int:
    """Teacher trainings of a run: ILG, then two per PTLR round (OTS and RTS)."""
    return 1 + 2 * tcfg.ptlr_rounds

