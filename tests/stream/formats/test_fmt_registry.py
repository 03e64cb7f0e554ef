"""Format sniffing and the shared text helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skelact.stream.formats import load_dataset, load_sequence
from skelact.stream.formats.registry import FORMATS, sniff, sniff_format
from skelact.stream.formats.text import data_lines, parse_rows, read_text
from skelact.stream.sequence import DataError

DATA = Path(__file__).resolve().parent / "data"


def test_unknown_files_and_folders_are_not_recognised(tmp_path):
    (tmp_path / "notes.txt").write_text("hello world\n")
    (tmp_path / "table.csv").write_text("a,b,c\n1,2,3\n")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    for p in [tmp_path, *tmp_path.iterdir()]:
        assert sniff_format(p) is None and sniff(p) is None
        with pytest.raises(DataError, match="not a recognised skeleton data format"):
            load_dataset(p)
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "missing.csv")


def test_sniff_by_content_not_only_by_name(tmp_path):
    pku = tmp_path / "video.txt"
    pku.write_text(" ".join(["0.5"] * 150) + "\n")
    utk = tmp_path / "take.txt"
    utk.write_text(" ".join(["12"] + ["0.5"] * 60) + "\n")
    msrc = tmp_path / "rec.csv"
    msrc.write_text(" ".join(["1000"] + ["0.5"] * 80) + "\n")
    assert [sniff_format(p) for p in (pku, utk, msrc)] == ["pkummd", "utkinect", "msrc12"]
    assert sniff_format(DATA / "Seq3_5.csv") == "precog"
    assert set(FORMATS) >= {"npz", "precog", "pkummd", "ntu", "msrc12", "utkinect", "mediapipe"}


def test_load_sequence_on_an_original_file():
    s = load_sequence(DATA / "Seq3_5.csv")
    assert s.id == "Seq3_5" and s.num_frames == 142


def test_read_text_reports_line_of_bad_byte(tmp_path):
    p = tmp_path / "f.txt"
    p.write_bytes(b"\xef\xbb\xbfok\nok\nbad \x80 here\n")
    with pytest.raises(DataError, match=r"f\.txt:3: not UTF-8 text \(byte 0x80"):
        read_text(p, "test")
    p.write_bytes(b"\xef\xbb\xbfok\n")
    assert read_text(p) == "ok\n"  # BOM dropped
    with pytest.raises(DataError, match=r"nope\.txt: cannot read"):
        read_text(tmp_path / "nope.txt")


def test_data_lines_and_parse_rows(tmp_path):
    p = tmp_path / "f.txt"
    rows = data_lines("head\n1 2\r\n3 4\n\n\n", p, skip=1)
    assert rows == [(2, "1 2"), (3, "3 4")]
    np.testing.assert_array_equal(parse_rows(rows, p, 2), [[1, 2], [3, 4]])
    with pytest.raises(DataError, match=r"f\.txt:2: empty line"):
        data_lines("1 2\n\n3 4\n", p)
    with pytest.raises(DataError, match=r"f\.txt:3: expected 2 values, found 3"):
        parse_rows([(2, "1 2"), (3, "3 4 5")], p, 2)
    with pytest.raises(DataError, match=r"f\.txt:3: not a number: '4x'"):
        parse_rows([(2, "1 2"), (3, "3 4x")], p, 2)
    with pytest.raises(DataError, match=r"f\.txt:2: infinite value"):
        parse_rows([(2, "1 inf")], p, 2)
    assert np.isnan(parse_rows([(1, "nan 1")], p, 2)[0, 0])
