"""`skelact eval` on point-level ground truth: point F1 of start events, through the command line,
on a hand-built npz dataset with irregular row times (and, with ../shared, on 3 MSRC-12 test
sequences run through `skelact detect`)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from skelact.stream.formats.npz import load_npz_dataset, save_npz_dataset
from skelact.stream.labels import Labels, Point
from skelact.stream.sequence import Dataset, Sequence
from skelact.tools.eval_cmd import main

CLASSES = {1: "wave", 2: "kick", 3: "bow"}


def _seq(sid: str, t: np.ndarray, points: list[Point]) -> Sequence:
    return Sequence(sid, np.zeros((len(t), 1, 20, 3), np.float32), "kinect_v1_20", 30.0, t,
                    Labels.from_points(points))  # fmt: skip


@pytest.fixture
def point_data(tmp_path: Path) -> Path:
    """Sequence a: 60 irregular rows (0.05 s apart up to row 20, then 0.1 s), so row 10 is at
    0.5 s, row 25 at 1.5 s and row 40 at 3.0 s (row / 30 fps would say 1.33 s for row 40).
    Sequence b: rows 0.04 s apart (row 5 at 0.2 s). Sequence c is in the train split only."""
    ta = np.r_[np.arange(20) * 0.05, 1.0 + np.arange(40) * 0.1]
    tb = np.arange(30) * 0.04
    seqs = {"a": _seq("a", ta, [Point(10, 1), Point(40, 1), Point(25, 2)]),
            "b": _seq("b", tb, [Point(5, 1)]),
            "c": _seq("c", tb, [Point(5, 1)])}  # fmt: skip
    ds = Dataset("pts", seqs, CLASSES, None, "point", {"train": ["c"], "test": ["a", "b"]}, {"fps": 30.0})
    return save_npz_dataset(ds, tmp_path / "pts")


def start(stream: str, cid: int, t: float, delay: float, eid: str, **kw) -> dict:
    body = {"v": 1, "type": "start", "stream": stream, "track": 0, "event_id": eid, "n": 1, "action": "x",
            "class_id": cid, "t": t, "seq": 0, "score": 0.7, "emitted_at": 0.0, "latency_ms": 0.0,
            "delay_s": delay}  # fmt: skip
    body.update(kw)
    return body


EVENTS = [
    start("a", 1, 0.45, 0.2, "e1"),  # point 0.5: at t -0.05, decided at 0.65 (+0.15)
    start("a", 1, 2.9, 0.8, "e2"),  # point 3.0: at t -0.1, decided at 3.7 (+0.7: only in [-0.5, +1.0])
    start("a", 2, 1.4, 0.3, "e3"),  # point 1.5: at t -0.1, decided at 1.7 (+0.2)
    start("a", 3, 2.0, 0.1, "e4"),  # class 3 has no points: a false positive
    start("b", 1, 1.5, 0.1, "e5"),  # point 0.2: +1.3 at t, +1.4 decided: a false positive, the point missed
    start("c", 1, 0.2, 0.0, "e6"),  # train split: ignored
    start("a", 9, 0.5, 0.0, "e7"),  # a class the dataset does not name: ignored
    {"v": 1, "type": "end", "stream": "a", "event_id": "e1", "class_id": 1, "t": 1.0, "seq": 0},
    {"v": 1, "type": "scores", "stream": "a", "track": 0, "seq": 0, "t": 0.0, "scores": [0.1]},
]


def write_events(path: Path, bodies: list[dict]) -> Path:
    path.write_text("".join(json.dumps(b) + "\n" for b in bodies), encoding="utf-8")
    return path


def run(argv: list[str], tmp_path: Path) -> tuple[int, dict | None]:
    out = tmp_path / "out.json"
    rc = main([*argv, "--json", str(out)])
    return rc, (json.loads(out.read_text()) if out.exists() else None)


def test_point_table_and_json_hand_computed(point_data, tmp_path, capsys):
    ev = write_events(tmp_path / "events.jsonl", EVENTS)
    rc, res = run(["--gt", str(point_data), "--split", "test", "--pred", str(ev)], tmp_path)
    assert rc == 0
    assert res["point_windows"] == [[0.5, 0.5], [0.5, 1.0]] and res["split"] == "test"
    assert "detection_map" not in res
    d, t = res["point_f1"], res["point_f1_at_t"]
    # decision time, [-0.5, +0.5]: 4 points, 5 events (a:1,1,2,3; b:1), matches e1 (+0.15), e3 (+0.2)
    a = d["-0.5/+0.5"]
    assert (a["tp"], a["num_points"], a["num_events"]) == (2, 4, 5)
    assert a["precision"] == pytest.approx(0.4) and a["recall"] == pytest.approx(0.5)
    assert a["f1"] == pytest.approx(4 / 9) and a["median_offset_s"] == pytest.approx(0.175)
    assert a["macro_f1"] == pytest.approx((1 / 3 + 1) / 2)  # class 1: 2*1/(3+3); class 2: 1; class 3: no points
    # decision time, [-0.5, +1.0]: e2 (+0.7) matches too
    b = d["-0.5/+1.0"]
    assert b["tp"] == 3 and b["f1"] == pytest.approx(6 / 9) and b["median_offset_s"] == pytest.approx(0.2)
    assert b["macro_f1"] == pytest.approx((2 / 3 + 1) / 2)
    # at t: e1, e2, e3 match in both windows; e5 is 1.3 s late
    for k in ("-0.5/+0.5", "-0.5/+1.0"):
        assert t[k]["tp"] == 3 and t[k]["f1"] == pytest.approx(2 / 3)
        assert t[k]["median_offset_s"] == pytest.approx(-0.1)
    pc = res["point_per_class"]
    assert set(pc) == {"1", "2", "3"}
    assert pc["3"] == {"name": "bow", "num_points": 0, "num_events": 1,
                       "f1": {"-0.5/+0.5": 0.0, "-0.5/+1.0": 0.0},
                       "precision": {"-0.5/+0.5": 0.0, "-0.5/+1.0": 0.0},
                       "recall": {"-0.5/+0.5": None, "-0.5/+1.0": None},
                       "f1_at_t": {"-0.5/+0.5": 0.0, "-0.5/+1.0": 0.0},
                       "precision_at_t": {"-0.5/+0.5": 0.0, "-0.5/+1.0": 0.0},
                       "recall_at_t": {"-0.5/+0.5": None, "-0.5/+1.0": None}}  # fmt: skip
    assert pc["1"]["recall"] == {"-0.5/+0.5": pytest.approx(1 / 3), "-0.5/+1.0": pytest.approx(2 / 3)}
    assert res["counts"] == {"start_events_read": 7, "events_outside_sequences": 1, "events_other_classes": 1,
                             "sequences": 2, "sequences_with_points": 2, "classes": 2, "points": 4,
                             "start_events": 5}  # fmt: skip
    cap = capsys.readouterr()
    assert "at decision time (t + delay_s)" in cap.out and "at the events' t" in cap.out
    assert "micro" in cap.out and "macro F1" in cap.out and "+0.175 s" in cap.out and "44.4" in cap.out
    assert "outside the ground truth's set" in cap.err and "[9]" in cap.err


def test_window_flag_and_ignored_flags(point_data, tmp_path, capsys):
    ev = write_events(tmp_path / "events.jsonl", EVENTS)
    rc, res = run(["--gt", str(point_data), "--split", "test", "--pred", str(ev), "--window", "0", "0.3",
                   "--window", "0.25", "2", "--window", "0", "0.3", "--tiou", "0.5"], tmp_path)  # fmt: skip
    assert rc == 0 and res["point_windows"] == [[0.0, 0.3], [0.25, 2.0]]  # the repeat dropped
    assert res["point_f1"]["-0.0/+0.3"]["tp"] == 2  # +0.15, +0.2
    assert res["point_f1"]["-0.25/+2.0"]["tp"] == 4  # +0.15, +0.7, +0.2 and b's +1.4
    assert res["point_f1_at_t"]["-0.0/+0.3"]["tp"] == 0  # every t is before its point
    assert "--tiou ignored" in capsys.readouterr().err


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("window, needle", [(["-0.5", "0.5"], "finite seconds >= 0"), (["0", "0"], "> 0"),
                                            (["x", "1"], "expected seconds"), (["0.5", "inf"], "finite")])  # fmt: skip
def test_bad_windows_fail_at_parse_time_in_one_line(window, needle, point_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as ex:
        main(["--gt", str(point_data), "--pred", str(tmp_path / "missing.jsonl"), "--window", *window])
    assert ex.value.code == 2
    err = one_line_error(capsys)
    assert "--window" in err and needle in err


def test_point_input_errors_are_one_line(point_data, tmp_path, capsys):
    csv_pred = tmp_path / "p.csv"
    csv_pred.write_text("sequence,class_id,start_frame,end_frame,score\na,1,0,5,0.5\n", encoding="utf-8")
    assert main(["--gt", str(point_data), "--pred", str(csv_pred)]) == 2
    assert "no decision times" in one_line_error(capsys)
    bad = write_events(tmp_path / "bad.jsonl", [EVENTS[0], {k: v for k, v in EVENTS[1].items() if k != "delay_s"}])
    assert main(["--gt", str(point_data), "--pred", str(bad)]) == 2
    assert f"{bad}:2:" in (err := one_line_error(capsys)) and "delay_s" in err
    assert main(["--gt", str(point_data), "--pred", str(bad), "--plot", str(tmp_path / "x.png")]) == 2
    assert "point labels" in one_line_error(capsys)
    labels_csv = point_data / "labels.csv"  # the points' CSV alone has no row times
    assert main(["--gt", str(labels_csv), "--pred", str(bad)]) == 2
    assert "dataset folder" in one_line_error(capsys)


# ----------------------------------------------------------------------------- MSRC-12 (../shared)
MSRC_SEQS = ["P1_1_10_p21", "P1_1_11_p21", "P1_1_12_p21"]


@pytest.mark.shared
def test_msrc12_detect_then_eval_on_three_test_sequences(shared_data, tmp_path, capsys):
    from skelact.tools.detect import main as detect

    src = shared_data / "msrc12"
    test_ids = json.loads((src / "splits.json").read_text())["test"]
    assert set(MSRC_SEQS) <= set(test_ids)
    ds = load_npz_dataset(src, only=MSRC_SEQS)
    ds.splits = {"test": list(MSRC_SEQS)}
    data = save_npz_dataset(ds, tmp_path / "msrc3")
    events = tmp_path / "events.jsonl"
    # The bundled model knows other classes (PRECOG): low thresholds only make sure there are
    # start events whose clock can be checked; the F1 itself means nothing here.
    assert detect([str(data), "-o", str(events), "--progress", "0", "--on", "0.2", "--off", "0.1",
                   "--min-frames", "2"]) == 0  # fmt: skip
    starts = [e for e in map(json.loads, events.read_text().splitlines()) if e["type"] == "start"]
    assert starts
    for e in starts:  # events carry t on the data's clock (per-row __time_ms), not seq / fps
        assert e["t"] == pytest.approx(float(ds[e["stream"]].t[e["seq"]]), abs=1e-6)
        assert e["delay_s"] >= 0
    rc, res = run(["--gt", str(data), "--split", "test", "--pred", str(events)], tmp_path)
    assert rc == 0, capsys.readouterr().err
    with (src / "labels.csv").open() as f:
        n_points = sum(1 for row in csv.DictReader(f) if row["sequence"] in MSRC_SEQS)
    assert res["counts"]["points"] == n_points and res["counts"]["sequences"] == 3
    assert res["counts"]["start_events"] + res["counts"]["events_other_classes"] == len(starts)
    for block in ("point_f1", "point_f1_at_t"):
        for k in ("-0.5/+0.5", "-0.5/+1.0"):
            r = res[block][k]
            assert r["num_points"] == n_points and 0 <= r["tp"] <= min(n_points, r["num_events"])
