"""Causality and step/infer equivalence of the causal backbone; lookahead of the AGCN."""

from __future__ import annotations

import pytest
import torch
from model_helpers import randomize_bn, tiny_model

from skelact.models.config import model_config
from skelact.models.network import build_model


@pytest.mark.parametrize("persons", [1, 2])
def test_future_frames_do_not_change_the_past(persons):
    model = tiny_model("causal", persons=persons)
    torch.manual_seed(1)
    x = torch.randn(2, 60, persons, 20, 6)
    with torch.no_grad():
        ref = model.infer(x)
        for t in (0, 17, 45):
            y = x.clone()
            y[:, t + 1 :] = torch.randn_like(y[:, t + 1 :]) * 3
            out = model.infer(y)
            assert torch.allclose(out[:, : t + 1], ref[:, : t + 1], atol=1e-6)
            assert not torch.allclose(out[:, t + 1 :], ref[:, t + 1 :], atol=1e-3)


@pytest.mark.parametrize("persons", [1, 2])
def test_step_equals_infer_from_first_frame(persons):
    model = tiny_model("causal", persons=persons)
    torch.manual_seed(2)
    x = torch.randn(3, 40, persons, 20, 6)
    if persons == 2:
        x[0, :, 1] = 0.0  # an absent second person is all zeros
    with torch.no_grad():
        ref = model.infer(x)
        state = model.init_state(3)
        assert [tuple(s.shape[1:]) for s in state] == model.state_shapes()
        assert len(model.state_names()) == len(state)
        steps = []
        for t in range(x.shape[1]):
            p, state = model.step(x[:, t], state)
            steps.append(p)
    got = torch.stack(steps, 1)
    assert (got - ref).abs().max().item() <= 1e-5
    assert torch.allclose(got.sum(-1), torch.ones(3, 40), atol=1e-5)


def test_default_causal_model_step_equals_infer():
    torch.manual_seed(0)
    cfg = model_config("causal", num_classes=8, heads=2)
    model = randomize_bn(build_model(cfg))
    x = torch.randn(1, 150, 1, 20, 6)
    with torch.no_grad():
        ref = model.infer(x)
        state, steps = model.init_state(1), []
        for t in range(150):
            p, state = model.step(x[:, t], state)
            steps.append(p)
    assert (torch.stack(steps, 1) - ref).abs().max().item() <= 1e-5
    assert model.receptive_field == 1 + 2 * sum(cfg.dilations) and model.lookahead == 0


def _tap_run(model, x):
    """Step through x (N, T, M, V, C) keeping each block's history in a ring outside."""
    specs = model.ring_specs()
    n = x.shape[0]
    rings = [torch.zeros(n, max(o), *col) for o, col in specs]
    out = []
    for t in range(x.shape[1]):
        taps = [torch.stack([r[:, (t - k) % r.shape[1]] for k in o], 1) for r, (o, _c) in zip(rings, specs)]
        p, cols = model.tap_step(x[:, t], taps)
        for r, c in zip(rings, cols):
            r[:, t % r.shape[1]] = c
        out.append(p)
    return torch.stack(out, 1)


@pytest.mark.parametrize("persons", [1, 2])
def test_tap_step_with_outside_ring_equals_infer(persons):
    torch.manual_seed(3)
    cfg = model_config("causal", num_classes=5, heads=2, persons=persons, widths=(8, 8, 16), dilations=(1, 2, 4))
    model = randomize_bn(build_model(cfg))
    assert [o for o, _c in model.ring_specs()] == [(2, 1), (4, 2), (8, 4)]
    x = torch.randn(2, 40, persons, 20, 6)
    with torch.no_grad():
        assert (_tap_run(model, x) - model.infer(x)).abs().max().item() <= 1e-5
        taps = model.init_taps(2)
        assert [tuple(t.shape) for t in taps] == [(2, 2, 8, 20 * persons), (2, 2, 8, 20 * persons), (2, 2, 16, 20 * persons)]


def test_receptive_field_is_exact(causal_model):
    rf = causal_model.receptive_field  # 1 + 2 * (1 + 2 + 4) = 15
    assert rf == 15
    x = torch.randn(1, 50, 1, 20, 6)
    y = x.clone()
    y[:, 5] += 5.0
    with torch.no_grad():
        d = (causal_model.infer(x) - causal_model.infer(y)).abs().amax(-1)[0]
    assert d[5 + rf :].max() < 1e-6  # frame 5 is outside their window
    assert d[5 + rf - 1] > 1e-6  # ... and inside the last frame's that still sees it
    assert d[:5].max() < 1e-6


def test_batch_items_are_independent(causal_model):
    x = torch.randn(3, 30, 1, 20, 6)
    with torch.no_grad():
        full = causal_model.infer(x)
        one = causal_model.infer(x[1:2])
    assert torch.allclose(full[1:2], one, atol=1e-6)


def test_agcn_lookahead_bounds_future_dependence():
    model = tiny_model("agcn")
    look = model.lookahead
    assert look > 0 and model.receptive_field > look
    x = torch.randn(1, 200, 1, 20, 6)
    with torch.no_grad():
        ref = model.infer(x)
        changed_at_limit = False
        for t in range(80, 88):  # every phase of the T/4 grid
            y = x.clone()
            y[:, t + look + 1 :] = torch.randn_like(y[:, t + look + 1 :]) * 3
            assert torch.allclose(model.infer(y)[:, t], ref[:, t], atol=1e-6)
            y = x.clone()
            y[:, t + look :] = torch.randn_like(y[:, t + look :]) * 3
            changed_at_limit |= not torch.allclose(model.infer(y)[:, t], ref[:, t], atol=1e-6)
    assert changed_at_limit  # the stated lookahead is tight


@pytest.mark.parametrize("T", [1, 7, 33])
def test_agcn_any_length(T):
    model = tiny_model("agcn", persons=2)
    with torch.no_grad():
        p = model.infer(torch.randn(2, T, 2, 20, 6))
    assert p.shape == (2, T, 4)
    assert not hasattr(model, "step")


def test_recomputed_attention_gives_the_same_outputs_and_gradients():
    """Training recomputes the adaptive graph's attention in the backward pass; outputs and
    gradients must equal a plain forward (the attention computed once and kept)."""
    from skelact.models.agcn import AdaptiveGraphConv, skeleton_graph

    torch.manual_seed(0)
    gcn = AdaptiveGraphConv(6, 8, skeleton_graph(1), adaptive=True, embed_ratio=4).train()
    x = torch.randn(2, 6, 9, gcn.nodes, requires_grad=True)
    y = gcn(x)  # training mode with grad: the checkpointed path
    (y * torch.arange(y.numel()).reshape(y.shape).sin()).sum().backward()
    grads = [x.grad.clone()] + [p.grad.clone() for p in gcn.parameters()]

    x2 = x.detach().clone().requires_grad_(True)
    gcn.zero_grad()
    n, c, t, w = x2.shape
    z = torch.einsum("nctv,kvw->nkctw", x2, gcn.A + gcn.B) + gcn._attend(x2)  # plain autograd
    y2 = torch.relu(gcn.bn(gcn.conv(z.reshape(n, -1, t, w))) + gcn.down(x2))
    (y2 * torch.arange(y2.numel()).reshape(y2.shape).sin()).sum().backward()
    torch.testing.assert_close(y, y2)
    for a, b in zip(grads, [x2.grad] + [p.grad for p in gcn.parameters()]):
        torch.testing.assert_close(a, b)
