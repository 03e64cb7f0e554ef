"""UTKinect joints + actionLabel readers: files written here; the real sample when ../shared exists."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from skelact.stream.formats import load_dataset
from skelact.stream.formats.registry import sniff_format
from skelact.stream.formats.utkinect_txt import (
    UTKINECT_CLASSES,
    read_action_labels,
    read_utkinect,
)
from skelact.stream.layouts import to_canonical
from skelact.stream.sequence import DataError

IDS = [100, 102, 106, 106, 110, 118, 120, 124]


def _joints(T: int, seed: int = 0) -> np.ndarray:
    return np.round(np.random.default_rng(seed).uniform(-1, 4, size=(T, 20, 3)), 6)


def write_joints(folder: Path, seq: str, ids: list[int], j: np.ndarray) -> Path:
    """joints_<seq>.txt: image id then 20 x (x y z), separated by runs of spaces."""
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / f"joints_{seq}.txt"
    f.write_text("".join(f"{i}   " + "  ".join(f"{v:.6f}" for v in fr.ravel()) + "  \n"
                         for i, fr in zip(ids, j)))  # fmt: skip
    return f


LABELS = (
    "s01_e01\n"
    "walk: 102 106\n"
    "sitDown: 107 119\n"
    "standUp: 120 124 \n"  # trailing space, as in the original file
    "carry:  NaN NaN\n"  # the action does not occur
    "s02_e01\n"
    "walk: 100 110\n"
)


def test_round_trip_rows_time_labels_and_canonical(tmp_path):
    j = _joints(len(IDS))
    j[4] = 0.0
    f = write_joints(tmp_path, "s01_e01", IDS, j)
    (tmp_path / "actionLabel.txt").write_text(LABELS)
    s = read_utkinect(f)
    assert s.id == "s01_e01" and s.layout == "kinect_v1_20" and s.joints.shape == (8, 1, 20, 3)
    np.testing.assert_array_equal(s.joints[0, 0], j[0].astype(np.float32))
    assert np.isnan(s.joints[4]).all()
    np.testing.assert_allclose(s.t, (np.array(IDS) - 100) / 30.0)
    assert s.fps == pytest.approx(7 / (24 / 30))
    assert s.meta["frame_ids"].tolist() == IDS
    # walk 102..106 -> rows 1..3 (both rows of id 106); sitDown 107..119 -> rows 4..5;
    # standUp 120..124 -> rows 6..7; carry NaN NaN -> no interval
    assert [(i.class_id, i.start, i.end) for i in s.labels.intervals] == [(1, 1, 3), (2, 4, 5), (3, 6, 7)]
    canon = to_canonical(s.joints, s.layout)
    np.testing.assert_array_equal(canon[1, 0], j[1].astype(np.float32))


def test_folder_labels_one_level_up_and_modified_preferred(tmp_path, caplog):
    d = tmp_path / "joints"
    write_joints(d, "s01_e01", IDS, _joints(8))
    write_joints(d, "s02_e01", IDS, _joints(8, 1))
    write_joints(d, "s03_e01", IDS, _joints(8, 2))
    (tmp_path / "actionLabel.txt").write_text(LABELS)
    (tmp_path / "actionLabel_modified.txt").write_text(LABELS.replace("walk: 100 110", "walk: 100 102"))
    assert sniff_format(d) == "utkinect" and sniff_format(d / "joints_s01_e01.txt") == "utkinect"
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(d)
    assert "s03_e01 is not in" in caplog.text and ds["s03_e01"].labels.kind == "none"
    assert [(i.start, i.end) for i in ds["s02_e01"].labels.intervals] == [(0, 1)]
    assert ds.splits == {"train": ["s01_e01", "s03_e01"], "test": ["s02_e01"]}
    assert ds.label_kind == "interval" and ds.classes == UTKINECT_CLASSES


def test_action_labels_structure(tmp_path):
    p = tmp_path / "actionLabel.txt"
    p.write_text(LABELS)
    lab = read_action_labels(p)
    assert lab.by_seq["s01_e01"][3] == (5, None, None, 5) and list(lab.by_seq) == ["s01_e01", "s02_e01"]


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (lambda b: b[:-50], r"joints_s01_e01\.txt:8: expected 61 values"),  # truncated
        (lambda b: b.replace(b"  \n", b" 1.5 \n", 1), r"joints_s01_e01\.txt:1: expected 61 values, found 62"),
        (lambda b: b + b"\x00\xff\xfe\x00", r"joints_s01_e01\.txt:9: not UTF-8"),
        (lambda b: b.replace(b"106   ", b"10x6   ", 1), r"joints_s01_e01\.txt:3: not a number"),
        (lambda b: b.replace(b"110   ", b"90   ", 1), r"joints_s01_e01\.txt:5: image frame id goes backwards"),
        (lambda b: b.replace(b"102   ", b"102.5   ", 1), r"joints_s01_e01\.txt:2: image frame id must be"),
    ],
)
def test_corrupt_joints_name_file_and_line(tmp_path, corrupt, match):
    f = write_joints(tmp_path, "s01_e01", IDS, _joints(8))
    f.write_bytes(corrupt(f.read_bytes()))
    with pytest.raises(DataError, match=match):
        read_utkinect(f)


@pytest.mark.parametrize(
    "text, match",
    [
        (LABELS.replace("walk: 102 106", "jog: 102 106"), r"actionLabel\.txt:2: unknown action 'jog'"),
        (LABELS.replace("walk: 102 106", "walk: 102"), r"actionLabel\.txt:2: expected 'action: start end'"),
        (LABELS.replace("walk: 102 106", "walk: 106 102"), r"actionLabel\.txt:2: interval ends before"),
        (LABELS.replace("carry:  NaN NaN", "carry: 5 NaN"), r"actionLabel\.txt:5: only one of"),
        (LABELS.replace("s02_e01", "bogus line"), r"actionLabel\.txt:6: expected a sequence id"),
        ("walk: 1 2\n" + LABELS, r"actionLabel\.txt:1: action line before any sequence"),
        (LABELS.replace("walk: 102 106", "walk: 107 107"), r"actionLabel\.txt:2: image ids 107\.\.107 contain no"),
        (LABELS.replace("walk: 102 106", "walk: 102 10\xe96"), r"actionLabel\.txt:2: not UTF-8"),
    ],
)
def test_corrupt_labels_name_file_and_line(tmp_path, text, match):
    f = write_joints(tmp_path, "s01_e01", IDS, _joints(8))
    (tmp_path / "actionLabel.txt").write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError, match=match):
        read_utkinect(f)


@pytest.mark.shared
def test_real_sample_matches_shared_npz(shared_data):
    root = shared_data / "utkinect"
    s = load_dataset(root / "raw_sample")["s05_e02"]
    ref = load_dataset(root)["s05_e02"]
    z = np.load(root / "sequences.npz")
    np.testing.assert_array_equal(s.joints, z["s05_e02"])  # float32 there: bit-identical
    np.testing.assert_array_equal(s.meta["frame_ids"], z["s05_e02__frame_ids"])
    np.testing.assert_allclose(s.t, ref.t)
    # s05_e02 needed no label correction, so the original actionLabel.txt gives the npz labels
    assert s.labels.intervals == ref.labels.intervals and len(s.labels.intervals) == 10
    assert len(read_action_labels(root / "raw_sample" / "actionLabel.txt").by_seq) == 20
