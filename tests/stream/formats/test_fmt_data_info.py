"""`skelact data info`: numbers, JSON, help and errors (exit code 2, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skelact.stream.assets import precog_path
from skelact.tools import data_cmd

DATA = Path(__file__).resolve().parent / "data"


def _info(tmp_path: Path, path: Path, *extra: str) -> dict:
    out = tmp_path / "info.json"
    assert data_cmd.main(["info", str(path), "--json", str(out), *extra]) == 0
    return json.loads(out.read_text())


def test_summary_string_and_help(capsys):
    assert isinstance(data_cmd.SUMMARY, str) and "\n" not in data_cmd.SUMMARY
    assert data_cmd.main(["--help"]) == 0
    assert "info" in capsys.readouterr().out
    assert data_cmd.main(["info", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--json OUT" in out and "utkinect" in out and "PATH" in out
    assert data_cmd.main([]) == 2  # no subcommand: help on stderr
    assert "usage: skelact data" in capsys.readouterr().err
    assert data_cmd.main(["bogus"]) == 2


def test_errors_exit_2_without_traceback(tmp_path, capsys):
    assert data_cmd.main(["info", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "no such file or directory" in err and "Traceback" not in err
    bad = tmp_path / "Seq1_1.csv"
    bad.write_bytes((DATA / "Seq3_5.csv").read_bytes()[:3000] + b"\xff\xfe\x00")
    assert data_cmd.main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Seq1_1.csv:" in err and "not UTF-8" in err and "Traceback" not in err
    (tmp_path / "junk.bin").write_bytes(b"\x00" * 10)
    assert data_cmd.main(["info", str(tmp_path / "junk.bin")]) == 2


def test_original_file_table_and_json(tmp_path, capsys):
    info = _info(tmp_path, DATA / "Seq3_5.csv", "--sequences")
    out = capsys.readouterr().out
    assert "Seq3_5" in out and "RightPunch" in out and "kinect_v1_20" in out
    assert info["format"] == "precog" and info["sequences"] == 1 and info["frames"] == 142
    assert info["fps_nominal"] == 30.0 and info["fps_measured_median"] == 30.0
    assert info["label_kind"] == "frame" and info["background_id"] == 0
    assert info["instances"] == {"1": 1, "2": 0, "3": 1, "4": 1, "5": 0, "6": 1, "7": 1, "8": 0}
    assert info["persons_max"] == 1 and info["joints"] == 20


def test_bundled_precog_npz(tmp_path):
    info = _info(tmp_path, precog_path())
    assert info["format"] == "npz" and info["sequences"] == 70 and info["frames"] == 18784
    assert info["splits"] == {"train": 54, "test": 16}


def test_several_paths_give_a_list(tmp_path, capsys):
    out = tmp_path / "i.json"
    assert data_cmd.main(["info", str(DATA / "Seq3_5.csv"), str(DATA), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert isinstance(doc, list) and [d["sequences"] for d in doc] == [1, 1]


@pytest.mark.shared
@pytest.mark.parametrize(
    "name, expect",
    [
        ("precog", {"sequences": 70, "frames": 18784, "label_kind": "frame", "num_classes": 8,
                    "splits": {"train": 54, "test": 16}}),
        ("utkinect", {"sequences": 20, "frames": 15860, "label_kind": "interval",
                      "labelled_instances": 199, "num_classes": 10}),
        ("pkummd", {"sequences": 109, "frames": 201815, "label_kind": "interval",
                    "labelled_instances": 882, "num_classes": 51, "classes_present": 24,
                    "persons_max": 2, "layout": "ntu25"}),
        ("msrc12", {"sequences": 432, "frames": 518629, "label_kind": "point",
                    "labelled_instances": 4577, "num_classes": 12}),
    ],
)  # fmt: skip
def test_shared_npz_datasets(tmp_path, shared_data, name, expect):
    info = _info(tmp_path, shared_data / name)
    assert {k: info[k] for k in expect} == expect
    assert info["format"] == "npz"


def test_folder_whose_every_sequence_is_excluded(tmp_path, capsys):
    lines = ["; ".join(["HipCenter", "Spine", "ShoulderCenter", "Head", "ShoulderLeft",
                        "ElbowLeft", "WristLeft", "HandLeft", "ShoulderRight", "ElbowRight",
                        "WristRight", "HandRight", "HipLeft", "KneeLeft", "AnkleLeft",
                        "FootLeft", "HipRight", "KneeRight", "AnkleRight", "FootRight"])]
    lines += [";".join(["0 0 0"] * 20) + ";0"] * 3  # fmt: skip
    (tmp_path / "Seq2_10.csv").write_text("\n".join(lines))
    info = _info(tmp_path, tmp_path)
    assert info["sequences"] == 0 and info["excluded"] == 1 and info["layout"] is None
    assert "excluded" in capsys.readouterr().out
