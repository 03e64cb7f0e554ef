"""Segment-level supervision (models/segment.py): sampling, the segments file, loss values
on hand-built inputs, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from skelact.models.segment import (
    SegmentConfig,
    SegmentFileError,
    _psi,
    background_loss,
    partial_segment_loss,
    propagation_loss,
    pseudo_background,
    read_segments_csv,
    sample_segments,
    segment_frame_loss,
    segment_frames,
    segment_loss,
    segment_rng,
    sphere_loss,
    topk_classification_loss,
    write_segments_csv,
)


def test_segment_length_scales_the_papers_16_frames_at_30_fps():
    assert [segment_frames(f) for f in (30, 15, 10, 25)] == [16, 8, 5, 13]
    assert segment_frames(15, 12) == 12


@pytest.mark.parametrize("per", [1, 2])
def test_sampling_is_deterministic_and_inside_instances(per):
    ext = [(0, 10, 40), (1, 50, 52), (2, 60, 75)]
    a = sample_segments(ext, 8, per, segment_rng(3, "seqA"))
    b = sample_segments(ext, 8, per, segment_rng(3, "seqA"))
    assert a == b
    for (c, s, e), (c0, s0, e0) in zip(a, ext):
        assert c == c0 and s0 <= s <= e <= e0
        if per == 1:
            assert e - s + 1 == min(8, e0 - s0 + 1)
        else:
            assert e - s + 1 >= min(8, e0 - s0 + 1)
    assert a[1][1:] == (50, 52)  # shorter than a segment: labelled whole
    draws = {tuple(sample_segments(ext, 8, per, segment_rng(seed, "seqA"))) for seed in range(8)}
    assert len(draws) > 1  # the seed matters


def test_two_segments_label_the_span_between_them():
    rng = np.random.default_rng(0)
    for _ in range(20):
        (c, s, e), = sample_segments([(0, 0, 99)], 10, 2, rng)
        assert 0 <= s and e <= 99 and e - s + 1 >= 10


def test_sampling_rejects_bad_arguments():
    with pytest.raises(ValueError, match="1 or 2"):
        sample_segments([(0, 0, 9)], 4, 3)
    with pytest.raises(ValueError, match=">= 1"):
        sample_segments([(0, 0, 9)], 0, 1)


def test_segments_file_round_trip(tmp_path):
    p = write_segments_csv(tmp_path / "segments.csv", {"b": [(2, 5, 9)], "a": [(1, 0, 3), (1, 10, 12)]})
    assert p.read_text().splitlines()[0] == "sequence,class_id,kind,seg_start,seg_end"
    assert read_segments_csv(p) == {"a": [(1, 0, 3), (1, 10, 12)], "b": [(2, 5, 9)]}


@pytest.mark.parametrize("text, message", [
    ("sequence,class_id,start_frame,end_frame\na,1,0,9\n", "no 'kind' column"),
    ("sequence,class_id,kind,seg_start,seg_end\na,1,interval,0,9\n", "kind is 'interval'"),
    ("sequence,class_id,kind,seg_start\na,1,segment,0\n", "missing column"),
    ("sequence,class_id,kind,seg_start,seg_end\na,x,segment,0,9\n", "must be integers"),
    ("sequence,class_id,kind,seg_start,seg_end\na,1,segment,9,3\n", "bad segment"),
    ("sequence,class_id,kind,seg_start,seg_end\na,1,segment,0\n", "wrong number of columns"),
])  # fmt: skip
def test_segments_file_errors_are_one_line(tmp_path, text, message):
    p = tmp_path / "s.csv"
    p.write_text(text)
    with pytest.raises(SegmentFileError, match=message) as e:
        read_segments_csv(p)
    assert "\n" not in str(e.value) and ":" in str(e.value)


def test_an_interval_file_is_refused_with_a_hint(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("sequence,class_id,start_frame,end_frame\na,1,0,9\n")
    with pytest.raises(SegmentFileError, match="looks like interval labels"):
        read_segments_csv(p)


def test_a_segments_file_is_not_read_as_intervals(tmp_path):
    """The npz reader's labels.csv parser refuses the segment columns (never full intervals)."""
    from skelact.stream.formats.npz import _read_labels
    from skelact.stream.sequence import DataError

    p = write_segments_csv(tmp_path / "labels.csv", {"a": [(1, 0, 3)]})
    with pytest.raises(DataError, match="header"):
        _read_labels(p)


# ----------------------------------------------------------------------------- losses


def test_topk_classification_loss_by_hand():
    cas = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [2.0, 0.0], [0.0, 0.0]]])
    video = torch.tensor([[1.0, 0.0]])  # background forced to 1
    got = topk_classification_loss(cas, video, None, [2])
    s = torch.tensor([2.5, 0.0])  # top-2 mean of class 0: (3 + 2) / 2; background: 0
    want = -torch.log_softmax(s, 0).sum() / 2
    assert got.item() == pytest.approx(want.item())
    mask = torch.tensor([[True, False, True, True]])  # the 3 is padding now: (2 + 1) / 2
    want2 = -torch.log_softmax(torch.tensor([1.5, 0.0]), 0).sum() / 2
    assert topk_classification_loss(cas, video, mask, [2]).item() == pytest.approx(want2.item())


def test_partial_segment_loss_by_hand():
    cas = torch.tensor([[[0.0, 9.0], [0.0, 9.0], [math.log(2.0), 9.0]]])
    seg = torch.tensor([[0, -1, -1]])
    # a(0, 0) = 1 / (1 + 1 + 2): loss -log(1/4) over L = 2 frames per segment = ln 2
    assert partial_segment_loss(cas, seg, None, 2).item() == pytest.approx(math.log(2.0))
    seg2 = torch.tensor([[0, -1, 0]])  # + -log(2/4)
    assert partial_segment_loss(cas, seg2, None, 1).item() == pytest.approx(math.log(4.0) + math.log(2.0))
    assert partial_segment_loss(cas, torch.full((1, 3), -1), None, 1).item() == 0.0
    mask = torch.tensor([[True, False, True]])  # padding leaves the softmax: a(0, 0) = 1/3
    assert partial_segment_loss(cas, seg, mask, 1).item() == pytest.approx(math.log(3.0))


def test_propagation_loss_by_hand():
    feats = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [-2.0, 0.0]]])  # clip mean 0: S = [[1,1,0],[1,1,0],[0,0,1]]
    cas = torch.tensor([[[1.0, 7.0], [3.0, -7.0], [5.0, 0.0]]])  # background column is not propagated
    # pairs (0,1) and (1,0): 2 * (1 - 3)^2 = 8, over sum(S) = 5
    assert propagation_loss(cas, feats, None).item() == pytest.approx(8.0 / 5.0)
    # centred and normalised: a shift of every feature and a change of scale change nothing
    moved = feats * 3.0 + torch.tensor([10.0, 4.0])
    assert propagation_loss(cas, moved, None).item() == pytest.approx(8.0 / 5.0)
    # ... and neither does the clip length: the same clip twice over (32 / 20) has the same mean
    assert propagation_loss(cas.repeat(1, 2, 1), feats.repeat(1, 2, 1), None).item() == pytest.approx(8.0 / 5.0)
    mask = torch.tensor([[True, False, True]])  # frames 0 and 2 left: opposite after centring
    assert propagation_loss(cas, feats, mask).item() == pytest.approx(0.0)


def test_segment_frame_and_background_losses_by_hand():
    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0], [math.log(3.0), 0.0]]])  # class 0, background
    seg = torch.tensor([[0, -1, 0]])
    # frame 0: p(class 0) = 1/4, frame 2: 3/4; mean over the labelled frames
    assert segment_frame_loss(logits, seg).item() == pytest.approx((math.log(4.0) + math.log(4.0 / 3.0)) / 2)
    mask = torch.tensor([[True, True, False]])
    assert segment_frame_loss(logits, seg, mask).item() == pytest.approx(math.log(4.0))
    assert segment_frame_loss(logits, torch.full((1, 3), -1)).item() == 0.0
    bkg = torch.tensor([[True, True, False]])  # background target: 3/4 and 1/2
    assert background_loss(logits, bkg).item() == pytest.approx((math.log(4.0 / 3.0) + math.log(2.0)) / 2)
    two = torch.cat([logits, logits])  # a clip with no background frame is left out of the mean
    assert background_loss(two, torch.tensor([[True, True, False], [False] * 3])).item() == pytest.approx(
        background_loss(logits, bkg).item())  # fmt: skip


def test_pseudo_background_takes_the_most_background_unlabelled_frames():
    score = torch.tensor([[0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.95, 0.6, 0.5, 0.4]])
    seg = torch.full((1, 10), -1)
    seg[0, 6] = 2  # labelled, never background though it scores highest
    act = torch.tensor([True])
    # 9 unlabelled frames, fraction 0.25 -> ceil(2.25) = 3: frames 0 (0.9), 2 (0.8), 4 (0.7)
    got = pseudo_background(score, seg, act, None, 0.25, guard=0)
    assert torch.nonzero(got[0]).flatten().tolist() == [0, 2, 4]
    # guard 2 keeps frames 4..8 out: next best are 9 (0.4) after 0 and 2
    got = pseudo_background(score, seg, act, None, 0.25, guard=2)
    assert torch.nonzero(got[0]).flatten().tolist() == [0, 2, 9]
    # a clip without any action: every real frame is background
    mask = torch.ones(1, 10, dtype=torch.bool)
    mask[0, 8:] = False
    got = pseudo_background(score, seg, torch.tensor([False]), mask, 0.25, guard=2)
    assert got[0].tolist() == [True] * 8 + [False] * 2
    assert not pseudo_background(score, seg, act, None, 0.0).any()


def test_sphere_margin_function():
    cos = torch.tensor([1.0, 0.5, 0.0, -1.0])  # theta 0, 60, 90, 180 degrees; m = 4
    # k = floor(4 theta / pi): 0, 1, 2, 4 (theta = pi sits on the edge); psi = (-1)^k cos(4 theta) - 2k
    want = [1.0, -math.cos(math.radians(240)) - 2, math.cos(math.radians(360)) - 4, math.cos(4 * math.pi) - 8]
    assert _psi(cos, 4).tolist() == pytest.approx(want, abs=1e-5)
    assert _psi(cos, 1).tolist() == pytest.approx(cos.tolist())  # m = 1: plain softmax


def test_sphere_loss_by_hand():
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # class 0, background
    feats = torch.tensor([[[3.0, 0.0], [1.0, 0.0]]])  # both along class 0
    cas = torch.zeros(1, 2, 2)
    video = torch.tensor([[1.0, 1.0]])
    got = sphere_loss(feats, cas, weight, video, None, margin=4, scale=5.0)
    assert got.item() == pytest.approx(math.log(1 + math.exp(-5.0)), rel=1e-5)  # psi(0) = 1, cos to bg 0
    none = sphere_loss(feats, cas, weight, torch.tensor([[0.0, 1.0]]))
    assert none.item() == 0.0  # no action class present


def test_segment_loss_combines_switches_and_gradients():
    torch.manual_seed(0)
    n, t, k, d = 2, 12, 3, 8
    logits = torch.randn(2, n, t, k + 1, requires_grad=True)
    feats = torch.randn(n, t, d, requires_grad=True)
    weight = torch.randn(k + 1, d, requires_grad=True)
    seg = torch.full((n, t), -1)
    seg[0, 2:5] = 1
    seg[1, 7:9] = 0
    video = torch.tensor([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 1.0]])
    mask = torch.ones(n, t, dtype=torch.bool)
    mask[1, 10:] = False
    cfg = SegmentConfig(frames_per_segment=3)
    loss, parts = segment_loss(logits, feats, mask, seg, video, weight, cfg)
    want = (parts["cls"] + 0.1 * parts["psl"] + 1e-4 * parts["sphere"] + 0.02 * parts["prop"]
            + parts["frame"] + parts["bg"])  # fmt: skip
    assert loss.item() == pytest.approx(want, rel=1e-5)
    assert all(v > 0 for v in parts.values())
    loss.backward()
    for p in (logits, feats, weight):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    off = SegmentConfig(frames_per_segment=3, use_psl=False, use_sphere=False, use_propagation=False)
    loss2, parts2 = segment_loss(logits, feats, mask, seg, video, weight, off)
    assert parts2["psl"] == parts2["sphere"] == parts2["prop"] == 0.0
    assert loss2.item() == pytest.approx(parts2["cls"] + parts2["frame"] + parts2["bg"])
    # the frame terms: both heads, labelled frames against their class
    want_frame = torch.stack([segment_frame_loss(lg, seg, mask) for lg in logits]).mean()
    assert parts2["frame"] == pytest.approx(want_frame.item())
    with pytest.raises(ValueError, match="two heads"):
        segment_loss(logits[:1], feats, mask, seg, video, weight, cfg)


def test_r_follows_the_number_of_labelled_segments():
    """k = T // (2Q): one labelled 4-frame segment in 16 frames pools the top 8 frames."""
    cas = torch.zeros(2, 1, 16, 2)
    cas[0, 0, :, 0] = torch.arange(16.0)
    seg = torch.full((1, 16), -1)
    seg[0, 4:8] = 0
    video = torch.tensor([[1.0, 1.0]])
    loss, parts = segment_loss(cas, torch.randn(1, 16, 4), None, seg, video, torch.randn(2, 4),
                               SegmentConfig(frames_per_segment=4))  # fmt: skip
    s = torch.tensor([float(np.mean(np.arange(8, 16))), 0.0])
    assert parts["cls"] == pytest.approx((-torch.log_softmax(s, 0).sum() / 2).item())
