"""Each loss against hand-computed values on tiny tensors (the arithmetic is in the comments).

Handy exact values: softmax([ln 3, 0]) = [0.75, 0.25]; sigmoid(0) = 0.5; sigmoid(ln 3) = 0.75.
"""

from __future__ import annotations

import math

import pytest
import torch

from skelact.models.heads import CosineHead, attention_pool
from skelact.models.losses import frame_ce, mil_bce, pseudo_label_ce, small_loss_kl, symmetric_kl

LN2, LN3 = math.log(2.0), math.log(3.0)


def test_mil_bce_background_forced_to_one():
    # video 1: r = [0, ln3] -> sigmoid [0.5, 0.75]; y = [1, 0] but background (last) is forced to 1:
    #   -ln 0.5 - ln 0.75 = 0.693147 + 0.287682 = 0.980829
    # video 2: r = [ln3, 0] -> [0.75, 0.5]; y = [0, 1]: -ln(1 - 0.75) - ln 0.5 = 1.386294 + 0.693147 = 2.079442
    # mean over videos = 1.530135
    r = torch.tensor([[0.0, LN3], [LN3, 0.0]])
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert mil_bce(r, y).item() == pytest.approx(1.530135, abs=1e-5)
    assert y[0, 1] == 0.0  # the caller's targets are not modified


def test_pseudo_label_ce():
    # frame 1: logits [0, 0] -> p = [0.5, 0.5], target [1, 0]: CE = ln 2 = 0.693147
    # frame 2: logits [ln3, 0] -> p = [0.75, 0.25], target [0.5, 0.5]:
    #   CE = -0.5 ln 0.75 - 0.5 ln 0.25 = 0.5 * (0.287682 + 1.386294) = 0.836988
    # mean over frames = 0.765068; masking frame 2 out leaves 0.693147
    logits = torch.tensor([[[0.0, 0.0], [LN3, 0.0]]])
    target = torch.tensor([[[1.0, 0.0], [0.5, 0.5]]])
    assert pseudo_label_ce(logits, target).item() == pytest.approx(0.765068, abs=1e-5)
    mask = torch.tensor([[True, False]])
    assert pseudo_label_ce(logits, target, mask).item() == pytest.approx(LN2, abs=1e-6)
    assert pseudo_label_ce(logits, target, torch.zeros_like(mask)).item() == 0.0


def test_symmetric_kl():
    # p1 = [0.5, 0.5], p2 = [0.75, 0.25]
    # KL(p1||p2) = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25) = -0.202733 + 0.346574 = 0.143841
    # KL(p2||p1) = 0.75 ln(0.75/0.5) + 0.25 ln(0.25/0.5) = 0.304099 - 0.173287 = 0.130812
    # sum = 0.274653; symmetric in its arguments; 0 for identical inputs
    a = torch.tensor([[0.0, 0.0]])
    b = torch.tensor([[LN3, 0.0]])
    assert symmetric_kl(a, b).item() == pytest.approx(0.274653, abs=1e-5)
    assert symmetric_kl(b, a).item() == pytest.approx(0.274653, abs=1e-5)
    assert symmetric_kl(a, a).item() == pytest.approx(0.0, abs=1e-7)


def test_small_loss_kl_selects_smallest_fraction():
    # Per-frame symmetric KLs: f1 identical -> 0; f2, f3 the pair above -> 0.274653 each;
    # f4 p = [0.9, 0.1] vs [0.1, 0.9]: (0.8)(ln 9) + (-0.8)(-ln 9) = 1.6 ln 9 = 3.515559
    l1 = torch.tensor([[[0.0, 0.0], [0.0, 0.0], [LN3, 0.0], [math.log(9.0), 0.0]]])
    l2 = torch.tensor([[[0.0, 0.0], [LN3, 0.0], [0.0, 0.0], [0.0, math.log(9.0)]]])
    # alpha 0.5: k = ceil(0.5 * 4) = 2 smallest -> (0 + 0.274653) / 2 = 0.137327
    assert small_loss_kl(l1, l2, 0.5).item() == pytest.approx(0.137327, abs=1e-5)
    # alpha 0.2: k = ceil(0.8) = 1 -> 0
    assert small_loss_kl(l1, l2, 0.2).item() == pytest.approx(0.0, abs=1e-7)
    # alpha 1: all four -> (0 + 2 * 0.274653 + 3.515559) / 4 = 1.016216
    assert small_loss_kl(l1, l2, 1.0).item() == pytest.approx(1.016216, abs=1e-5)
    # mask out f1: n = 3, alpha 0.5 -> k = ceil(1.5) = 2 -> (0.274653 + 0.274653) / 2
    mask = torch.tensor([[False, True, True, True]])
    assert small_loss_kl(l1, l2, 0.5, mask).item() == pytest.approx(0.274653, abs=1e-5)


def test_frame_ce():
    # frame 1: p = [0.5, 0.5], class 0: ln 2 = 0.693147; frame 2: p = [0.75, 0.25], class 1:
    # -ln 0.25 = 1.386294; mean 1.039721; masking frame 2 leaves 0.693147
    logits = torch.tensor([[[0.0, 0.0], [LN3, 0.0]]])
    target = torch.tensor([[0, 1]])
    assert frame_ce(logits, target).item() == pytest.approx(1.039721, abs=1e-5)
    assert frame_ce(logits, target, torch.tensor([[True, False]])).item() == pytest.approx(
        LN2, abs=1e-6
    )


def test_attention_pool():
    # one class, frame scores s = [0, ln 2]
    # tau 1: a = softmax([0, ln 2]) = [1/3, 2/3]; r = (2/3) ln 2 = 0.462098
    # tau 2: a = softmax([0, 2 ln 2]) = [1/5, 4/5]; r = 0.8 ln 2 = 0.554518
    # mask out frame 2: r = 0
    s = torch.tensor([[[0.0], [LN2]]])
    assert attention_pool(s, 1.0).item() == pytest.approx(0.462098, abs=1e-5)
    assert attention_pool(s, 2.0).item() == pytest.approx(0.554518, abs=1e-5)
    assert attention_pool(s, 2.0, torch.tensor([[True, False]])).item() == pytest.approx(
        0.0, abs=1e-7
    )


def test_cosine_head():
    # f = [1, 0]; w = [2, 0], [0, 3], [1, 1] -> cos = 1, 0, 1/sqrt(2); times delta = 5
    head = CosineHead(2, 3, delta=5.0)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]]))
    out = head(torch.tensor([[3.0, 0.0]]))
    assert out.tolist()[0] == pytest.approx([5.0, 0.0, 5.0 / math.sqrt(2.0)], abs=1e-5)


def test_losses_differentiable():
    logits = torch.randn(2, 5, 4, requires_grad=True)
    other = torch.randn(2, 5, 4, requires_grad=True)
    loss = (mil_bce(attention_pool(logits, 2.0), torch.ones(2, 4))
            + pseudo_label_ce(logits, torch.full((2, 5, 4), 0.25))
            + small_loss_kl(logits, other, 0.2) + frame_ce(logits, torch.zeros(2, 5, dtype=torch.long)))  # fmt: skip
    loss.backward()
    assert torch.isfinite(logits.grad).all() and other.grad.abs().sum() > 0
