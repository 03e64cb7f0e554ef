"""Negative (background) clips from another dataset: overlapping instances cut out,
deterministic, within budget. Uses the bundled PRECOG slice as the 'other' dataset."""

from __future__ import annotations

import numpy as np
import pytest

from skelact.models.negatives import negative_clips, parse_negative_spec
from skelact.stream.assets import precog_path
from skelact.stream.formats import load_dataset
from skelact.stream.normalize import NormConfig


def test_spec_parsing():
    assert parse_negative_spec("../shared/data/pkummd:18,19") == ("../shared/data/pkummd", (18, 19))
    assert parse_negative_spec("data/x") == ("data/x", ())
    assert parse_negative_spec("C:/data/x") == ("C:/data/x", ())


def test_overlapping_instances_are_cut_and_runs_are_deterministic():
    spec = f"{precog_path()}:1,2,3,4,5,6,7,8"  # every PRECOG class overlaps: only the pauses remain
    a, info, rest = negative_clips(spec, NormConfig(persons=1), 30.0, 9, max_frames=400, seed=1,
                                   min_run_s=0.5, holdout_frames=300)  # fmt: skip
    b, _, _ = negative_clips(spec, NormConfig(persons=1), 30.0, 9, max_frames=400, seed=1, min_run_s=0.5,
                             holdout_frames=300)  # fmt: skip
    assert [c.id for c in a] == [c.id for c in b]
    assert sum(c.num_frames for c in a) == 400 and info["frames"] == sum(c.num_frames for c in a)
    assert info["licence"].startswith("MIT") and info["overlap_class_ids"] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert all((c.frame_target == 8).all() and c.video_target.tolist() == [0] * 8 + [1] for c in a)
    assert not {c.id for c in a} & {c.id for c in rest} and sum(c.num_frames for c in rest) >= 300
    # no negative frame lies within 0.5 s of a labelled action of the training split
    ds = load_dataset(precog_path()).split("train")
    for c in a:
        seq_id, _p, start = c.id.split(":")[-3:]
        labels = ds[seq_id].labels.frames(ds[seq_id].num_frames)
        rows = np.arange(int(start), int(start) + c.num_frames)  # 30 fps grid = source rows here
        near = np.convolve((labels[np.clip(rows, 0, len(labels) - 1)] > 0).astype(int), np.ones(31), "same")
        assert not near.any(), c.id


def test_a_dataset_the_budget_would_take_whole_still_leaves_frames_for_calibration():
    spec = f"{precog_path()}:1,2,3,4,5,6,7,8"
    _, _, everything = negative_clips(spec, NormConfig(persons=1), 30.0, 9, max_frames=0, min_run_s=0.5,
                                      holdout_frames=10**9)  # fmt: skip
    available = sum(c.num_frames for c in everything)
    a, _, rest = negative_clips(spec, NormConfig(persons=1), 30.0, 9, max_frames=10**9, min_run_s=0.5,
                                holdout_frames=10**9, holdout_share=0.25)  # fmt: skip
    held = sum(c.num_frames for c in rest)
    assert 0.25 * available <= held < 0.25 * available + 8 * 30  # whole pieces (<= 8 s) up to the share
    assert held + sum(c.num_frames for c in a) == available and not {c.id for c in a} & {c.id for c in rest}


def test_negatives_need_a_dataset():
    with pytest.raises(Exception):  # noqa: B017  (DataError or FileNotFoundError: one line in the CLI)
        negative_clips("/nonexistent/data", NormConfig(persons=1), 30.0, 9, max_frames=10)
