"""Multi-resolution pseudo labels (models/multires.py): consistency losses and labels on
hand-built CASs, the RTS combination, the PTLR exchange, gradients."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from skelact.models.config import model_config
from skelact.models.multires import (
    IGNORE_INDEX,
    ILGNet,
    MultiresConfig,
    RTSNet,
    bas_cas,
    bas_losses,
    cross_stream_loss,
    ilg_labels,
    multires_consistency_loss,
    pseudo_frame_ce,
    ptlr,
    refine_labels,
    rts_loss,
    scale_transform,
    stage_threshold,
    upsample_cas,
)
from skelact.models.network import build_model

I = IGNORE_INDEX  # noqa: E741


def test_scale_transform_is_linear_in_time():
    x = torch.tensor([[0.0, 1.0, 2.0, 3.0]])[..., None]  # (1, 4, 1)
    assert scale_transform(x, 1.75)[0, :, 0].tolist() == pytest.approx([0, 0.5, 1, 1.5, 2, 2.5, 3])
    assert scale_transform(x, 0.5)[0, :, 0].tolist() == pytest.approx([0, 3])
    assert scale_transform(x, length=4)[0, :, 0].tolist() == pytest.approx([0, 1, 2, 3])


def test_multires_consistency_on_a_hand_built_cas():
    cas = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])  # (1, 4, 2)
    agree = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # the same CAS at half the resolution
    assert multires_consistency_loss(cas, agree).item() == pytest.approx(0.0)
    disagree = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])  # frame 0 disagrees: L1 = 2, mean over 2 frames
    assert multires_consistency_loss(cas, disagree).item() == pytest.approx(1.0)
    mask = torch.tensor([[False, True]])
    assert multires_consistency_loss(cas, disagree, mask).item() == pytest.approx(0.0)
    # x1.5: frames at 0, 0.6, 1.2, 1.8, 2.4, 3 of the original, linearly interpolated
    up = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.8, 0.2], [0.2, 0.8], [0.0, 1.0], [0.0, 1.0]]])
    assert multires_consistency_loss(cas, up).item() == pytest.approx(0.0, abs=1e-6)


def test_cross_stream_loss_by_hand():
    a = torch.tensor([[[0.5, 0.5], [1.0, 0.0]]])
    b = torch.tensor([[[0.5, 0.5], [0.0, 1.0]]])
    assert cross_stream_loss(a, b).item() == pytest.approx(1.0)  # (0 + 2) / 2


def test_ilg_labels_fuse_streams_and_threshold():
    joint = torch.tensor([[0.8, 0.0, 0.2], [0.02, 0.03, 0.95], [0.5, 0.2, 0.3], [0.0, 0.9, 0.1],
                          [0.9, 0.0, 0.1], [0.6, 0.0, 0.4]])  # fmt: skip
    motion = torch.tensor([[0.8, 0.0, 0.2], [0.02, 0.03, 0.95], [0.5, 0.2, 0.3], [0.0, 0.9, 0.1],
                           [0.5, 0.0, 0.5], [0.8, 0.0, 0.2]])  # fmt: skip
    video = torch.tensor([1.0, 0.0, 1.0])  # class 1 is not in the video
    got = ilg_labels(joint, motion, video).tolist()
    # 0.8 -> class 0; actions sum 0.05 -> background; 0.5 -> none; class 1 absent and actions
    # sum 0.9 -> none; (0.9 + 1.5 * 0.5) / 2.5 = 0.66 -> none; (0.6 + 1.5 * 0.8) / 2.5 = 0.72 -> class 0
    assert got == [0, 2, I, I, I, 0]


def test_refine_labels_and_the_papers_worked_example():
    """Section III-D: OTS CAS [0.7, 0.6, 0.6, 0.5, 0.7, 0.5, 0.8, 0.7]; RTS at half resolution
    [0.7, 0.6, 0.7, 0.8] upsampled by copying; theta 0.7."""
    video = torch.tensor([1.0, 1.0])
    ots = torch.tensor([0.7, 0.6, 0.6, 0.5, 0.7, 0.5, 0.8, 0.7])
    rts = upsample_cas([torch.tensor([0.7, 0.6, 0.7, 0.8])[None, :, None]], [2], 8)[0, :, 0]
    assert rts.tolist() == pytest.approx([0.7, 0.7, 0.6, 0.6, 0.7, 0.7, 0.8, 0.8])

    def lab(c):
        return refine_labels(torch.stack([c, 1 - c], -1), video, 0.7).tolist()

    assert lab(ots) == [0, I, I, I, 0, I, 0, 0]
    assert lab(rts) == [0, 0, I, I, 0, 0, 0, 0]  # RTS adds frames back
    bg = refine_labels(torch.tensor([[0.1, 0.9], [0.35, 0.65]]), video, 0.7).tolist()
    assert bg == [1, I]


def test_upsample_cas_averages_branches():
    b1 = torch.tensor([[[1.0], [0.0]]])  # factor 2
    b2 = torch.tensor([[[0.5]]])  # factor 4
    assert upsample_cas([b1, b2], [2, 4], 3)[0, :, 0].tolist() == pytest.approx([0.75, 0.75, 0.25])


def test_pseudo_frame_ce_averages_over_selected_frames():
    logits = torch.zeros(1, 3, 2)
    assert pseudo_frame_ce(logits, torch.tensor([[0, I, 1]])).item() == pytest.approx(math.log(2))
    logits[0, 0, 0] = math.log(3.0)  # p = 3/4 on frame 0
    got = pseudo_frame_ce(logits, torch.tensor([[0, I, 1]]))
    assert got.item() == pytest.approx((math.log(4 / 3) + math.log(2)) / 2)
    assert pseudo_frame_ce(logits, torch.full((1, 3), I)).item() == 0.0


def test_rts_loss_takes_labels_at_t_times_the_factor():
    labels = torch.tensor([[0, 1, I, 1]])
    lg = torch.zeros(1, 2, 2)
    lg[0, 0, 0] = math.log(3.0)  # low-res frame 0 <- frame 0 (class 0): -log(3/4)
    # low-res frame 1 <- frame 2: not selected
    assert rts_loss([lg], [2], labels).item() == pytest.approx(math.log(4 / 3))
    lg4 = torch.zeros(1, 1, 2)  # factor 4: frame 0 only
    both = rts_loss([lg, lg4], [2, 4], labels).item()
    assert both == pytest.approx((math.log(4 / 3) + math.log(2)) / 2)


def test_stage_thresholds_follow_the_paper():
    cfg = MultiresConfig()
    assert [stage_threshold(cfg, s) for s in range(6)] == pytest.approx([0.7, 0.65, 0.6, 0.55, 0.5, 0.5])


@pytest.mark.parametrize("multires", [True, False])
def test_ptlr_swaps_labels_between_the_two_scales(multires):
    """Each network trains on the labels the *other* scale produced in the step before."""
    trained_on, made_by = [], {}

    def train(scale, labels):
        trained_on.append((scale, labels))
        return scale

    def relabel(net, scale, theta):
        out = f"{net}{len(made_by)}@{theta}"
        made_by[out] = net
        return out

    final, order = ptlr("ilg", train, relabel, 2, lambda st: [0.7, 0.65][st], multires)
    other = "rts" if multires else "ots"
    assert order == [("ots", 0), (other, 0), ("ots", 1), (other, 1)]
    assert trained_on[0] == ("ots", "ilg")
    for (scale, labels), (prev_scale, _) in zip(trained_on[1:], trained_on):
        assert made_by[labels] == prev_scale  # trained on the previous network's labels
        assert scale != prev_scale or not multires
    assert final == f"{other}3@0.65" and made_by[final] == other
    assert ptlr("ilg", train, relabel, 0, lambda st: 0.7) == ("ilg", [])


def test_ptlr_stops_training_networks_once_nothing_is_selected():
    trained = []

    def train(scale, labels):
        trained.append(scale)
        return scale

    def relabel(net, scale, theta):  # the first OTS network selects nothing
        return "" if net == "ots" else "some"

    final, order = ptlr("ilg", train, relabel, 3, lambda st: 0.7, empty=lambda labels: labels == "")
    assert trained == ["ots"] and order == [("ots", 0)] and final == ""
    assert ptlr("", train, relabel, 3, lambda st: 0.7, empty=lambda labels: labels == "") == ("", [])


def test_rts_net_shapes_and_gradients():
    torch.manual_seed(0)
    cfg = model_config("causal", num_classes=3, widths=(8, 16), dilations=(1, 2))
    net = RTSNet(build_model(cfg).backbone, cfg.feature_dim, cfg.num_outputs, branches=3)
    x = torch.randn(2, 21, 1, 20, 6)
    outs = net(x)
    assert [o.shape[1] for o in outs] == [11, 6, 3] and net.factors == (2, 4, 8)
    assert net.probs(x).shape == (2, 21, 4)
    assert torch.allclose(net.probs(x).sum(-1), torch.ones(2, 21))
    labels = torch.full((2, 21), I)
    labels[0, :8] = 1
    labels[1, 10:] = 3
    loss = rts_loss(outs, net.factors, labels)
    loss.backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_ilg_stream_networks_take_three_channels_and_the_losses_have_gradients():
    from skelact.models.multires import _scaled_input, _streams

    torch.manual_seed(0)
    cfg = replace(model_config("causal", num_classes=2, widths=(8, 8), dilations=(1, 2)), channels=3)
    nets = [build_model(cfg), build_model(cfg)]
    x = torch.randn(2, 16, 1, 20, 6)
    mask = torch.ones(2, 16, dtype=torch.bool)
    mask[1, 12:] = False
    probs = [torch.softmax(n(s)[0], -1) for n, s in zip(nets, _streams(x))]
    xh, mh = _scaled_input(x, mask, 0.5)
    assert xh.shape[1] == 8 and mh[1].sum() == 6  # frames 0..5 of 8 sit at <= 10.7 of 0..15: inside the real 12
    loss = cross_stream_loss(*probs, mask)
    for n, p, s in zip(nets, probs, _streams(xh)):
        loss = loss + multires_consistency_loss(p, torch.softmax(n(s)[0], -1), mh)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for n in nets for p in n.parameters() if p.grad is not None)
    assert np.isfinite(loss.item()) and loss.item() > 0


def test_bas_cas_is_foreground_times_class_distribution():
    logits = torch.tensor([[[math.log(3.0), 0.0, 5.0], [0.0, 0.0, -5.0]]])  # 2 classes + background
    w = torch.tensor([[0.8, 0.05]])
    a = bas_cas(logits, w)[0]
    # frame 0: 0.8 * (3/4, 1/4), background 0.2; frame 1: 0.05 * (1/2, 1/2), background 0.95
    assert a.tolist() == [pytest.approx([0.6, 0.2, 0.2]), pytest.approx([0.025, 0.025, 0.95])]
    # the background logit plays no part: only w splits action from background
    video = torch.tensor([1.0, 0.0, 1.0])
    assert ilg_labels(a, a, video).tolist() == [I, 2]  # 0.6 < 0.7: ignored; actions sum 0.05: background


def test_bas_losses_by_hand():
    """tau -> 0 pools the frame mean: base = BCE(mean s, y with bg 1), supp = BCE(mean w s, y with bg 0)."""
    logits = torch.tensor([[[2.0, -1.0, 1.0], [0.0, -1.0, 3.0]]])
    w = torch.tensor([[1.0, 0.0]])
    video = torch.tensor([[1.0, 0.0, 0.0]])
    got = bas_losses(logits, w, video, tau=0.0, norm_weight=0.5).item()

    def bce(r, y):
        return F.binary_cross_entropy_with_logits(torch.tensor(r), torch.tensor(y), reduction="sum").item()

    base = bce([1.0, -1.0, 2.0], [1.0, 0.0, 1.0])
    supp = bce([1.0, -0.5, 0.5], [1.0, 0.0, 0.0])
    assert got == pytest.approx(base + supp + 0.5 * 0.5)


def test_ilg_net_gives_a_distribution_and_gradients_to_the_filter():
    torch.manual_seed(0)
    cfg = replace(model_config("causal", num_classes=2, widths=(8, 8), dilations=(1, 2)), channels=3)
    net = ILGNet(build_model(cfg))
    x = torch.randn(2, 16, 1, 20, 3)
    logits, w = net(x)
    assert logits.shape == (2, 16, 3) and w.shape == (2, 16) and ((w > 0) & (w < 1)).all()
    assert torch.allclose(net.cas(x).sum(-1), torch.ones(2, 16))
    bas_losses(logits, w, torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]), net.tau).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.filter.parameters())


def test_ilg_loss_early_backward_gives_the_same_update():
    """Backpropagating each rescaled pass early (one rescaled graph alive at a time) gives the
    loss value and every gradient of backpropagating the whole loss at once."""
    import copy

    from skelact.models.multires import ilg_loss

    torch.manual_seed(0)
    cfg = replace(model_config("causal", num_classes=3, widths=(8, 8), dilations=(1, 2)), channels=3, heads=1)
    nets = torch.nn.ModuleList([ILGNet(build_model(cfg)) for _ in range(2)]).train()
    twin = copy.deepcopy(nets)
    mask = torch.ones(2, 24, dtype=torch.bool)
    mask[1, 18:] = False
    batch = {"x": torch.randn(2, 24, 1, 20, 6), "mask": mask, "video": torch.tensor([[1.0, 0, 1, 1], [0, 1, 0, 1]])}
    for s in (1.7, 0.6):
        for n in (nets, twin):
            n.zero_grad(set_to_none=True)
        whole = ilg_loss(nets, batch, s, MultiresConfig(), early=False)
        whole.backward()
        split = ilg_loss(twin, batch, s, MultiresConfig(), early=True)
        assert split.item() == pytest.approx(whole.item(), rel=1e-6)
        split.backward()
        for (name, a), b in zip(nets.named_parameters(), twin.parameters()):
            assert (a.grad is None) == (b.grad is None), name
            if a.grad is not None:
                assert torch.allclose(a.grad, b.grad, atol=1e-6, rtol=1e-5), name
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in twin.parameters())
        for a, b in zip(nets.buffers(), twin.buffers()):  # batch-norm statistics: same passes, same order
            assert torch.equal(a, b)


def test_ilg_score_summary_reports_the_fused_scores_against_the_thresholds():
    from skelact.models.multires import ilg_score_summary

    joint = torch.tensor([[0.8, 0.1, 0.1], [0.0, 0.05, 0.95]])
    motion = torch.tensor([[0.8, 0.1, 0.1], [0.0, 0.05, 0.95]])
    video = torch.tensor([1.0, 0.0, 1.0])  # class 1 absent: its 0.1 and 0.05 do not count as "best"
    got = ilg_score_summary([joint], [motion], [video], MultiresConfig())
    # best present-class score per frame: 0.8 and 0.0 (median 0.4, max 0.8); action sums 0.9 and 0.05
    assert "p50/p90/p99/max 0.40/0.72/0.79/0.80 (labelled from 0.7)" in got
    assert "min/p1/p10/p50 0.05/0.06/0.14/0.48 (background below 0.1)" in got
