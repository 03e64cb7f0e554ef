"""Dataset views: splits and class restriction."""

from __future__ import annotations

import pytest

from skelact.stream.synthetic import make_dataset


def test_restrict_keeps_recordings_and_only_the_given_classes():
    ds = make_dataset(num_sequences=4, num_frames=120, seed=1)
    keep = ds.class_ids[1:3]
    sub = ds.restrict(keep)
    assert sub.class_ids == keep and list(sub.sequences) == list(ds.sequences)
    for s, r in zip(ds, sub):
        assert r.joints is s.joints and r.num_frames == s.num_frames
        assert {iv.class_id for iv in r.labels.intervals} <= set(keep)
        assert [iv for iv in s.labels.intervals if iv.class_id in keep] == list(r.labels.intervals)


def test_restrict_names_unknown_ids():
    ds = make_dataset(num_sequences=2, num_frames=60, seed=0)
    with pytest.raises(KeyError, match="no action class 99"):
        ds.restrict([ds.class_ids[0], 99])
    with pytest.raises(KeyError, match="no classes"):
        ds.restrict([])
