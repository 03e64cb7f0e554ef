"""LACP point-level supervision (Lee & Byun, ICCV 2021, "Learning Action Completeness from Points").

Our own implementation, written from the paper and the authors' public code
(github.com/Pilhyeon/Learning-Action-Completeness-from-Points, files ``model.py``,
``train.py``, ``utils.py``, ``search.py``, ``decode.py``, ``options.py``; "L" = line there).
Pure functions over torch tensors; the search runs in numpy on detached scores.

Shapes and units: N clips, T frames (model frames at the model's fps), K action classes,
C1 = K + 1 outputs with the background last (index K), D feature channels. ``mask`` (N, T)
bool marks real frames (``collate`` pads on the right); padded frames are dropped before any
per-video computation. ``points`` (N, T) int64: the class (0..K-1) of a labelled point frame,
-1 elsewhere (and on padding). Pseudo labels (T,) / (N, T) int64: a class 0..K-1, K for
background, ``IGNORE_INDEX`` (-100, torch's cross-entropy default) for no label.

The method, and what mirrors what:

* **Frame scores** (``frame_scores``). The authors' head gives independent sigmoids and
  fuses them, ``p_c = sigmoid(s_c) * (1 - sigmoid(s_bg))``, ``p_bg = sigmoid(s_bg)``
  (model.py, ``cas_sigmoid_fuse``). Our network's served output is the softmax over K + 1,
  which has the same property (``p_c <= 1 - p_bg``), so ``scores="softmax"`` (default) trains
  the very probabilities the runtime thresholds; ``scores="sigmoid"`` is the authors' fusion.
* **Baseline** (paper: ``L_baseline = L_video + L_point``; ``point_losses``):
  - video loss: BCE of a video score per class, the mean of the top ``T // r_act`` frame
    scores for classes in the video and the mean over all frames for absent ones
    (model.py ``vid_score``; train.py ``loss_vid``). Uses the *unfused* class scores, as there.
  - point loss: focal-weighted BCE (weight ``(1 - p)^2`` on the target column, ``p^2`` on the
    others, summed over the K + 1 columns) at the labelled frames, divided by the number of
    points (train.py ``loss_frame``, L25-28).
  - pseudo background points (``select_seeds``, utils.py ``select_seed``): in the stretch
    before the first point, frames with ``p_bg >= 0.95`` are found and everything from frame 0
    to the last of them is background (none: up to the ``p_bg`` argmax); symmetrically after
    the last point; between two points the span from the first to the last such frame (fewer
    than two: the argmax frame). The same focal BCE with the background target is averaged
    over them (``loss_frame_bkg``, L30-43). Labelled points are never selected (their
    stretches exclude them). The same function also grows each point into neighbouring frames
    with ``p_bg <= 0.1`` up to the first background seed (pseudo action points, used by the
    search only, as in search.py).
* **Optimal sequence search** (paper: the optimal sequence pi* of completeness learning;
  ``optimal_sequence_search``, ``class_sequence_search``): per class present, the frames
  alternate background / action segments, each action segment holding one group of that
  class's (grown) points and each background segment between them holding that stretch's
  background seeds (other classes' points count as background: search.py ``other_actions``).
  The completeness score of a sequence is the mean over its segments of the outer-inner
  contrast ``OIC = mean(score inside) - mean(score in the 25 % margins outside)`` (margins
  clipped to the clip; outer start ``int(s - 0.25 L)``, outer end ``int(e + 0.25 L)`` as in
  decode.py ``oic_score``), on ``p_c`` for action and ``1 - p_c`` for background segments.
  The authors search it with a pruned beam (``Decoder``: at most ``budget`` = 25 hypotheses,
  partial ones with mean OIC < 0.1 dropped). The number of segments is fixed by the seeds,
  so maximising the mean is maximising a sum of per-segment terms that each depend on the
  segment's own two boundaries: we solve it *exactly* by dynamic programming over the
  boundaries (each boundary lies between the last seed of one segment and the first of the
  next), which is never worse than the beam. Frames claimed by two classes become IGNORE.
* **Score contrastive loss** (paper ``L_score``; ``score_contrastive_loss``), as in train.py
  L49-174: per clip, ``l_act`` = mean over the action segments (all classes) of
  ``1 - OIC(p_c)``, ``l_bkg`` = mean over the background segments of each class (maximal
  runs not labelled that class) of ``1 - OIC(1 - p_c)``, loss ``(l_act + l_bkg)^2``; the
  code's form, not the paper's ``1 - R(pi*)``.
* **Feature contrastive loss** (paper ``L_feat``; ``feature_contrastive_loss``), train.py
  L74-127: per class with at least two action segments, each segment (action, and
  background = runs not labelled that class) is embedded as the mean of ``sampling_size`` = 3
  frame features drawn one from each third of it (utils.py ``feature_sampling``),
  L2-normalised; with ``s = cos / tau`` (tau = 0.1) each action segment's loss is
  ``-log(sum_{other actions} e^s / sum_{all others} e^s)`` (action instances attract, background
  repels), averaged over action segments, then over such classes (the paper's normaliser; the
  code keeps only the last class, which we take for an oversight).
  *Skeleton deviation*: the authors contrast their 2048-d embedding of I3D RGB + flow
  features (model.py ``conv_1`` output); we use the backbone's per-frame skeleton features
  (N, T, D), normalised per segment the same way.

Hyper-parameters (``LACPConfig`` defaults are the authors'): loss weights
``[video, point, bkg, score, feat] = [1, 0.5, 1, 1, 1]`` (options.py L14 ``--lambdas``,
order from train.py ``loss_total``); ``r_act = 8`` (options.py L17); focal exponent 2
(train.py L26, L41); ``act_thresh = 0.1``, ``bkg_thresh = 0.95`` (utils.py ``select_seed``,
~L177-178); OIC margin 0.25 (utils.py ``get_oic_score`` ``delta``, decode.py ``_lambda``);
``tau = 0.1``, ``sampling_size = 3`` (train.py L9-10); search every ``search_freq = 10``
iterations with ``budget = 25`` (options.py L15-16; beam pruning 0.1, search.py
``greedy_search_with_id``). Their optimiser (not ours to set): Adam 1e-4, weight decay 5e-4,
batch 16, 2000 iterations (options.py L19-20, main.py).

Schedule deviations: the authors re-run the search over the whole training set every 10
iterations in eval mode and store the labels; the completeness losses are 0 until the first
search (10 iterations x 16 videos ~ 0.8 epoch of THUMOS'14's 200 training videos). Here
``lacp_loss`` searches each batch online on its own detached scores (mean over heads) unless
``pseudo_labels`` are passed in (e.g. kept by the trainer, made by ``batch_pseudo_labels``
in eval mode), and the completeness losses start at epoch ``warmup_epochs`` = 1. A clip
without points gets no pseudo labels (IGNORE), no pseudo background and no point loss; the
authors' videos always have points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "IGNORE_INDEX",
    "LACPConfig",
    "batch_pseudo_labels",
    "class_sequence_search",
    "feature_contrastive_loss",
    "frame_scores",
    "lacp_loss",
    "oic_scores",
    "optimal_sequence_search",
    "point_losses",
    "score_contrastive_loss",
    "select_seeds",
]

IGNORE_INDEX = -100
_EPS = 1e-6


@dataclass(frozen=True)
class LACPConfig:
    """LACP hyper-parameters; defaults are the authors' (see the module docstring for where).

    ``lambda_*``: weights of the video, point, pseudo-background, score-contrast and
    feature-contrast losses. ``r_act``: the video score averages the top T // r_act frames.
    ``focal_gamma``: focal exponent of the point losses. ``act_thresh`` / ``bkg_thresh``:
    background-score thresholds for growing points / picking pseudo background (probabilities).
    ``delta``: OIC outer margin as a fraction of the segment length. ``tau``: temperature of
    the feature contrast; ``sampling_size``: frames drawn per segment embedding.
    ``warmup_epochs``: epochs of baseline-only training before the completeness losses (ours,
    from the authors' first search after 10 iterations). ``scores``: "softmax" (our served
    output) or "sigmoid" (the authors' fused sigmoids), see ``frame_scores``.
    """

    lambda_video: float = 1.0
    lambda_point: float = 0.5
    lambda_bkg: float = 1.0
    lambda_score: float = 1.0
    lambda_feat: float = 1.0
    r_act: int = 8
    focal_gamma: float = 2.0
    act_thresh: float = 0.1
    bkg_thresh: float = 0.95
    delta: float = 0.25
    tau: float = 0.1
    sampling_size: int = 3
    warmup_epochs: int = 1
    scores: str = "softmax"

    def __post_init__(self) -> None:
        if self.scores not in ("softmax", "sigmoid"):
            raise ValueError(f"scores must be 'softmax' or 'sigmoid', got {self.scores!r}")
        if self.r_act < 1 or self.sampling_size < 1:
            raise ValueError("r_act and sampling_size must be >= 1")
        if self.tau <= 0 or self.delta < 0:
            raise ValueError("tau must be > 0 and delta >= 0")


# ----------------------------------------------------------------------------- scores


def frame_scores(logits: torch.Tensor, mode: str = "softmax") -> tuple[torch.Tensor, torch.Tensor]:
    """(..., T, K+1) logits -> (fused (..., T, K+1), classes (..., T, K)), both in [0, 1].

    ``fused`` is what the point losses, the search and the score contrast use (action
    columns never exceed 1 - background); ``classes`` is what the video score pools.
    "softmax": both are the softmax. "sigmoid" (model.py): ``classes = sigmoid(s_c)``,
    ``fused = [sigmoid(s_c) * (1 - sigmoid(s_bg)), sigmoid(s_bg)]``.
    """
    if mode == "softmax":
        p = torch.softmax(logits, dim=-1)
        return p, p[..., :-1]
    if mode == "sigmoid":
        s = torch.sigmoid(logits)
        bg = s[..., -1:]
        return torch.cat([s[..., :-1] * (1.0 - bg), bg], dim=-1), s[..., :-1]
    raise ValueError(f"mode must be 'softmax' or 'sigmoid', got {mode!r}")


def _runs(flag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximal runs of True in a 1-D bool array: (starts, ends), ends inclusive."""
    d = np.diff(np.concatenate([[0], flag.astype(np.int8), [0]]))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1


def _outer_bounds(
    s: np.ndarray, e: np.ndarray, t: int, delta: float
) -> tuple[np.ndarray, np.ndarray]:
    """First and last frame of the outer margins of segments [s, e] (authors' rounding)."""
    length = e - s + 1
    lo = np.maximum(0, np.floor(s - delta * length)).astype(np.int64)
    hi = np.minimum(t - 1, np.floor(e + delta * length)).astype(np.int64)
    return lo, hi


def _oic_np(prefix: np.ndarray, s: np.ndarray, e: np.ndarray, delta: float) -> np.ndarray:
    """OIC of segments [s, e] (broadcastable int arrays) from a prefix sum (T+1,) of a score."""
    t = prefix.shape[0] - 1
    lo, hi = _outer_bounds(s, e, t, delta)
    inner = (prefix[e + 1] - prefix[s]) / (e - s + 1)
    n_out = (s - lo) + (hi - e)
    out = (prefix[s] - prefix[lo]) + (prefix[hi + 1] - prefix[e + 1])
    return inner - np.where(n_out > 0, out / np.maximum(n_out, 1), 0.0)


def oic_scores(score: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor,
               delta: float = 0.25) -> torch.Tensor:  # fmt: skip
    """Outer-inner contrast of segments (differentiable; utils.py ``get_oic_score``).

    score (T,) one class's scores over a clip; starts, ends (S,) int64, inclusive frame
    indices. Returns (S,): ``mean(score[s..e]) - mean(score over the margins)``, margins
    ``[int(s - delta L), s)`` and ``(e, int(e + delta L)]`` clipped to the clip, L = e - s + 1;
    empty margins count as 0.
    """
    t = score.shape[0]
    s, e = starts.cpu().numpy().astype(np.int64), ends.cpu().numpy().astype(np.int64)
    lo, hi = _outer_bounds(s, e, t, delta)
    prefix = torch.cat([score.new_zeros(1), torch.cumsum(score, 0)])
    dev = score.device
    ix = {k: torch.from_numpy(v).to(dev) for k, v in dict(s=s, e=e, lo=lo, hi=hi).items()}
    inner = (prefix[ix["e"] + 1] - prefix[ix["s"]]) / torch.from_numpy(e - s + 1).to(score)
    n_out = torch.from_numpy((s - lo) + (hi - e)).to(score)
    out = (prefix[ix["s"]] - prefix[ix["lo"]]) + (prefix[ix["hi"] + 1] - prefix[ix["e"] + 1])
    return inner - torch.where(n_out > 0, out / n_out.clamp_min(1.0), torch.zeros_like(out))


# ----------------------------------------------------------------------------- seeds


def _np1(x, dtype) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def select_seeds(bkg_score: torch.Tensor, points: torch.Tensor, act_thresh: float = 0.1,
                 bkg_thresh: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Pseudo action and background points of one clip (utils.py ``select_seed``).

    bkg_score (T,) background probability; points (T,) int64 class or -1.
    Returns ``act`` (T,) int64: the points plus, for each point, the neighbouring frames on
    either side with ``bkg_score <= act_thresh`` up to the first background seed (labelled with
    that point's class; -1 elsewhere), and ``bkg`` (T,) bool pseudo background points, chosen
    per stretch between points as described in the module docstring. Neither touches a
    labelled point of another class; ``bkg`` never contains a point. No points: nothing.
    """
    b = _np1(bkg_score, np.float64)
    pts = _np1(points, np.int64)
    t = b.shape[0]
    act = np.where(pts >= 0, pts, -1)
    seed = np.zeros(t, dtype=bool)
    idx = np.flatnonzero(pts >= 0)
    if idx.size == 0:
        return torch.from_numpy(act), torch.from_numpy(seed)
    high = b >= bkg_thresh
    first, last = int(idx[0]), int(idx[-1])
    if first > 0:  # before the first point: [0, last confident frame]
        h = np.flatnonzero(high[:first])
        seed[: (int(h[-1]) if h.size else int(np.argmax(b[:first]))) + 1] = True
    if last < t - 1:  # after the last point: [first confident frame, T)
        h = np.flatnonzero(high[last + 1 :])
        seed[last + 1 + (int(h[0]) if h.size else int(np.argmax(b[last + 1 :]))) :] = True
    for a, z in zip(idx[:-1].tolist(), idx[1:].tolist()):
        if z - a <= 1:
            continue
        h = a + 1 + np.flatnonzero(high[a + 1 : z])
        if h.size >= 2:
            seed[h[0] : h[-1] + 1] = True
        else:  # at most one confident frame: it and the most confident one
            seed[h] = True
            seed[a + 1 + int(np.argmax(b[a + 1 : z]))] = True

    def grow(frames: range, cls: int) -> None:
        for j in frames:
            if b[j] > act_thresh or seed[j]:
                break
            act[j] = cls

    grow(range(first - 1, -1, -1), int(pts[first]))
    grow(range(last + 1, t), int(pts[last]))
    for a, z in zip(idx[:-1].tolist(), idx[1:].tolist()):
        if z - a > 1:
            grow(range(a + 1, z), int(pts[a]))
            grow(range(z - 1, a, -1), int(pts[z]))
    return torch.from_numpy(act), torch.from_numpy(seed)


# ----------------------------------------------------------------------------- search


def _transcript(act: np.ndarray, bkg: np.ndarray) -> list[tuple[int, int, int]]:
    """The segments (kind 1 = action / 0 = background, first seed, last seed) a class's
    sequence must have, in order. Action seed runs with no background seed between them are
    one segment (no background segment could hold a seed there)."""
    s, e = _runs(act)
    ks, ke = [int(s[0])], [int(e[0])]
    for a, z in zip(s[1:].tolist(), e[1:].tolist()):
        if bkg[ke[-1] + 1 : a].any():
            ks.append(a)
            ke.append(z)
        else:
            ke[-1] = z
    segs: list[tuple[int, int, int]] = []
    pre = np.flatnonzero(bkg[: ks[0]])
    if pre.size:
        segs.append((0, int(pre[0]), int(pre[-1])))
    for i, (a, z) in enumerate(zip(ks, ke)):
        if i:
            g = ke[i - 1] + 1 + np.flatnonzero(bkg[ke[i - 1] + 1 : a])
            segs.append((0, int(g[0]), int(g[-1])))
        segs.append((1, a, z))
    post = ke[-1] + 1 + np.flatnonzero(bkg[ke[-1] + 1 :])
    if post.size:
        segs.append((0, int(post[0]), int(post[-1])))
    return segs


def _class_search_np(score: np.ndarray, act: np.ndarray, bkg: np.ndarray,
                     delta: float) -> tuple[np.ndarray, float]:  # fmt: skip
    t = score.shape[0]
    bkg = bkg & ~act
    segs = _transcript(act, bkg)
    prefix = {1: np.concatenate([[0.0], np.cumsum(score)]),
              0: np.concatenate([[0.0], np.cumsum(1.0 - score)])}  # fmt: skip
    n = len(segs)
    if n == 1:  # one action segment over the whole clip
        v = _oic_np(prefix[1], np.array([0]), np.array([t - 1]), delta)
        return np.ones(t, dtype=bool), float(v[0])
    # cands[i - 1]: possible first frames b_i of segment i (i = 1..n-1), between the last
    # seed of segment i - 1 (exclusive) and the first seed of segment i (inclusive).
    cands = [np.arange(segs[i - 1][2] + 1, segs[i][1] + 1) for i in range(1, n)]
    best = _oic_np(prefix[segs[0][0]], np.zeros_like(cands[0]), cands[0] - 1, delta)
    back = []
    for i in range(1, n - 1):  # segment i = [b_i, b_{i+1} - 1]
        m = best[:, None] + _oic_np(
            prefix[segs[i][0]], cands[i - 1][:, None], cands[i][None, :] - 1, delta
        )
        j = m.argmax(0)
        back.append(j)
        best = m[j, np.arange(m.shape[1])]
    total = best + _oic_np(prefix[segs[-1][0]], cands[-1], np.full_like(cands[-1], t - 1), delta)
    k = int(total.argmax())
    bounds = [int(cands[-1][k])]
    for i in range(n - 2, 0, -1):
        k = int(back[i - 1][k])
        bounds.append(int(cands[i - 1][k]))
    bounds = [0, *bounds[::-1], t]
    inside = np.zeros(t, dtype=bool)
    for i, (kind, _, _) in enumerate(segs):
        if kind:
            inside[bounds[i] : bounds[i + 1]] = True
    return inside, float(total.max()) / n


def class_sequence_search(score: torch.Tensor, act_seed: torch.Tensor, bkg_seed: torch.Tensor,
                          delta: float = 0.25) -> tuple[torch.Tensor, float]:  # fmt: skip
    """The optimal action/background sequence of one class in one clip (search.py per class).

    score (T,) the class's probability p_c; act_seed (T,) bool its (grown) points; bkg_seed
    (T,) bool frames that must be background for it (pseudo background + other classes'
    points). Returns ``inside`` (T,) bool (the action segments) and the sequence's
    completeness score R = mean over its segments of OIC (p_c on action, 1 - p_c on
    background), maximised exactly over all boundary placements where every segment keeps
    its seeds (the paper's R(pi); the authors' beam search approximates the same maximum).
    """
    act = _np1(act_seed, bool)
    if not act.any():
        raise ValueError("class_sequence_search needs at least one action seed")
    inside, value = _class_search_np(_np1(score, np.float64), act, _np1(bkg_seed, bool), delta)
    return torch.from_numpy(inside), value


def _video_search(fused: np.ndarray, act: np.ndarray, bkg: np.ndarray, delta: float) -> np.ndarray:
    """Per-frame pseudo labels (T,) of one clip from its seeds (see ``optimal_sequence_search``)."""
    t, k = fused.shape[0], fused.shape[1] - 1
    if not (act >= 0).any():
        return np.full(t, IGNORE_INDEX, dtype=np.int64)
    labels = np.full(t, k, dtype=np.int64)
    count = np.zeros(t, dtype=np.int64)
    for c in np.unique(act[act >= 0]).tolist():
        others = (act >= 0) & (act != c)
        inside, _ = _class_search_np(fused[:, c], act == c, bkg | others, delta)
        count += inside
        labels[inside] = c
    labels[count > 1] = IGNORE_INDEX
    return labels


def _dense_points(points, t: int, k: int) -> np.ndarray:
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().reshape(-1, 2).tolist()
    dense = np.full(t, -1, dtype=np.int64)
    for f, c in points:
        f, c = int(f), int(c)
        if not (0 <= f < t and 0 <= c < k):
            raise ValueError(f"point (frame {f}, class {c}) outside {t} frames x {k} classes")
        if dense[f] not in (-1, c):
            raise ValueError(f"frame {f} carries two point labels ({dense[f]} and {c})")
        dense[f] = c
    return dense


def optimal_sequence_search(scores: torch.Tensor, points: Sequence[tuple[int, int]] | torch.Tensor,
                            act_thresh: float = 0.1, bkg_thresh: float = 0.95,
                            delta: float = 0.25) -> torch.Tensor:  # fmt: skip
    """Dense pseudo labels (T,) int64 of one clip from its frame scores and points.

    scores (T, K+1) fused probabilities, background last (``frame_scores(...)[0]``, detached);
    points: (frame, class) pairs or a (P, 2) tensor. Seeds come from ``select_seeds``; each
    class with points gets its exact optimal sequence (``class_sequence_search``), other
    classes' points being background for it. Output: the class on its action segments,
    K elsewhere, ``IGNORE_INDEX`` where two classes' segments overlap (or everywhere when
    there is no point). Every labelled point keeps its class.
    """
    fused = _np1(scores, np.float64)
    t, k = fused.shape[0], fused.shape[1] - 1
    dense = _dense_points(points, t, k)
    act, bkg = select_seeds(
        torch.from_numpy(fused[:, k]), torch.from_numpy(dense), act_thresh, bkg_thresh
    )
    return torch.from_numpy(_video_search(fused, act.numpy(), bkg.numpy(), delta))


def _batch_seeds(fused: torch.Tensor, points: torch.Tensor, mask: torch.Tensor,
                 cfg: LACPConfig) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Seeds (N, T) for a batch: act int64 (-1 none), bkg bool; padding gets none."""
    f = fused.detach().cpu().numpy()
    p = points.detach().cpu().numpy()
    m = mask.detach().cpu().numpy()
    act = np.full(p.shape, -1, dtype=np.int64)
    bkg = np.zeros(p.shape, dtype=bool)
    for n in range(p.shape[0]):
        a, b = select_seeds(f[n][m[n], -1], p[n][m[n]], cfg.act_thresh, cfg.bkg_thresh)
        act[n, m[n]] = a.numpy()
        bkg[n, m[n]] = b.numpy()
    return act, bkg


def batch_pseudo_labels(probs: torch.Tensor, points: torch.Tensor, mask: torch.Tensor | None = None,
                        cfg: LACPConfig | None = None) -> torch.Tensor:  # fmt: skip
    """``optimal_sequence_search`` for a batch: probs (N, T, K+1) fused scores, points (N, T)
    (-1 = none) -> pseudo labels (N, T) int64 (IGNORE on padding), on ``probs``' device."""
    cfg = cfg or LACPConfig()
    m = _mask(probs, mask)
    act, bkg = _batch_seeds(probs, points, m, cfg)
    return _search_batch(probs, act, bkg, m, cfg.delta)


def _search_batch(probs: torch.Tensor, act: np.ndarray, bkg: np.ndarray, mask: torch.Tensor,
                  delta: float) -> torch.Tensor:  # fmt: skip
    f = probs.detach().cpu().double().numpy()
    m = mask.detach().cpu().numpy()
    out = np.full(act.shape, IGNORE_INDEX, dtype=np.int64)
    for n in range(act.shape[0]):
        out[n, m[n]] = _video_search(f[n][m[n]], act[n][m[n]], bkg[n][m[n]], delta)
    return torch.from_numpy(out).to(probs.device)


# ----------------------------------------------------------------------------- losses


def _mask(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    return mask.to(torch.bool)


def _focal_bce(p: torch.Tensor, target: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-frame focal BCE summed over columns (train.py L25-28): (..., C1) -> (...)."""
    p = p.clamp(_EPS, 1.0 - _EPS)
    bce = -(target * torch.log(p) + (1.0 - target) * torch.log1p(-p))
    w = (target * (1.0 - p) + (1.0 - target) * p) ** gamma
    return (w * bce).sum(-1)


def _per_video_mean(loss: torch.Tensor, sel: torch.Tensor) -> torch.Tensor:
    """(N, T) frame losses, (N, T) bool selection -> mean over videos of the mean over the
    selected frames; videos with no selected frame are left out (0 if none has any)."""
    cnt = sel.sum(1)
    per = (loss * sel).sum(1) / cnt.clamp_min(1)
    has = cnt > 0
    return per[has].mean() if bool(has.any()) else loss.sum() * 0.0


def _point_terms(fused: torch.Tensor, cls: torch.Tensor, points: torch.Tensor,
                 video_target: torch.Tensor, mask: torch.Tensor, bkg: torch.Tensor,
                 cfg: LACPConfig) -> dict[str, torch.Tensor]:  # fmt: skip
    n, _, c1 = fused.shape
    k = c1 - 1
    vt = video_target[..., :k].to(fused.dtype)
    vids = []
    for i in range(n):
        c = cls[i][mask[i]]
        if c.shape[0] == 0:
            continue
        top = c.topk(max(1, c.shape[0] // cfg.r_act), dim=0).values.mean(0)
        score = torch.where(vt[i] > 0, top, c.mean(0)).clamp(_EPS, 1.0 - _EPS)
        vids.append(F.binary_cross_entropy(score, vt[i]))
    l_video = torch.stack(vids).mean() if vids else fused.sum() * 0.0
    is_pt = (points >= 0) & mask
    tgt = F.one_hot(points.clamp_min(0), c1).to(fused.dtype)
    l_point = _per_video_mean(_focal_bce(fused, tgt, cfg.focal_gamma), is_pt)
    tgt_bg = torch.zeros_like(fused)
    tgt_bg[..., k] = 1.0
    l_bkg = _per_video_mean(_focal_bce(fused, tgt_bg, cfg.focal_gamma), bkg & mask & ~is_pt)
    return {"video": l_video, "point": l_point, "bkg": l_bkg}


def point_losses(logits: torch.Tensor, points: torch.Tensor, video_target: torch.Tensor,
                 mask: torch.Tensor | None = None, cfg: LACPConfig | None = None,
                 bkg_seeds: torch.Tensor | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
    """The baseline's losses (paper ``L_baseline``): {"video", "point", "bkg"}, unweighted.

    logits (N, T, K+1); points (N, T) int64 class or -1; video_target (N, K) or (N, K+1)
    (background column ignored) in {0, 1}; bkg_seeds (N, T) bool, default ``select_seeds`` on
    this batch's detached background scores. "video": mean over clips of the BCE of the
    top-k MIL video scores (k = T // r_act). "point" / "bkg": focal BCE over the K + 1 columns
    at the point frames / pseudo background frames, averaged per clip and then over the clips
    that have such frames.
    """
    cfg = cfg or LACPConfig()
    m = _mask(logits, mask)
    fused, cls = frame_scores(logits, cfg.scores)
    if bkg_seeds is None:
        _, b = _batch_seeds(fused, points, m, cfg)
        bkg_seeds = torch.from_numpy(b)
    return _point_terms(fused, cls, points, video_target, m, bkg_seeds.to(logits.device), cfg)


def _class_runs(lab: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Action runs (label == c) and background runs for c (labelled, not c) of one clip."""
    a_s, a_e = _runs(lab == c)
    b_s, b_e = _runs((lab != c) & (lab != IGNORE_INDEX))
    return a_s, a_e, b_s, b_e


def score_contrastive_loss(probs: torch.Tensor, pseudo_labels: torch.Tensor,
                           mask: torch.Tensor | None = None,
                           delta: float = 0.25) -> torch.Tensor:  # fmt: skip
    """Score contrast (paper ``L_score``, in the code's form, train.py L49-174).

    probs (N, T, K+1) fused scores (``frame_scores(logits)[0]``, with gradient);
    pseudo_labels (N, T) (0..K-1 action, K background, IGNORE). Per clip:
    ``(mean_act(1 - OIC(p_c)) + mean_bkg(1 - OIC(1 - p_c)))^2`` over the action segments of
    every labelled class and the background segments (runs not labelled c) of each;
    averaged over the clips that have an action segment (0 if none).
    """
    m = _mask(probs, mask)
    k = probs.shape[-1] - 1
    labs = pseudo_labels.detach().cpu().numpy()
    mk = m.detach().cpu().numpy()
    per = []
    for n in range(probs.shape[0]):
        lab = labs[n][mk[n]]
        p = probs[n][m[n]]
        acts, bkgs = [], []
        for c in np.unique(lab[(lab >= 0) & (lab < k)]).tolist():
            a_s, a_e, b_s, b_e = _class_runs(lab, c)
            acts.append(
                1.0 - oic_scores(p[:, c], torch.from_numpy(a_s), torch.from_numpy(a_e), delta)
            )
            if b_s.size:
                bkgs.append(
                    1.0
                    - oic_scores(1.0 - p[:, c], torch.from_numpy(b_s), torch.from_numpy(b_e), delta)
                )
        if not acts:
            continue
        l_vid = torch.cat(acts).mean()
        if bkgs:
            l_vid = l_vid + torch.cat(bkgs).mean()
        per.append(l_vid**2)
    return torch.stack(per).mean() if per else probs.sum() * 0.0


def _segment_frames(starts: np.ndarray, ends: np.ndarray, k: int, generator) -> torch.Tensor:
    """(S, k) frame indices: one uniform draw from each of k equal parts of each segment
    (utils.py ``feature_sampling``; a part shorter than a frame is its first frame)."""
    length = (ends - starts + 1).astype(np.float64)
    parts = np.arange(k + 1, dtype=np.float64)
    edges = np.floor(starts[:, None] + length[:, None] * parts[None, :] / k).astype(np.int64)
    lo, hi = edges[:, :-1], edges[:, 1:]
    hi = np.where(hi <= lo, lo + 1, hi)
    u = torch.rand(lo.shape, generator=generator, dtype=torch.float64).numpy()
    idx = lo + np.minimum(np.floor(u * (hi - lo)).astype(np.int64), hi - lo - 1)
    return torch.from_numpy(idx)


def feature_contrastive_loss(features: torch.Tensor, pseudo_labels: torch.Tensor, background: int,
                             mask: torch.Tensor | None = None, tau: float = 0.1,
                             sampling_size: int = 3,
                             generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """Feature contrast (paper ``L_feat``; train.py L74-127) on per-frame skeleton features.

    features (N, T, D) (the backbone's; normalised here per segment); pseudo_labels (N, T)
    with ``background`` = K. For each class with >= 2 action segments in a clip, segments
    (its action runs and its background runs) are embedded from ``sampling_size`` random
    frames (``generator``, default torch's global RNG) and each action segment's loss is
    ``-log(sum_{o action, o != n} e^{s_no} / sum_{m != n} e^{s_nm})``, s = cosine / tau.
    Mean over action segments, then classes; averaged over the clips that have an action
    segment (clips whose classes all have one instance count 0, as in the code).
    """
    m = _mask(features, mask)
    labs = pseudo_labels.detach().cpu().numpy()
    mk = m.detach().cpu().numpy()
    per, n_lab = [], 0
    for n in range(features.shape[0]):
        lab = labs[n][mk[n]]
        f = features[n][m[n]]
        classes = np.unique(lab[(lab >= 0) & (lab < background)]).tolist()
        n_lab += bool(classes)
        terms = []
        for c in classes:
            a_s, a_e, b_s, b_e = _class_runs(lab, c)
            if a_s.size < 2:
                continue
            idx = _segment_frames(np.concatenate([a_s, b_s]), np.concatenate([a_e, b_e]),
                                  sampling_size, generator).to(f.device)  # fmt: skip
            emb = F.normalize(f[idx].mean(1), dim=-1)  # (S, D)
            sim = emb @ emb.T / tau
            eye = torch.eye(len(emb), dtype=torch.bool, device=f.device)
            is_act = torch.zeros(len(emb), dtype=torch.bool, device=f.device)
            is_act[: a_s.size] = True
            den = torch.logsumexp(sim.masked_fill(eye, float("-inf")), dim=1)
            num = torch.logsumexp(sim.masked_fill(eye | ~is_act[None, :], float("-inf")), dim=1)
            terms.append((den - num)[is_act].mean())
        if terms:
            per.append(torch.stack(terms).mean())
    if not per:
        return features.sum() * 0.0
    return torch.stack(per).sum() / n_lab


def lacp_loss(logits: torch.Tensor, features: torch.Tensor, mask: torch.Tensor | None,
              points: torch.Tensor, video_target: torch.Tensor, cfg: LACPConfig | None = None,
              epoch: int = 0, *, pseudo_labels: torch.Tensor | None = None,
              generator: torch.Generator | None = None,
              ) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
    """The LACP objective for one batch: total loss and its unweighted parts (floats).

    logits (H, N, T, K+1) or (N, T, K+1); features (N, T, D); mask (N, T) or None; points
    (N, T) int64 (-1 = none); video_target (N, K+1) as in our batches (or (N, K)).
    total = lambda_video L_video + lambda_point L_point + lambda_bkg L_bkg
            + [epoch >= warmup_epochs] (lambda_score L_score + lambda_feat L_feat).
    Per-head losses are averaged over heads; seeds and the search use the heads' mean
    (detached) scores. ``pseudo_labels`` (N, T): use these instead of searching this batch.
    """
    cfg = cfg or LACPConfig()
    lg = logits if logits.dim() == 4 else logits[None]
    m = _mask(lg[0], mask)
    fused, cls = frame_scores(lg, cfg.scores)
    mean_fused = fused.detach().mean(0)
    act, bkg = _batch_seeds(mean_fused, points, m, cfg)
    bkg_t = torch.from_numpy(bkg).to(lg.device)
    heads = [
        _point_terms(fused[h], cls[h], points, video_target, m, bkg_t, cfg) for h in range(len(lg))
    ]
    parts = {key: torch.stack([d[key] for d in heads]).mean() for key in ("video", "point", "bkg")}
    zero = lg.sum() * 0.0
    parts["score"], parts["feat"] = zero, zero
    if epoch >= cfg.warmup_epochs:
        if pseudo_labels is None:
            pseudo_labels = _search_batch(mean_fused, act, bkg, m, cfg.delta)
        parts["score"] = torch.stack(
            [score_contrastive_loss(fused[h], pseudo_labels, m, cfg.delta) for h in range(len(lg))]
        ).mean()
        parts["feat"] = feature_contrastive_loss(features, pseudo_labels, lg.shape[-1] - 1, m,
                                                 cfg.tau, cfg.sampling_size, generator)  # fmt: skip
    total = (cfg.lambda_video * parts["video"] + cfg.lambda_point * parts["point"]
             + cfg.lambda_bkg * parts["bkg"] + cfg.lambda_score * parts["score"]
             + cfg.lambda_feat * parts["feat"])  # fmt: skip
    return total, {key: float(v.detach()) for key, v in parts.items()}
