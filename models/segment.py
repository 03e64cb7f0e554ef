"""Segment-level supervision (Ding et al., "Weakly Supervised Temporal Action Localization
with Segment-Level Labels"): one or two short labelled segments per action instance.

Our own implementation, written from the paper. Pure functions over torch tensors, plus
the label side (sampling segments from intervals, reading a segments file).

Shapes and units: N clips, T model frames (at the model's fps), K action classes,
C1 = K + 1 outputs with the background last (index K), D feature channels. ``mask`` (N, T)
bool marks real frames. ``segments`` (N, T) int64: the class index (0..K-1) of a frame
inside a labelled segment, -1 elsewhere (and on padding), the analogue of ``points``.

**Segment length.** The paper cuts videos into non-overlapping 16-frame segments (the
unit of its I3D / UntrimmedNet features; THUMOS14 video is 25-30 fps, so a segment is
about 0.53-0.64 s) and annotators mark "one or two interval seconds" per instance. We
keep the paper's 16 frames at 30 fps = 0.533 s and scale it to the model's frame rate:
``segment_frames(fps) = max(1, round(16 / 30 * fps))`` (16 at 30 fps, 8 at 15 fps, 5 at
10 fps); ``--segment-frames`` overrides it. A segment never leaves its instance: in an
instance shorter than that, the whole instance is the segment.

**Sampling** (``sample_segments``; the paper samples its labels from the boundary
annotations too, section 3). Per action instance, in model frames, with a generator fixed
by (seed, sequence id) (``segment_rng``, a stable CRC-32 of the id; independent of the
order in which sequences are visited): ``segments_per_instance`` = 1 draws one start
uniformly among the positions where the whole segment fits inside the instance;
= 2 draws two such starts independently and labels the span from the first segment's start
to the second's end, because "segments between two labeled interval segments can all be
regarded as ground-truth segments" (paper, section 3). Same seed, same segments.

**Segments file** (``read_segments_csv``): ``sequence,class_id,kind,seg_start,seg_end``,
one labelled segment per row, frames of the dataset's own sequences (0-based, inclusive,
as in ``labels.csv``), and ``kind`` = ``segment`` on every row. The column names differ
from an interval file's (``start_frame,end_frame``) so neither reader accepts the other's
file, and the explicit kind makes the intent readable.

**Losses** (Eq. 1: ``L = L_cls + alpha L_segment + beta L_sphere + gamma L_prop``). The two
CASs of the paper are our two cosine heads on one backbone: head 0 is the classification
module (C_cls), head 1 the localization module (C_loc); the served output averages the two
heads' frame softmaxes, our analogue of the paper's final ``C_a = (C_cls + C_loc) / 2``.

* ``topk_classification_loss`` (Eqs. 2-4, top-k MIL): per class the mean of the top
  ``k = T // r`` frame logits of C_cls, a softmax over classes, ``-(1/C) sum_c y_c log p_c``.
  ``r = 2Q`` with Q the number of labelled segments in the clip (paper, section 5.1).
  Our outputs include background, which is counted as present in every clip (as this
  repo's MIL and BaS-Net do): otherwise no loss ever teaches the background column the
  runtime thresholds against.
* ``partial_segment_loss`` (Eqs. 5-6): ``a = softmax over time of C_loc[:, c]``; the loss
  is ``-log a(t, c)`` summed over the labelled (t, c) only: a sampling of the loss over the
  labelled parts. The paper samples no background frames: the softmax over time makes
  every other frame a competitor for the class, so unlabelled frames are pushed down
  implicitly, which is why the propagation regulariser is needed.
* ``sphere_loss`` (Eqs. 7-10): per class present, the features of the frames whose ``a``
  is at least its median, weighted by ``a`` (W-TALC's class-wise aggregation, renormalised
  to sum 1), are classified by A-Softmax with margin m against the classification head's
  weights (SphereFace's ``psi(theta) = (-1)^k cos(m theta) - 2k``; the paper prints ``- 2``,
  a typo for SphereFace's ``- 2k``). m = 4 is SphereFace's default; the paper does not
  state its m. *Deviation*: our features are unit vectors (the cosine head's input), so
  ``||F||`` carries no information and the cosine head's scale ``delta`` stands in for it.
* ``propagation_loss`` (Eq. 13): ``sum_c sum_ij S_ij (C_loc[i, c] - C_loc[j, c])^2`` over
  the action classes with ``S = f f^T`` (normalised, see the deviations below). *Choices*: S
  is built from the unit (centred) features, clamped at 0 (a graph affinity: only similar frames are pulled together, as in the
  semi-supervised embedding loss the paper starts from) and detached (it is the fixed
  graph of the regulariser; the sphere loss is what shapes f).

**Deviations for a served frame classifier** (why: the paper scores by thresholding C_a
per class *along time*; our runtime and ``skelact detect`` threshold a per-frame softmax over
K classes + background. None of the four losses above teaches that distribution: the
partial segment loss is a softmax over time per class, top-k MIL a softmax over classes of
pooled scores. Trained with the four alone on PRECOG, the frame softmax never separated
actions from background: 12.5 held-out det mAP after 22 of 50 epochs, losses flat.) All four losses are kept,
with their paper weights, and we add:

* ``segment_frame_loss``: frame cross-entropy over the K + 1 classes at the labelled
  segment frames, on both heads. It is the same "sampling of the loss over the labelled
  parts" as Eq. 5-6, in the frame classifier's terms (the frame's class against the other
  classes and background, instead of the frame against the other frames of its class).
* ``background_loss`` on pseudo-background frames (``pseudo_background``), as LACP and
  BaS-Net select pseudo background: all real frames of a clip whose video has no action
  class, and in a clip with actions the ``bg_fraction`` (default 0.25) of its unlabelled
  frames that score highest for background (detached, mean over heads), leaving out the
  ``bg_guard`` frames (default L / 2) on either side of a labelled segment (the instance goes
  on past its segment). Frame cross-entropy with the background target on them. On PRECOG
  72 % of frames are action; about 40 % of the unlabelled frames are background, so a
  quarter of them, ranked, is a conservative pick.
  Weights ``lambda_frame`` = ``lambda_bg`` = 1 (the scale of the fully supervised frame CE).
* **Propagation loss normalised** (``propagation_loss``): the S-weighted *mean* of
  ``(x_i - x_j)^2`` per class (divided by ``sum_ij S_ij``) instead of the sum, and S built from
  features centred on the clip's mean before normalising. With the paper's sum, our
  ReLU features (all non-negative, so every pair had cosine > 0 and S was dense) made the
  term 350 at the start, 70 x gamma larger than the rest of Eq. 1: it flattened C_loc along
  time, so the partial segment loss sat at its uniform value (log T per segment) for the
  whole run. Centred features keep only the pairs more similar than the clip's average;
  the mean keeps the term O(1) whatever the crop length, so gamma = 0.02 is a regulariser
  again.

**Units.** The paper sums over segments; we work on frames. Every sum over segments is our
sum over frames divided by the frames per segment L (``/ L`` for the partial segment loss), which equals the paper's value when C_loc is
constant within a segment, so its weights alpha = 0.1, beta = 1e-4 (section 5.1) apply
unchanged; the normalised propagation loss is unit-free, and gamma = 0.02 is kept. Per-clip
values are averaged over the batch.
"""

from __future__ import annotations

import csv
import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "PAPER_SEGMENT_FRAMES",
    "PAPER_SEGMENT_FPS",
    "SEGMENT_PARTS",
    "SegmentConfig",
    "SegmentFileError",
    "partial_segment_loss",
    "background_loss",
    "propagation_loss",
    "pseudo_background",
    "read_segments_csv",
    "sample_segments",
    "segment_frame_loss",
    "segment_frames",
    "segment_loss",
    "segment_rng",
    "sphere_loss",
    "topk_classification_loss",
    "write_segments_csv",
]

PAPER_SEGMENT_FRAMES = 16  # frames per segment (paper, sections 1 and 4.1)
PAPER_SEGMENT_FPS = 30.0  # the rate those 16 frames are taken at (THUMOS14 video, 25-30 fps)
SEGMENT_PARTS = ("psl", "sphere", "propagation")  # parts --ablate may switch off
_KIND = "segment"
_COLUMNS = ("sequence", "class_id", "kind", "seg_start", "seg_end")


@dataclass(frozen=True)
class SegmentConfig:
    """Hyper-parameters of the segment-level losses.

    ``alpha`` / ``beta`` / ``gamma``: weights of the partial segment, sphere and
    propagation losses in Eq. 1 (paper section 5.1: 0.1, 0.0001, 0.02). ``frames_per_segment``
    (L): the unit conversion of the module docstring. ``r``: top-k ratio of the
    classification loss; 0 = the paper's ``r = 2Q`` (Q labelled segments in the clip; a
    clip without any falls back to ``r_default`` = 8, W-TALC's and LACP's ratio).
    ``margin``: A-Softmax margin m (SphereFace's default 4). ``scale``: logit scale standing
    in for ``||F||`` (the cosine head's delta). ``use_*``: the ablation switches.
    ``lambda_frame`` / ``lambda_bg``: weights of the frame cross-entropy at the labelled
    frames and at the pseudo-background frames (our additions, module docstring);
    ``bg_fraction``: share of a clip's unlabelled frames taken as pseudo background;
    ``bg_guard``: frames next to a labelled segment never taken (-1 = L // 2).
    """

    alpha: float = 0.1
    beta: float = 1e-4
    gamma: float = 0.02
    frames_per_segment: int = PAPER_SEGMENT_FRAMES
    r: int = 0
    r_default: int = 8
    margin: int = 4
    scale: float = 5.0
    use_psl: bool = True
    use_sphere: bool = True
    use_propagation: bool = True
    lambda_frame: float = 1.0
    lambda_bg: float = 1.0
    bg_fraction: float = 0.25
    bg_guard: int = -1

    def __post_init__(self) -> None:
        if self.frames_per_segment < 1 or self.r < 0 or self.r_default < 1 or self.margin < 1:
            raise ValueError("frames_per_segment, r_default and margin must be >= 1 and r >= 0")
        if not 0.0 <= self.bg_fraction <= 1.0 or self.lambda_frame < 0 or self.lambda_bg < 0:
            raise ValueError("bg_fraction must be in [0, 1] and the lambdas >= 0")

    @property
    def guard(self) -> int:
        """Frames on either side of a labelled segment never taken as pseudo background."""
        return self.frames_per_segment // 2 if self.bg_guard < 0 else self.bg_guard


# ----------------------------------------------------------------------------- labels


def segment_frames(fps: float, frames: int | None = None) -> int:
    """Frames per labelled segment at the model's ``fps``: ``frames`` when given, else the
    paper's 16 frames at 30 fps scaled to ``fps`` (16 at 30, 8 at 15, 5 at 10)."""
    if frames:
        return int(frames)
    return max(1, int(round(PAPER_SEGMENT_FRAMES / PAPER_SEGMENT_FPS * float(fps))))


def segment_rng(seed: int, sequence_id: str) -> np.random.Generator:
    """The generator of one sequence's segment draws, fixed by ``seed`` and the id (a
    stable CRC-32); the trailing 4 keeps it apart from the point sampler's stream."""
    return np.random.default_rng([int(seed), zlib.crc32(sequence_id.encode("utf-8")), 4])


def sample_segments(extents: Iterable[tuple[int, int, int]], length: int, per_instance: int = 1,
                    rng: np.random.Generator | None = None) -> list[tuple[int, int, int]]:  # fmt: skip
    """Labelled segments inside action instances (simulated segment-level annotation).

    ``extents``: ``(class, start, end)`` of each instance, inclusive frames (any unit, here
    model frames); ``length``: frames per segment; ``per_instance``: 1 or 2 (two segments
    label the whole span between them, paper section 3). One or two uniform draws per
    instance, in the order given. Returns ``(class, start, end)`` inclusive, inside the
    instance; an instance shorter than ``length`` is labelled whole.
    """
    if per_instance not in (1, 2):
        raise ValueError(f"segments per instance must be 1 or 2, got {per_instance}")
    if length < 1:
        raise ValueError(f"segment length must be >= 1, got {length}")
    gen = rng if rng is not None else np.random.default_rng(0)
    out = []
    for cls, s, e in extents:
        free = max(0, (e - s + 1) - length)  # starts s .. s + free keep the segment inside
        starts = sorted(int(s + gen.integers(0, free + 1)) for _ in range(per_instance))
        out.append((int(cls), starts[0], min(e, starts[-1] + length - 1)))
    return out


class SegmentFileError(ValueError):
    """A segments file that cannot be read as segment labels (the message says where)."""


def read_segments_csv(path: str | Path) -> dict[str, list[tuple[int, int, int]]]:
    """A segments file -> {sequence: [(class_id, seg_start, seg_end)]} (dataset frames, inclusive).

    Raises ``SegmentFileError`` with a one-line message for a file without the ``kind``
    column (an interval ``labels.csv`` is not segment labels), a row whose kind is not
    ``segment``, a missing column, a non-integer field or a segment ending before it starts.
    """
    p = Path(path)
    try:
        f = p.open(newline="", encoding="utf-8")
    except OSError as e:
        raise SegmentFileError(f"{p}: cannot read the segments file ({e.strerror or e})") from None
    out: dict[str, list[tuple[int, int, int]]] = {}
    with f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or [])
        if "kind" not in cols:
            hint = (" (this looks like interval labels: a segments file has columns "
                    f"{','.join(_COLUMNS)} with kind=segment)") if "start_frame" in cols else ""  # fmt: skip
            raise SegmentFileError(f"{p}:1: no 'kind' column, so not a segments file{hint}; "
                                   f"expected header {','.join(_COLUMNS)}")  # fmt: skip
        missing = [c for c in _COLUMNS if c not in cols]
        if missing:
            raise SegmentFileError(f"{p}:1: missing column(s) {','.join(missing)}; expected {','.join(_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            if None in row or any(v is None for v in row.values()):
                raise SegmentFileError(f"{p}:{line}: wrong number of columns")
            kind = (row["kind"] or "").strip()
            if kind != _KIND:
                raise SegmentFileError(f"{p}:{line}: kind is {kind!r}, expected 'segment' "
                                       "(a segments file holds only segment labels)")  # fmt: skip
            try:
                c, s, e = (int(row[k]) for k in ("class_id", "seg_start", "seg_end"))
            except ValueError:
                raise SegmentFileError(f"{p}:{line}: class_id, seg_start and seg_end must be integers") from None
            if s < 0 or e < s:
                raise SegmentFileError(f"{p}:{line}: bad segment {s}..{e}")
            out.setdefault(row["sequence"], []).append((c, s, e))
    return out


def write_segments_csv(path: str | Path, segments: dict[str, Sequence[tuple[int, int, int]]]) -> Path:
    """Write {sequence: [(class_id, seg_start, seg_end)]} in the format ``read_segments_csv`` reads."""
    p = Path(path)
    with p.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(_COLUMNS)
        for sid in sorted(segments):
            for c, s, e in sorted(segments[sid], key=lambda v: (v[1], v[2], v[0])):
                w.writerow([sid, c, _KIND, s, e])
    return p


# ----------------------------------------------------------------------------- losses


def _mask(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    return mask


def topk_classification_loss(cas: torch.Tensor, video: torch.Tensor, mask: torch.Tensor | None,
                             k: torch.Tensor | Sequence[int]) -> torch.Tensor:  # fmt: skip
    """Eqs. 2-4. cas (N, T, C1) logits; video (N, C1) multi-hot (background forced to 1);
    k (N,) frames pooled per clip. Per clip: ``s_c`` = mean of the top k_i real frames of
    class c, ``p = softmax(s)``, loss ``-(1/C1) sum_c y_c log p_c``; mean over clips."""
    m = _mask(cas, mask)
    y = video.to(cas.dtype).clone()
    y[:, -1] = 1.0
    losses = []
    for i in range(cas.shape[0]):
        x = cas[i][m[i]]  # (t, C1)
        kk = int(min(max(int(k[i]), 1), x.shape[0]))
        s = torch.topk(x, kk, dim=0).values.mean(0)
        losses.append(-(y[i] * F.log_softmax(s, dim=-1)).sum() / y.shape[1])
    return torch.stack(losses).mean()


def partial_segment_loss(cas: torch.Tensor, segments: torch.Tensor, mask: torch.Tensor | None = None,
                         frames_per_segment: int = 1) -> torch.Tensor:  # fmt: skip
    """Eqs. 5-6. cas (N, T, C1) localization logits; segments (N, T) class or -1.

    ``a = softmax over real frames of cas[:, :, c]``; per clip ``sum over labelled (t, c) of
    -log a(t, c)`` divided by ``frames_per_segment`` (the paper's sum over segments); mean
    over clips. A clip without labelled frames contributes 0."""
    m = _mask(cas, mask)
    logp = F.log_softmax(cas.masked_fill(~m[..., None], float("-inf")), dim=1)  # over time
    lab = (segments >= 0) & m
    cls = segments.clamp_min(0)
    picked = logp.gather(2, cls[..., None])[..., 0]  # (N, T)
    per_clip = torch.where(lab, -picked, torch.zeros_like(picked)).sum(1) / float(frames_per_segment)
    return per_clip.mean()


def _psi(cos: torch.Tensor, m: int) -> torch.Tensor:
    """SphereFace's monotone margin function of theta, from cos(theta): (-1)^k cos(m theta) - 2k."""
    c = cos.clamp(-1.0, 1.0)
    theta = torch.acos(c.detach().clamp(-1 + 1e-7, 1 - 1e-7))
    k = torch.floor(m * theta / math.pi)
    # cos(m theta) as a polynomial in cos(theta) (Chebyshev), differentiable everywhere
    t0, t1 = torch.ones_like(c), c
    for _ in range(m - 1):
        t0, t1 = t1, 2 * c * t1 - t0
    cos_m = t1 if m >= 1 else t0
    return torch.where(k.remainder(2) == 0, cos_m, -cos_m) - 2 * k


def sphere_loss(features: torch.Tensor, cas_loc: torch.Tensor, weight: torch.Tensor, video: torch.Tensor,
                mask: torch.Tensor | None = None, margin: int = 4, scale: float = 5.0) -> torch.Tensor:  # fmt: skip
    """Eqs. 7-10. features (N, T, D); cas_loc (N, T, C1); weight (C1, D) classifier weights;
    video (N, C1) multi-hot (only action classes present, background excluded, are used).

    Per clip and present class c: ``a`` = softmax over time of cas_loc[:, c]; ``A`` = a where
    a >= its median (else 0), renormalised; ``F_c = sum_t A_t f_t``; A-Softmax cross-entropy
    of F_c with target c: logits ``scale * cos(theta_j)`` for j != c and ``scale * psi(theta_c)``.
    Summed over the classes of a clip (Eq. 10), mean over clips; 0 when no class is present."""
    m = _mask(cas_loc, mask)
    w = F.normalize(weight, dim=-1)
    k = cas_loc.shape[-1] - 1
    losses = []
    for i in range(cas_loc.shape[0]):
        f = features[i][m[i]]  # (t, D)
        a = torch.softmax(cas_loc[i][m[i]], dim=0)  # (t, C1)
        for c in torch.nonzero(video[i, :k] > 0).flatten().tolist():
            ac = a[:, c]
            att = torch.where(ac >= ac.median(), ac, torch.zeros_like(ac))
            att = att / att.sum().clamp_min(1e-12)
            feat = att @ f  # (D,)
            cos = F.normalize(feat, dim=0) @ w.t()  # (C1,)
            logits = scale * torch.cat([cos[:c], _psi(cos[c : c + 1], margin), cos[c + 1 :]])
            losses.append(F.cross_entropy(logits[None], torch.tensor([c], device=logits.device)))
    if not losses:
        return cas_loc.sum() * 0.0
    per_clip = torch.zeros(cas_loc.shape[0], dtype=cas_loc.dtype, device=cas_loc.device)
    idx = [i for i in range(cas_loc.shape[0]) for _ in range(int((video[i, :k] > 0).sum()))]
    per_clip = per_clip.index_add(0, torch.tensor(idx, device=per_clip.device), torch.stack(losses))
    return per_clip.mean()


def propagation_loss(cas_loc: torch.Tensor, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 13 summed over the K action classes, normalised. cas_loc (N, T, C1); features (N, T, D).

    ``S = max(0, g g^T)`` over real frames, g = the features minus their mean over the clip's
    real frames, unit-normalised (S detached); per clip
    ``sum_c sum_ij S_ij (x_ic - x_jc)^2 / sum_ij S_ij`` with x = cas_loc[..., :K] (the
    S-weighted mean squared difference, summed over classes; module docstring for why not
    the paper's plain sum), computed as ``2 (sum_i d_i x_i^2 - x^T S x)`` (d = row sums of S)
    without forming the pairwise differences; mean over clips (0 for a clip with S = 0)."""
    m = _mask(cas_loc, mask).to(cas_loc.dtype)
    f = features.detach() * m[..., None]
    mean = f.sum(1, keepdim=True) / m.sum(1).clamp_min(1.0)[:, None, None]
    g = F.normalize((f - mean) * m[..., None], dim=-1)
    s = torch.bmm(g, g.transpose(1, 2)).clamp_min(0.0)  # (N, T, T), zero rows/cols on padding
    x = cas_loc[..., :-1] * m[..., None]  # (N, T, K)
    d = s.sum(-1)  # (N, T)
    energy = 2.0 * ((d[..., None] * x * x).sum((1, 2)) - (x * torch.bmm(s, x)).sum((1, 2)))
    return (energy / d.sum(1).clamp_min(1e-12)).mean()


def segment_frame_loss(logits: torch.Tensor, segments: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Frame cross-entropy over the K + 1 classes at the labelled segment frames (our
    addition, module docstring). logits (N, T, C1); segments (N, T) class or -1. Mean over a
    clip's labelled frames, then over the clips that have any (0 when none has)."""
    sel = (segments >= 0) & _mask(logits, mask)
    return _selected_ce(logits, segments.clamp_min(0), sel)


def background_loss(logits: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Frame cross-entropy with the background target (index K) on the (N, T) bool
    ``background`` frames; mean per clip, then over the clips that have any."""
    tgt = torch.full(background.shape, logits.shape[-1] - 1, dtype=torch.int64, device=logits.device)
    return _selected_ce(logits, tgt, background)


def _selected_ce(logits: torch.Tensor, target: torch.Tensor, sel: torch.Tensor) -> torch.Tensor:
    ce = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")  # (N, T)
    cnt = sel.sum(1)
    per = (ce * sel).sum(1) / cnt.clamp_min(1)
    has = cnt > 0
    return per[has].mean() if bool(has.any()) else logits.sum() * 0.0


@torch.no_grad()
def pseudo_background(bg_score: torch.Tensor, segments: torch.Tensor, has_action: torch.Tensor,
                      mask: torch.Tensor | None = None, fraction: float = 0.25, guard: int = 0) -> torch.Tensor:  # fmt: skip
    """Pseudo-background frames (N, T) bool. bg_score (N, T): a frame's background score
    (higher = more background); segments (N, T) class or -1; has_action (N,) bool: the clip's
    video has an action class.

    A clip whose video has no action class: all its real frames. Otherwise, among its real
    frames that are neither labelled nor within ``guard`` frames of a labelled frame, the
    ``ceil(fraction * unlabelled real frames)`` with the highest score (ties: earlier first)."""
    m = _mask(bg_score, mask)
    lab = (segments >= 0) & m
    near = lab.clone()
    if guard > 0:  # dilate the labelled frames by guard on both sides
        near = F.max_pool1d(lab[:, None].float(), 2 * guard + 1, stride=1, padding=guard)[:, 0] > 0
    out = torch.zeros_like(m)
    for i in range(bg_score.shape[0]):
        if not bool(has_action[i]):
            out[i] = m[i]
            continue
        cand = m[i] & ~near[i]
        n = min(int(math.ceil(fraction * int((m[i] & ~lab[i]).sum()))), int(cand.sum()))
        if n <= 0:
            continue
        score = bg_score[i].masked_fill(~cand, float("-inf"))
        idx = torch.sort(score, descending=True, stable=True).indices[:n]
        out[i, idx] = True
    return out


def segment_loss(logits: torch.Tensor, features: torch.Tensor, mask: torch.Tensor | None,
                 segments: torch.Tensor, video: torch.Tensor, weight: torch.Tensor,
                 cfg: SegmentConfig) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
    """Eq. 1 plus our frame terms for one batch. logits (2, N, T, C1): head 0 = C_cls, head 1 =
    C_loc; features (N, T, D); segments (N, T); video (N, C1); weight (C1, D): head 0's
    classifier weights.

    ``L = L_cls + alpha L_segment + beta L_sphere + gamma L_prop + lambda_frame L_frame +
    lambda_bg L_bg`` (the last two on both heads, averaged). Returns the loss and its parts
    (unweighted) for the log; switched-off parts are 0."""
    if logits.shape[0] != 2:
        raise ValueError(f"segment supervision needs two heads (classification, localization), got {logits.shape[0]}")
    c_cls, c_loc = logits[0], logits[1]
    m = _mask(c_cls, mask)
    lab = ((segments >= 0) & m).sum(1).to(torch.float32)  # labelled frames per clip
    real = m.sum(1).to(torch.float32)
    if cfg.r > 0:
        k = torch.floor(real / cfg.r)
    else:
        q = torch.ceil(lab / cfg.frames_per_segment)  # labelled segments Q
        r = torch.where(q > 0, 2.0 * q, torch.full_like(q, float(cfg.r_default)))
        k = torch.floor(real / r)
    k = k.clamp_min(1).to(torch.int64).tolist()
    zero = c_cls.sum() * 0.0
    l_cls = topk_classification_loss(c_cls, video, m, k)
    l_seg = partial_segment_loss(c_loc, segments, m, cfg.frames_per_segment) if cfg.use_psl else zero
    l_sph = sphere_loss(features, c_loc, weight, video, m, cfg.margin, cfg.scale) if cfg.use_sphere else zero
    l_prop = propagation_loss(c_loc, features, m) if cfg.use_propagation else zero
    l_frame = torch.stack([segment_frame_loss(lg, segments, m) for lg in logits]).mean()
    bg_score = torch.softmax(logits.detach(), -1)[..., -1].mean(0)  # (N, T)
    bkg = pseudo_background(bg_score, segments, (video[:, :-1] > 0).any(1), m, cfg.bg_fraction, cfg.guard)
    l_bg = torch.stack([background_loss(lg, bkg) for lg in logits]).mean()
    loss = (l_cls + cfg.alpha * l_seg + cfg.beta * l_sph + cfg.gamma * l_prop
            + cfg.lambda_frame * l_frame + cfg.lambda_bg * l_bg)  # fmt: skip
    return loss, {"cls": l_cls.item(), "psl": l_seg.item(), "sphere": l_sph.item(), "prop": l_prop.item(),
                  "frame": l_frame.item(), "bg": l_bg.item()}  # fmt: skip
