"""The pseudo-label bank: mean frame softmax over the past ``window`` epochs."""

from __future__ import annotations

import pytest
import torch

from skelact.models.flr import PseudoLabelBank, flr_losses


def test_bank_averages_past_window_only():
    bank = PseudoLabelBank(num_frames=3, num_outputs=2, window=2)
    frames = torch.tensor([0, 1])
    bank.record(0, frames, torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
    bank.record(1, frames, torch.tensor([[0.0, 1.0], [0.5, 0.5]]))
    # epoch 2 averages epochs 0 and 1: frame 0 -> [0.5, 0.5]; frame 2 never seen -> invalid
    t, ok = bank.targets(2, torch.tensor([0, 1, 2]))
    assert ok.tolist() == [True, True, False]
    assert t[0].tolist() == pytest.approx([0.5, 0.5])
    bank.record(2, frames, torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    # epoch 3 averages epochs 1 and 2 (epoch 0 fell out of the window): frame 0 -> [0, 1]
    t, ok = bank.targets(3, frames)
    assert t[0].tolist() == pytest.approx([0.0, 1.0])
    assert t[1].tolist() == pytest.approx([0.75, 0.25])
    # the current epoch's own predictions are never used as its targets
    t, ok = bank.targets(2, frames)
    assert t[0].tolist() == pytest.approx([0.5, 0.5])


def test_bank_state_roundtrip():
    bank = PseudoLabelBank(4, 3, window=3)
    bank.record(0, torch.tensor([1, 2]), torch.full((2, 3), 1 / 3))
    other = PseudoLabelBank(4, 3, window=3)
    other.load_state_dict(bank.state_dict())
    assert torch.equal(other.stamp, bank.stamp)
    with pytest.raises(ValueError):
        PseudoLabelBank(5, 3, window=3).load_state_dict(bank.state_dict())


def test_flr_losses_start_epoch_and_recording():
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 4, 3, requires_grad=True)  # two heads, one clip of 4 frames
    mask = torch.tensor([[True, True, True, False]])
    frames = torch.arange(4)[None]
    bank = PseudoLabelBank(4, 3, window=2)
    lp, lk = flr_losses(logits, mask, frames, bank, epoch=0, start=1, alpha=0.5)
    assert lp.item() == 0.0 and lk.item() > 0.0
    assert bank.stamp[0].tolist() == [0, 0, 0, -1]  # padding is not recorded
    lp, _ = flr_losses(logits, mask, frames, bank, epoch=1, start=1, alpha=0.5)
    assert lp.item() > 0.0
    (lp + lk).backward()
    assert logits.grad.abs().sum() > 0
