"""--record: frames -> shared npz dataset folder, read back by load_dataset."""

from __future__ import annotations

import numpy as np
import pytest

from skelact.stream.formats import load_dataset
from skelact.stream.sequence import DataError
from skelact.stream.sources.recorder import Recorder, record_folder


def test_record_path_mapping(tmp_path):
    assert record_folder(tmp_path / "take.npz") == tmp_path / "take"
    assert record_folder(tmp_path / "take.NPZ") == tmp_path / "take"
    assert record_folder(tmp_path / "take") == tmp_path / "take"


def test_round_trip_with_absent_persons_tracks_and_confidence(tmp_path):
    rec = Recorder("cam0", "mediapipe33", fps=25.0)
    rng = np.random.default_rng(0)
    frames = []
    for k in range(8):
        tracks = [] if k == 2 else ([5] if k < 5 else [5, 2])  # nobody, then one, then two persons
        j = rng.normal(size=(len(tracks), 33, 4)).astype(np.float32)
        j[..., 3] = rng.uniform(0, 1, size=j.shape[:2])
        rec.add(10 + 2 * k, 0.08 * k, j, tracks)
        frames.append((tracks, j))
    folder, sid = rec.save(tmp_path / "out.npz")
    assert folder == tmp_path / "out" and sid == "cam0"
    ds = load_dataset(folder)
    seq = ds["cam0"]
    assert seq.layout == "mediapipe33" and seq.fps == 25.0 and seq.joints.shape == (8, 2, 33, 3)
    np.testing.assert_allclose(seq.t, 0.08 * np.arange(8), atol=1e-3)
    conf = np.load(folder / "confidence.npz")["cam0"]
    for k, (tracks, j) in enumerate(frames):
        for p, tr in enumerate(tracks):
            slot = {2: 0, 5: 1}[tr]  # slots in track-id order
            np.testing.assert_array_equal(seq.joints[k, slot], j[p, :, :3])
            np.testing.assert_allclose(conf[k, slot], j[p, :, 3], atol=1e-3)
        for slot in {0, 1} - {{2: 0, 5: 1}[tr] for tr in tracks}:
            assert np.isnan(seq.joints[k, slot]).all()


def test_recordings_accumulate_in_one_folder(tmp_path):
    for _ in range(2):
        rec = Recorder("cam0", "kinect20", fps=30.0)
        for k in range(4):
            rec.add(k, k / 30.0, np.zeros((1, 20, 3), np.float32))
        rec.save(tmp_path / "data.npz")
    assert sorted(load_dataset(tmp_path / "data").sequences) == ["cam0", "cam0_2"]
    other = Recorder("cam0", "mediapipe33")
    other.add(0, 0.0, np.zeros((1, 33, 3), np.float32))
    with pytest.raises(DataError, match="layout"):
        other.save(tmp_path / "data.npz")


def test_refuses_to_overwrite_other_things(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    rec = Recorder("s", "kinect20")
    with pytest.raises(DataError, match="nothing"):
        rec.save(tmp_path / "x")
    rec.add(0, 0.0, np.zeros((1, 20, 3), np.float32))
    with pytest.raises(DataError, match="not empty"):
        rec.save(tmp_path / "busy")
    with pytest.raises(ValueError):
        rec.add(1, 0.1, np.zeros((1, 33, 3), np.float32))
