"""PKU-MMD skeleton + label txt readers: files written here; the real sample when ../shared exists."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from skelact.stream.formats import load_dataset
from skelact.stream.formats.pkummd_txt import (
    PKUMMD_CLASSES,
    find_label_file,
    load_pkummd,
    read_pkummd,
    read_pkummd_labels,
)
from skelact.stream.formats.registry import sniff_format
from skelact.stream.layouts import NTU25, to_canonical
from skelact.stream.sequence import DataError


def _skeleton(T: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform(-1, 3, size=(T, 2, 25, 3)), 6)


def write_pku(root: Path, name: str, x: np.ndarray, labels: list[str] | None) -> Path:
    """Write PKU_Skeleton_Renew/<name>.txt (and Train_Label_PKU_final/<name>.txt)."""
    skel = root / "PKU_Skeleton_Renew"
    skel.mkdir(parents=True, exist_ok=True)
    f = skel / f"{name}.txt"
    f.write_text("".join(" ".join(f"{v:.6f}" for v in row) + "\n" for row in x.reshape(len(x), -1)))
    if labels is not None:
        lab = root / "Train_Label_PKU_final"
        lab.mkdir(exist_ok=True)
        (lab / f"{name}.txt").write_text("".join(ln + "\n" for ln in labels))
    return f


def test_round_trip_two_persons_labels_and_canonical(tmp_path):
    x = _skeleton(6)
    x[2, 1] = 0.0  # second person absent in frame 2
    f = write_pku(tmp_path, "0005-M", x, ["26,1,3,2", "18,4,5,0"])
    s = read_pkummd(f)
    assert s.id == "0005-M" and s.layout == "ntu25" and s.joints.shape == (6, 2, 25, 3)
    np.testing.assert_array_equal(s.joints[:, 0], x[:, 0].astype(np.float32))
    assert np.isnan(s.joints[2, 1]).all() and np.isfinite(s.joints[3, 1]).all()
    np.testing.assert_allclose(s.t, np.arange(6) / 30.0)
    assert s.labels.kind == "interval"
    assert [(i.start, i.end, i.class_id, i.score) for i in s.labels.intervals] == [
        (1, 3, 26, 2.0), (4, 5, 18, 0.0)]  # fmt: skip
    canon = to_canonical(s.joints, s.layout)
    assert canon.shape == (6, 2, 20, 3)
    # canonical shoulder_center is Kinect v2 SpineShoulder (joint 20); spine is SpineMid (1)
    np.testing.assert_array_equal(canon[0, 0, 2], x[0, 0, NTU25.index("SpineShoulder")].astype(np.float32))
    np.testing.assert_array_equal(canon[0, 0, 1], x[0, 0, NTU25.index("SpineMid")].astype(np.float32))
    assert np.isnan(canon[2, 1]).all()


def test_absent_second_person_is_dropped_and_paths(tmp_path):
    x = _skeleton(4)
    x[:, 1] = 0.0
    f = write_pku(tmp_path, "0160-R", x, ["5,0,3,2"])
    write_pku(tmp_path, "0160-M", _skeleton(3, 1), ["5,0,2,1"])
    assert read_pkummd(f).joints.shape == (4, 1, 25, 3)
    assert find_label_file(f) == tmp_path / "Train_Label_PKU_final" / "0160-R.txt"
    for path in (tmp_path, tmp_path / "PKU_Skeleton_Renew", f):
        assert sniff_format(path) == "pkummd"
    ds = load_dataset(tmp_path)
    assert sorted(ds.sequences) == ["0160-M", "0160-R"] and ds.label_kind == "interval"
    assert len(ds.classes) == 51 and PKUMMD_CLASSES[14] == "handshaking"
    assert ds["0160-M"].joints.shape == (3, 2, 25, 3)


def test_explicit_label_file_and_missing_labels(tmp_path, caplog):
    f = write_pku(tmp_path / "a", "0206-R", _skeleton(5), None)
    other = tmp_path / "labels.txt"
    other.write_text("12,0,4,2\n")
    assert read_pkummd(f, other).labels.intervals[0].class_id == 12
    with caplog.at_level(logging.WARNING):
        assert read_pkummd(f).labels.kind == "none"
    assert "no label file" in caplog.text
    assert load_pkummd(f, labels=other)["0206-R"].labels.kind == "interval"


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (lambda b: b[:-30], r"0005-M\.txt:3: expected 150 values, found 14[0-9]"),  # truncated
        (lambda b: b.replace(b"\n", b" 1.0\n", 1), r"0005-M\.txt:1: expected 150 values, found 151"),
        (lambda b: b + b"\x89\xff\x00garbage\n", r"0005-M\.txt:4: not UTF-8"),
        (lambda b: b.replace(b" ", b" abc", 1), r"0005-M\.txt:1: not a number: 'abc"),
        (lambda b: b"-inf" + b[b.index(b" "):], r"0005-M\.txt:1: infinite value"),
        (lambda b: b.replace(b"\n", b"\n\n", 1), r"0005-M\.txt:2: empty line"),
    ],
)
def test_corrupt_skeleton_names_file_and_line(tmp_path, corrupt, match):
    f = write_pku(tmp_path, "0005-M", _skeleton(3), ["26,0,2,2"])
    f.write_bytes(corrupt(f.read_bytes()))
    with pytest.raises(DataError, match=match):
        read_pkummd(f)


@pytest.mark.parametrize(
    "label_text, match",
    [
        ("26,0,2,2\n18,1,2\n", r"0005-M\.txt:2: expected 4 comma-separated"),
        ("26,0,2,2\nx,1,2,2\n", r"0005-M\.txt:2: class,start,end must be integers"),
        ("99,0,2,2\n", r"0005-M\.txt:1: class id 99"),
        ("26,2,1,2\n", r"0005-M\.txt:1: bad interval"),
        ("26,0,2,2\n26,1,3,2\n", r"0005-M\.txt:2: interval 1..3 ends past the last frame"),
        ("26,0,2,2\n\xff\n", r"0005-M\.txt:2: not UTF-8"),
    ],
)
def test_corrupt_labels_name_file_and_line(tmp_path, label_text, match):
    f = write_pku(tmp_path, "0005-M", _skeleton(3), [])
    (tmp_path / "Train_Label_PKU_final" / "0005-M.txt").write_bytes(
        label_text.encode("latin-1"))
    with pytest.raises(DataError, match=match):
        read_pkummd(f)


def test_read_labels_without_frame_count(tmp_path):
    p = tmp_path / "l.txt"
    p.write_text("26,10,20,2\r\n27,30,40,1\r\n\r\n")
    assert [i.class_id for i in read_pkummd_labels(p)] == [26, 27]


@pytest.mark.shared
def test_real_sample_matches_shared_npz(shared_data):
    root = shared_data / "pkummd"
    s = load_dataset(root / "raw_sample")["0206-R"]
    ref = load_dataset(root)["0206-R"]
    z = np.load(root / "sequences.npz")
    assert s.joints.shape == ref.joints.shape == (1222, 2, 25, 3)
    # the npz stores float16: equal after the same cast, and within 1 mm anyway
    np.testing.assert_array_equal(s.joints.astype(np.float16), z["0206-R"])
    np.testing.assert_allclose(s.joints, ref.joints, atol=1e-3)
    assert s.labels.intervals == ref.labels.intervals and len(s.labels.intervals) == 8
