"""LACP (models/lacp.py): the exact search against brute force, seeds, losses and gradients.

The brute force enumerates every 0/1 labelling of a short clip (T <= 12) that keeps the
action seeds inside and the background seeds outside and where every action / background
run holds at least one seed of its kind (the authors' transcript), and scores it with a
plain-loop OIC written from utils.py ``get_oic_score``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from skelact.models.lacp import (
    IGNORE_INDEX,
    LACPConfig,
    class_sequence_search,
    feature_contrastive_loss,
    frame_scores,
    lacp_loss,
    optimal_sequence_search,
    point_losses,
    score_contrastive_loss,
    select_seeds,
)

LN3 = math.log(3.0)


def _naive_oic(x: np.ndarray, s: int, e: int, delta: float = 0.25) -> float:
    t, length = len(x), e - s + 1
    inner = float(np.mean(x[s : e + 1]))
    lo, hi = max(0, int(s - delta * length)), min(t - 1, int(e + delta * length))
    outer = [x[i] for i in [*range(lo, s), *range(e + 1, hi + 1)]]
    return inner - (float(np.mean(outer)) if outer else 0.0)


def _runs(v: np.ndarray) -> list[tuple[bool, int, int]]:
    out, s = [], 0
    for i in range(1, len(v) + 1):
        if i == len(v) or v[i] != v[s]:
            out.append((bool(v[s]), s, i - 1))
            s = i
    return out


def _naive_value(p: np.ndarray, inside: np.ndarray) -> float:
    return float(np.mean([_naive_oic(p if a else 1 - p, s, e) for a, s, e in _runs(inside)]))


def _brute_force(p: np.ndarray, act: np.ndarray, bkg: np.ndarray) -> float:
    t = len(p)
    allv = ((np.arange(2**t)[:, None] >> np.arange(t)[None, :]) & 1).astype(bool)
    allv = allv[allv[:, act].all(1) & ~allv[:, bkg].any(1)]
    best = -math.inf
    for v in allv:
        if all((act if a else bkg)[s : e + 1].any() for a, s, e in _runs(v)):
            best = max(best, _naive_value(p, v))
    return best


def _random_case(rng: np.random.Generator, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores and seeds of one class; (p, action seeds, background seeds)."""
    if i % 3 == 0:  # arbitrary seeds: merged runs, no leading / trailing background, ...
        t = int(rng.integers(6, 13))
        kind = rng.choice([0, 1, 2], size=t, p=[0.55, 0.25, 0.2])  # free / action / background
    else:  # 3-4 single seeds of alternating kinds: up to ~25 boundary placements
        t = int(rng.integers(9, 13))
        pos = np.sort(rng.choice(t, size=int(rng.integers(3, 5)), replace=False))
        kind = np.zeros(t, dtype=np.int64)
        kind[pos] = 1 + (np.arange(len(pos)) + int(rng.integers(2))) % 2
    if not (kind == 1).any():
        kind[int(rng.integers(t))] = 1
    return rng.random(t), kind == 1, kind == 2


def test_search_equals_brute_force_optimum():
    rng = np.random.default_rng(0)
    for i in range(60):
        p, act, bkg = _random_case(rng, i)
        inside, value = class_sequence_search(
            torch.from_numpy(p), torch.from_numpy(act), torch.from_numpy(bkg)
        )
        inside = inside.numpy()
        assert inside[act].all() and not inside[bkg].any()
        assert all((act if a else bkg)[s : e + 1].any() for a, s, e in _runs(inside))
        best = _brute_force(p, act, bkg)
        assert value == pytest.approx(best, abs=1e-9)
        assert _naive_value(p, inside) == pytest.approx(best, abs=1e-9)


def test_search_hand_built_sequence():
    # a clean action over frames 3..6, point at 4, background seeds at 0 and 10: every
    # segment's OIC is 1 (bkg 0..2 has no outer margin, action 3..6 sees 0 at frames 2 and 7,
    # bkg 7..11 sees 1 - p = 0 at frames 5, 6), so R = 1 and nothing else reaches it
    p = torch.tensor([0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0], dtype=torch.float64)
    act = torch.zeros(12, dtype=torch.bool)
    act[4] = True
    bkg = torch.zeros(12, dtype=torch.bool)
    bkg[[0, 10]] = True
    inside, value = class_sequence_search(p, act, bkg)
    assert torch.nonzero(inside).flatten().tolist() == [3, 4, 5, 6]
    assert value == pytest.approx(1.0)


def test_select_seeds_hand_case():
    b = torch.tensor([0.99, 0.2, 0.97, 0.05, 0.08, 0.99, 0.1, 0.96, 0.02, 0.05, 0.98, 0.4])
    pts = torch.full((12,), -1)
    pts[3], pts[8] = 1, 0
    act, bkg = select_seeds(b, pts)
    # left of 3: last frame >= 0.95 is 2 -> 0..2; between 3 and 8: 5..7; right of 8: from 10
    assert bkg.int().tolist() == [1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1]
    # point 3 grows right into frame 4 (0.08 <= 0.1), point 8 into 9; seeds stop the growth
    assert act.tolist() == [-1, -1, -1, 1, 1, -1, -1, -1, 0, 0, -1, -1]


def test_select_seeds_never_pick_points():
    rng = np.random.default_rng(1)
    for _ in range(200):
        t = int(rng.integers(2, 40))
        b = torch.from_numpy(rng.random(t) ** rng.choice([0.2, 1.0, 5.0]))
        pts = torch.full((t,), -1)
        frames = rng.choice(t, size=int(rng.integers(1, min(t, 6) + 1)), replace=False)
        pts[frames] = torch.from_numpy(rng.integers(0, 3, size=len(frames)))
        act, bkg = select_seeds(b, pts)
        assert not bkg[pts >= 0].any()
        assert not (bkg & (act >= 0)).any()
        assert (act[pts >= 0] == pts[pts >= 0]).all()
        between = [(a, z) for a, z in zip(sorted(frames)[:-1], sorted(frames)[1:]) if z - a > 1]
        assert all(bkg[a + 1 : z].any() for a, z in between)  # every gap gets a background seed


def test_points_inside_a_segment_of_their_class():
    rng = np.random.default_rng(2)
    k = 4
    for _ in range(20):
        t = int(rng.integers(20, 80))
        scores = torch.softmax(torch.from_numpy(rng.normal(size=(t, k + 1)) * 3), -1)
        frames = sorted(rng.choice(t, size=int(rng.integers(1, 7)), replace=False).tolist())
        pts = [(f, int(rng.integers(0, k))) for f in frames]
        labels = optimal_sequence_search(scores, pts)
        assert labels.shape == (t,) and labels.dtype == torch.int64
        dense = torch.full((t,), -1)
        for f, c in pts:
            dense[f] = c
        _, bkg = select_seeds(scores[:, k], dense)
        assert (labels[bkg] == k).all()
        for f, c in pts:
            assert labels[f] == c
        # two points of a class with a background seed between them are separate instances
        for (f1, c1), (f2, c2) in zip(pts[:-1], pts[1:]):
            if c1 == c2 and bkg[f1:f2].any():
                assert (labels[f1 : f2 + 1] != c1).any()
    assert (optimal_sequence_search(scores, []) == IGNORE_INDEX).all()


def test_search_is_deterministic():
    torch.manual_seed(3)
    scores = torch.softmax(torch.randn(50, 4) * 2, -1)
    pts = [(5, 0), (20, 2), (33, 0)]
    assert torch.equal(optimal_sequence_search(scores, pts), optimal_sequence_search(scores, pts))


def test_point_losses_hand_values():
    # one frame, K = 1, logits [ln3, 0] -> softmax [0.75, 0.25], point of class 0:
    #   focal BCE = 0.25^2 * -ln 0.75 (class column) + 0.25^2 * -ln 0.75 (background) = 0.0359603
    #   video: top-1 of 0.75 against 1 -> -ln 0.75 = 0.2876821; no pseudo background -> 0
    logits = torch.tensor([[[LN3, 0.0]]])
    out = point_losses(logits, torch.tensor([[0]]), torch.tensor([[1.0, 1.0]]))
    assert out["point"].item() == pytest.approx(0.0359603, abs=1e-6)
    assert out["video"].item() == pytest.approx(0.2876821, abs=1e-6)
    assert out["bkg"].item() == 0.0


def test_score_contrastive_loss_hand_value():
    # p_c = .1 .1 .9 .9 .9 .9 .1 .1, action 2..5: OIC = .9 - mean(p[1], p[6]) = .8 -> 1 - OIC = .2
    # background 0..1 on 1 - p: margins [int(-0.5), 0) and (1, int(1.5)] are empty -> OIC .9 -> .1
    # background 6..7: left margin frame 5 (1 - p = .1), right none -> OIC .8 -> .2; mean .15
    # loss = (.2 + .15)^2 = .1225
    pc = torch.tensor([0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1])
    probs = torch.stack([pc, 1 - pc], -1)[None]
    labels = torch.tensor([[1, 1, 0, 0, 0, 0, 1, 1]])
    assert score_contrastive_loss(probs, labels).item() == pytest.approx(0.1225, abs=1e-6)


def test_feature_contrast_separates_actions_from_background():
    labels = torch.tensor([[1, 1, 0, 0, 1, 1, 0, 0, 1, 1]])  # two action runs, three background
    e1, e2 = torch.eye(4)[0], torch.eye(4)[1]
    same = e1.expand(1, 10, 4)
    # identical features: every other segment is equally similar -> -log(1 / 4) = ln 4
    assert feature_contrastive_loss(same, labels, background=1).item() == pytest.approx(
        math.log(4), abs=1e-5
    )
    apart = torch.where((labels == 0)[..., None], e1, e2)
    # actions identical, background orthogonal: -log(e^10 / (e^10 + 3)) ~ 3 e^-10
    assert feature_contrastive_loss(apart, labels, background=1).item() < 1e-3


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    h, n, t, k, d = 2, 3, 40, 3, 16
    logits = torch.randn(h, n, t, k + 1, generator=g).requires_grad_(True)
    feats = torch.randn(n, t, d, generator=g).requires_grad_(True)
    pts = torch.full((n, t), -1)
    pts[0, [5, 18, 30]] = torch.tensor([0, 0, 1])
    pts[1, 4] = 2
    pts[2, [10, 26]] = 1
    mask = torch.ones(n, t, dtype=torch.bool)
    mask[1, 25:] = False
    vt = torch.zeros(n, k + 1)
    vt[0, [0, 1]] = 1
    vt[1, 2] = 1
    vt[2, 1] = 1
    vt[:, k] = 1
    return logits, feats, mask, pts, vt


@pytest.mark.parametrize("scores", ["softmax", "sigmoid"])
def test_lacp_loss_finite_with_gradients(scores):
    logits, feats, mask, pts, vt = _batch()
    cfg = LACPConfig(scores=scores)
    total, parts = lacp_loss(
        logits, feats, mask, pts, vt, cfg, epoch=1, generator=torch.Generator().manual_seed(0)
    )
    assert torch.isfinite(total)
    assert all(math.isfinite(v) for v in parts.values())
    assert parts["score"] > 0 and parts["feat"] > 0 and parts["bkg"] > 0
    total.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    assert feats.grad is not None and feats.grad.abs().sum() > 0
    assert torch.isfinite(logits.grad).all() and torch.isfinite(feats.grad).all()


def test_lacp_warmup_skips_completeness_losses():
    logits, feats, mask, pts, vt = _batch()
    total, parts = lacp_loss(logits, feats, mask, pts, vt, LACPConfig(warmup_epochs=1), epoch=0)
    assert parts["score"] == 0.0 and parts["feat"] == 0.0
    total.backward()
    assert feats.grad is None and logits.grad.abs().sum() > 0


def test_lacp_loss_deterministic_given_seed():
    logits, feats, mask, pts, vt = _batch()

    def parts(seed: int) -> dict[str, float]:
        g = torch.Generator().manual_seed(seed)
        return lacp_loss(logits, feats, mask, pts, vt, epoch=2, generator=g)[1]

    runs = [parts(s) for s in (7, 7, 8)]
    assert runs[0] == runs[1]
    assert runs[0]["feat"] != runs[2]["feat"]  # the segment frames are drawn from the generator


def test_frame_scores_fused_background():
    logits = torch.randn(5, 7, 4)
    for mode in ("softmax", "sigmoid"):
        fused, cls = frame_scores(logits, mode)
        assert fused.shape == (5, 7, 4) and cls.shape == (5, 7, 3)
        assert (fused[..., :3] <= 1 - fused[..., 3:] + 1e-6).all()
    with pytest.raises(ValueError):
        LACPConfig(scores="relu")
