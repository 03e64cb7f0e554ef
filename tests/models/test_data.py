"""Training data: label mapping to model outputs, tiling crops, padding."""

from __future__ import annotations

import numpy as np
import pytest

from skelact.models.data import (
    Clip,
    ClipDataset,
    SupervisionError,
    check_supervision,
    class_list,
    collate,
    prepare_clips,
)
from skelact.stream.labels import Labels
from skelact.stream.normalize import NormConfig
from skelact.stream.synthetic import make_dataset


def test_targets_follow_model_output_order():
    ds = make_dataset(num_sequences=2, num_frames=200, seed=4)
    ids = [c["id"] for c in class_list(ds)]
    assert ids == sorted(ds.classes)
    clips = prepare_clips(ds, NormConfig(), 30.0, ids, frame_labels=True)
    for seq, clip in zip(ds, clips):
        assert clip.x.shape == (200, 1, 20, 6)
        assert clip.video_target[-1] == 1.0  # background always present
        present = {ids[k] for k in np.flatnonzero(clip.video_target[:-1])}
        assert present == set(seq.labels.video)
        frames = seq.labels.frames(seq.num_frames)  # class ids, 0 = background
        expect = np.array([ids.index(c) if c in ids else len(ids) for c in frames])
        assert np.array_equal(clip.frame_target, expect)


def test_resampling_carries_labels_through_src():
    ds = make_dataset(num_sequences=1, num_frames=300, seed=5)
    (clip,) = prepare_clips(
        ds, NormConfig(), 15.0, [c["id"] for c in class_list(ds)], frame_labels=True
    )
    # 10 s at 15 fps: grid frames 0..150; the last row (t = 9.967 s) is within half a grid
    # step of t = 10.0 s, so it stands for grid frame 150 too (see stream/resample.py).
    assert clip.num_frames == 151 and clip.frame_target.shape == (151,)


def test_tiles_cover_every_frame_and_vary_by_epoch():
    clips = [Clip("a", np.zeros((1300, 1, 20, 6), np.float32), np.ones(3, np.float32), None),
             Clip("b", np.zeros((90, 1, 20, 6), np.float32), np.ones(3, np.float32), None, 1300)]  # fmt: skip
    data = ClipDataset(clips, 512, seed=1)
    phases = set()
    for epoch in range(4):
        data.set_epoch(epoch)
        seen = np.zeros(1300, bool)
        for j in range(len(data)):
            it = data[j]
            if it["index"] == 0:
                assert len(it["x"]) == 512
                seen[it["start"] : it["start"] + 512] = True
                phases.add(it["start"])
            else:
                assert len(it["x"]) == 90 and it["offset"] == 1300
        assert seen.all()
    assert len(phases) > 3
    again = ClipDataset(clips, 512, seed=1)
    again.set_epoch(3)
    assert again.items == data.items


def test_collate_pads_and_masks():
    ds = make_dataset(num_sequences=2, num_frames=120, seed=6)
    ids = [c["id"] for c in class_list(ds)]
    clips = prepare_clips(ds, NormConfig(), 30.0, ids, frame_labels=True)
    clips[1].x, clips[1].frame_target = clips[1].x[:70], clips[1].frame_target[:70]
    batch = collate([ClipDataset(clips, 512)[j] for j in range(2)])
    assert batch["x"].shape == (2, 120, 1, 20, 6)
    assert batch["mask"].sum(1).tolist() == [120, 70]
    assert (batch["x"][1, 70:] == 0).all() and (batch["frame"][1, 70:] == len(ids)).all()


def test_check_supervision():
    ds = make_dataset(num_sequences=2, num_frames=80, seed=7)
    check_supervision(ds, "full")  # intervals paint frame labels
    check_supervision(ds, "video")
    for s in ds:
        s.labels = Labels("none")
    with pytest.raises(SupervisionError, match="video-level"):
        check_supervision(ds, "video")
