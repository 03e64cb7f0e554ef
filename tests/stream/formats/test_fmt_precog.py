"""PRECOG csv reader: small files written here, the copied real Seq3_5.csv (MIT), corruption."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from skelact.stream.assets import precog_path
from skelact.stream.formats import load_dataset
from skelact.stream.formats.precog_csv import load_precog, read_precog_csv
from skelact.stream.formats.registry import sniff_format
from skelact.stream.layouts import KINECT20, to_canonical
from skelact.stream.sequence import DataError

DATA = Path(__file__).resolve().parent / "data"
HEADER = "; ".join(KINECT20.joint_names)


def _joints(T: int, seed: int = 0) -> np.ndarray:
    """(T, 20, 3) coordinates with 6 decimals (exact through text and float32)."""
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform(-1, 3, size=(T, 20, 3)), 6)


def write_precog(path: Path, joints: np.ndarray, classes: list[int], header: str = HEADER) -> Path:
    lines = [header]
    for fr, c in zip(joints, classes):
        lines.append(";".join(" ".join(f"{v:.6f}" for v in j) for j in fr) + f";{c}")
    path.write_text("\n".join(lines))  # no trailing newline, like the originals
    return path


def test_round_trip_values_labels_and_canonical(tmp_path):
    j = _joints(5)
    j[3] = 0.0  # all-zero frame = no skeleton
    f = write_precog(tmp_path / "Seq2_4.csv", j, [0, 3, 3, 0, 5])
    s = read_precog_csv(f)
    assert s.id == "Seq2_4" and s.layout == "kinect_v1_20" and s.joints.shape == (5, 1, 20, 3)
    assert s.joints.dtype == np.float32
    np.testing.assert_array_equal(s.joints[[0, 1, 2, 4], 0], j[[0, 1, 2, 4]].astype(np.float32))
    assert np.isnan(s.joints[3]).all()
    np.testing.assert_allclose(s.t, np.arange(5) / 30.0)
    assert s.labels.kind == "frame" and s.labels.frame.tolist() == [0, 3, 3, 0, 5]
    assert [(iv.start, iv.end, iv.class_id) for iv in s.labels.intervals] == [(1, 2, 3), (4, 4, 5)]
    # Kinect v1 order is the canonical order: canonical joints are the file's values.
    canon = to_canonical(s.joints, s.layout)
    np.testing.assert_array_equal(canon[0, 0], j[0].astype(np.float32))
    assert np.isnan(canon[3]).all()


def test_header_order_is_followed(tmp_path):
    j = _joints(2)
    perm = np.arange(20)[::-1]
    header = "; ".join(KINECT20.joint_names[i] for i in perm)
    f = write_precog(tmp_path / "Seq1_1.csv", j[:, perm], [0, 0], header)
    np.testing.assert_array_equal(read_precog_csv(f).joints[:, 0], j.astype(np.float32))


def test_folder_dataset_splits_and_empty_sequence(tmp_path, caplog):
    write_precog(tmp_path / "Seq1_1.csv", _joints(3), [0, 1, 1])
    write_precog(tmp_path / "Seq1_11.csv", _joints(4, 1), [2, 2, 0, 0])
    write_precog(tmp_path / "Seq2_10.csv", np.zeros((3, 20, 3)), [0, 0, 0])
    assert sniff_format(tmp_path) == "precog"
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(tmp_path)
    assert sorted(ds.sequences) == ["Seq1_1", "Seq1_11"]
    assert ds.meta["excluded"][0]["sequence"] == "Seq2_10" and "Seq2_10" in caplog.text
    assert ds.splits == {"train": ["Seq1_1"], "test": ["Seq1_11"]}
    assert ds.background_id == 0 and ds.label_kind == "frame" and ds.class_ids == list(range(1, 9))
    with pytest.raises(DataError, match="Seq2_10.csv: every frame is all-zero"):
        load_precog(tmp_path / "Seq2_10.csv")


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (lambda b: b[: len(b) - 40], r"Seq1_1\.csv:4: expected 21"),  # truncated last row
        (lambda b: b.replace(b";1\n", b";0.5 0.5 0.5;1\n", 1), r"Seq1_1\.csv:3: expected 21"),
        (lambda b: b.replace(b"HipCenter", b"HipCentre"), r"Seq1_1\.csv:1: header"),
        (lambda b: b + b"\n\x00\x01\x02 \xff\xfe\x89PNG", r"Seq1_1\.csv:5: not UTF-8"),
        (lambda b: b.replace(b"\n", b"\n\x00\x07", 1), r"Seq1_1\.csv:2: not a number"),
        (lambda b: b[: b.rfind(b";")] + b";12", r"Seq1_1\.csv:4: class must be an integer id"),
        (lambda b: b.replace(b"\n", b"\n\n", 1), r"Seq1_1\.csv:2: empty line"),
    ],
)
def test_corrupt_files_name_file_and_line(tmp_path, corrupt, match):
    f = write_precog(tmp_path / "Seq1_1.csv", _joints(3), [0, 1, 1])
    f.write_bytes(corrupt(f.read_bytes()))
    with pytest.raises(DataError, match=match):
        read_precog_csv(f)
    with pytest.raises(DataError):
        load_dataset(f)


def test_binary_garbage_is_a_data_error(tmp_path):
    f = tmp_path / "Seq1_1.csv"
    f.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(DataError, match="Seq1_1.csv"):
        load_dataset(f)  # not even recognised: still a DataError
    with pytest.raises(DataError, match=r"Seq1_1\.csv:\d+: "):
        read_precog_csv(f)


def test_real_file_matches_bundled_npz():
    """The original Seq3_5.csv (MIT, copied under tests/) against the bundled conversion."""
    s = load_dataset(DATA / "Seq3_5.csv")["Seq3_5"]
    ref = load_dataset(precog_path())["Seq3_5"]
    assert s.joints.shape == ref.joints.shape == (142, 1, 20, 3)
    # the bundle stores float16: equal after the same cast
    np.testing.assert_array_equal(s.joints.astype(np.float16).astype(np.float32), ref.joints)
    np.testing.assert_array_equal(s.labels.frame, ref.labels.frame)
    assert s.labels.intervals == ref.labels.intervals


@pytest.mark.shared
def test_real_file_matches_shared_npz(shared_data):
    z = np.load(shared_data / "precog" / "sequences.npz")
    s = load_dataset(shared_data / "precog" / "raw_sample")["Seq3_5"]
    np.testing.assert_array_equal(s.joints, z["Seq3_5"])  # float32 there: bit-identical
    np.testing.assert_array_equal(s.labels.frame, z["Seq3_5__frame_labels"])
