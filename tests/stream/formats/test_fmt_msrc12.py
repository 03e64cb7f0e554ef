"""MSRC-12 csv + tagstream readers: files written here; the real sample when ../shared exists."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from skelact.stream.formats import load_dataset
from skelact.stream.formats.msrc12_csv import read_msrc12, read_tagstream, tick_to_us
from skelact.stream.formats.registry import sniff_format
from skelact.stream.layouts import to_canonical
from skelact.stream.sequence import DataError

T0_US = 15797707284  # a realistic clock value


def _us_to_tick(us: float) -> int:
    return int(round(us * 49875 / 1000))


def write_msrc(folder: Path, stem: str, us: np.ndarray, joints: np.ndarray,
               tags: list[tuple[float, int]] | None) -> Path:  # fmt: skip
    """csv rows: time_us + 20 x (x y z w); tags: (time_us, gesture) -> tagstream ticks."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for t, fr in zip(us, joints):
        w = 0.0 if not fr.any() else 1.0
        vals = [f"{v:.6f}" for xyz in fr for v in (*xyz, w)]
        rows.append(" ".join([str(int(t)), *("0" if w == 0 else v for v in vals)]))
    f = folder / f"{stem}.csv"
    f.write_text("\r\n".join(rows) + "\r\n")
    if tags is not None:
        lines = ["XQPCTick;Tag"] + [f"{_us_to_tick(t)};G{g}  Gesture" for t, g in tags]
        (folder / f"{stem}.tagstream").write_text("\r\n".join(lines) + "\r\n")
    return f


def _data(T: int = 8, lead: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    j = np.round(rng.uniform(-1, 3, size=(T, 20, 3)), 6)
    j[:lead] = 0.0
    steps = np.array([33000, 32000, 35000, 100000, 30000, 33000, 34000][: T - 1])
    us = T0_US + np.concatenate([[0], np.cumsum(steps)])
    return us, j


def test_round_trip_trim_time_points_and_canonical(tmp_path):
    us, j = _data()
    j[5] = 0.0  # a later lost frame -> NaN (not trimmed)
    f = write_msrc(tmp_path, "P1_1_3_p07", us, j, [(us[3] + 10000, 3), (us[6] - 14000, 3)])
    s = read_msrc12(f)
    assert s.id == "P1_1_3_p07" and s.layout == "kinect_v1_20" and s.meta["lead_trimmed"] == 2
    assert s.joints.shape == (6, 1, 20, 3)
    np.testing.assert_array_equal(s.joints[0, 0], j[2].astype(np.float32))
    assert np.isnan(s.joints[3]).all()
    np.testing.assert_allclose(s.t, (us[2:] - us[2]) / 1e6)
    assert s.fps == 30.0
    # points: nearest csv timestamp, frame indices after trimming
    assert [(p.frame, p.class_id) for p in s.labels.points] == [(1, 3), (4, 3)]
    canon = to_canonical(s.joints, s.layout)
    np.testing.assert_array_equal(canon[0, 0, 7], j[2, 7].astype(np.float32))  # l_hand


def test_point_before_first_frame_is_dropped_with_warning(tmp_path, caplog):
    us, j = _data()
    f = write_msrc(tmp_path, "P2_2_11A_p20", us, j, [(us[0] - 50000, 11), (us[4], 11)])
    with caplog.at_level(logging.WARNING):
        s = read_msrc12(f)
    # rows 0-1 are trimmed (all zero): the first tag is 115 ms before the first kept frame
    assert [p.frame for p in s.labels.points] == [2]
    assert s.meta["dropped_points"][0]["line"] == 2 and "dropped" in caplog.text


def test_folder_and_sniffing(tmp_path):
    us, j = _data()
    write_msrc(tmp_path, "P1_1_3_p07", us, j, [(us[4], 3)])
    write_msrc(tmp_path, "P1_1_3_p14", us, j, [(us[4], 3)])
    write_msrc(tmp_path, "P1_1_12A_p19", us, np.zeros_like(j), [(us[4], 12)])
    for p in (tmp_path, tmp_path / "P1_1_3_p07.csv", tmp_path / "P1_1_3_p07.tagstream"):
        assert sniff_format(p) == "msrc12"
    ds = load_dataset(tmp_path)
    assert sorted(ds.sequences) == ["P1_1_3_p07", "P1_1_3_p14"]
    assert ds.meta["excluded"] == [{"sequence": "P1_1_12A_p19", "reason": "all frames zero"}]
    assert ds.splits == {"train": ["P1_1_3_p07"], "test": ["P1_1_3_p14"]}
    assert ds.label_kind == "point" and len(ds.classes) == 12
    assert len(load_dataset(tmp_path / "P1_1_3_p07.tagstream")) == 1
    with pytest.raises(DataError, match="P1_1_12A_p19.csv: every frame is all-zero"):
        load_dataset(tmp_path / "P1_1_12A_p19.csv")


def test_tick_conversion_matches_load_tagstream():
    # (tick * 1000 + 49875 / 2) / 49875, rounded down as the MATLAB integer code does
    assert tick_to_us(49875).item() == 1000
    assert tick_to_us(788045092075).item() == np.floor((788045092075 * 1000 + 24937.5) / 49875)


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (lambda b: b[:-40], r"P1_1_3_p07\.csv:8: expected 81 values"),  # truncated
        (lambda b: b.replace(b"\r\n", b" 0.5\r\n", 1), r"P1_1_3_p07\.csv:1: expected 81 values, found 82"),
        (lambda b: b + b"\xc3\x28\x00\x00", r"P1_1_3_p07\.csv:9: not UTF-8"),
        (lambda b: b.replace(b" 1.000000", b" 1.0O0000", 1), r"P1_1_3_p07\.csv:3: not a number"),
        (lambda b: b.replace(str(T0_US + 100000).encode(), str(T0_US).encode()), r"P1_1_3_p07\.csv:4: time goes backwards"),
        (lambda b: b.replace(b" 1.000000", b" nan", 1), r"P1_1_3_p07\.csv:3: NaN value"),
    ],
)
def test_corrupt_csv_names_file_and_line(tmp_path, corrupt, match):
    us, j = _data()
    f = write_msrc(tmp_path, "P1_1_3_p07", us, j, [(us[4], 3)])
    f.write_bytes(corrupt(f.read_bytes()))
    with pytest.raises(DataError, match=match):
        read_msrc12(f)


@pytest.mark.parametrize(
    "text, match",
    [
        (b"Tick;Tag\r\n1;G1 x\r\n", r"\.tagstream:1: expected the header"),
        (b"XQPCTick;Tag\r\n12;G3  Push right\r\n12;G3;x\r\n", r"\.tagstream:3: expected 'tick;tag'"),
        (b"XQPCTick;Tag\r\n12x;G3  Push right\r\n", r"\.tagstream:2: tick must be an integer"),
        (b"XQPCTick;Tag\r\n12;G13 Nope\r\n", r"\.tagstream:2: tag must start with G1..G12"),
        (b"XQPCTick;Tag\r\n12;G3 \xe9\r\n", r"\.tagstream:2: not UTF-8"),
    ],
)
def test_corrupt_tagstream_names_file_and_line(tmp_path, text, match):
    us, j = _data()
    f = write_msrc(tmp_path, "P1_1_3_p07", us, j, [])
    (tmp_path / "P1_1_3_p07.tagstream").write_bytes(text)
    with pytest.raises(DataError, match="P1_1_3_p07" + match):
        read_msrc12(f)
    if b"G13" in text:
        with pytest.raises(DataError):
            read_tagstream(tmp_path / "P1_1_3_p07.tagstream")


@pytest.mark.shared
def test_real_sample_matches_shared_npz(shared_data):
    root = shared_data / "msrc12"
    s = load_dataset(root / "raw_sample")["P2_2_2_p05"]
    ref = load_dataset(root)["P2_2_2_p05"]
    z = np.load(root / "sequences.npz")
    assert s.joints.shape == ref.joints.shape == (519, 1, 20, 3) and s.meta["lead_trimmed"] == 20
    np.testing.assert_array_equal(s.joints.astype(np.float16), z["P2_2_2_p05"])
    np.testing.assert_array_equal(np.rint(s.t * 1000).astype(np.int32), z["P2_2_2_p05__time_ms"])
    assert s.labels.points == ref.labels.points and len(s.labels.points) == 10
