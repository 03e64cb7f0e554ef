"""`skelact eval` run in-process on small files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from skelact.stream.assets import precog_path
from skelact.tools import eval_cmd
from skelact.tools.eval_cmd import main

GT_ROWS = [("s1", 1, 10, 19), ("s1", 2, 30, 39), ("s2", 1, 0, 9)]


def write_csv(path: Path, header: str, rows) -> Path:
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def gt_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "labels.csv", "sequence,class_id,start_frame,end_frame", GT_ROWS)


def run(argv, tmp_path: Path) -> tuple[int, dict | None]:
    out = tmp_path / "out.json"
    rc = main([*argv, "--json", str(out)])
    return rc, (json.loads(out.read_text()) if out.exists() else None)


def event(typ, stream, eid, seq, cid=1, t=None, **kw):
    body = {"v": 1, "type": typ, "stream": stream, "track": 0, "event_id": eid, "n": 1, "action": "x",
            "class_id": cid, "t": seq / 10 if t is None else t, "seq": seq, "score": 0.7, "emitted_at": 0.0,
            "latency_ms": 0.0, "delay_s": 0.0}  # fmt: skip
    if typ == "end":
        body.update(t_start=0.0, duration=0.0, peak_score=0.9, reason="score")
    body.update(kw)
    return json.dumps(body)


def test_perfect_csv_prediction(tmp_path, gt_csv, capsys):
    pred = write_csv(tmp_path / "pred.csv", "sequence,class_id,start_frame,end_frame,score",
                     [(*r, 0.9) for r in GT_ROWS])  # fmt: skip
    rc, res = run(["--gt", str(gt_csv), "--pred", str(pred)], tmp_path)
    assert rc == 0
    assert res["detection_map"] == {"0.1": 1.0, "0.2": 1.0, "0.3": 1.0, "0.4": 1.0, "0.5": 1.0, "avg": 1.0}
    assert res["video_map"] == 1.0 and "frame_map" not in res
    assert set(res["per_class"]) == {"1", "2"} and res["per_class"]["1"]["num_gt"] == 2
    assert res["counts"]["gt_segments"] == 3 and res["counts"]["pred_segments"] == 3
    out = capsys.readouterr().out
    assert "mAP" in out and "100.00" in out and "@0.5" in out


def test_partial_prediction_and_custom_tiou(tmp_path, gt_csv):
    pred = write_csv(tmp_path / "pred.csv", "sequence,class_id,start_frame,end_frame,score",
                     [("s1", 1, 10, 19, 0.9), ("s1", 1, 60, 69, 0.95), ("s1", 2, 33, 39, 0.8)])  # fmt: skip
    rc, res = run(["--gt", str(gt_csv), "--pred", str(pred), "--tiou", "0.5", "0.75"], tmp_path)
    assert rc == 0
    # class 1: FP then TP, one of two GT found -> 0.25; class 2: tIoU 0.7 -> TP at 0.5, miss at 0.75
    assert res["per_class"]["1"]["ap"]["0.5"] == pytest.approx(0.25)
    assert res["per_class"]["2"]["ap"] == {"0.5": 1.0, "0.75": 0.0, "avg": 0.5}
    assert res["detection_map"]["0.5"] == pytest.approx(0.625)
    assert res["tiou_thresholds"] == [0.5, 0.75]


def test_events_jsonl(tmp_path, gt_csv, capsys):
    lines = [
        json.dumps({"v": 1, "type": "status", "uptime_s": 1.0}),
        event("start", "s1", "r-1", 10),
        event("start", "s1", "r-2", 30, cid=2),
        json.dumps({"v": 1, "type": "scores", "stream": "s1", "track": 0, "seq": 25, "t": 2.5, "scores": [0.1]}),
        event("end", "s1", "r-1", 19),
        event("end", "s1", "r-2", 39, cid=2),
        event("start", "s2", "r-3", 0),
        event("end", "s2", "r-3", 9),
        "",
    ]
    pred = tmp_path / "events.jsonl"
    pred.write_text("\n".join(lines), encoding="utf-8")
    rc, res = run(["--gt", str(gt_csv), "--pred", str(pred)], tmp_path)
    assert rc == 0 and res["detection_map"]["avg"] == 1.0
    assert res["counts"]["pred_segments"] == 3


def test_events_unmatched_start_closed_at_last_seen_seq(tmp_path, gt_csv, capsys):
    lines = [
        event("start", "s1", "a", 10),
        json.dumps({"v": 1, "type": "scores", "stream": "s1", "track": 0, "seq": 19, "t": 1.9, "scores": [0.1]}),
        event("end", "s1", "zzz", 25),  # an end whose start was missed
        json.dumps({"v": 2, "type": "start"}),  # unknown protocol version: ignored
    ]
    pred = tmp_path / "events.jsonl"
    pred.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rc, res = run(["--gt", str(gt_csv), "--pred", str(pred), "--tiou", "0.5"], tmp_path)
    assert rc == 0
    err = capsys.readouterr().err
    assert "without an end" in err and "without a start" in err and "v=1" in err
    # segment [10, 25]: the last seq seen on stream s1 is 25 -> tIoU 10/16 with [10, 19]
    assert res["per_class"]["1"]["ap"]["0.5"] == pytest.approx(0.5)


def test_events_with_fps_use_times(tmp_path, gt_csv):
    # seq deliberately wrong; t * 30 gives the frames
    lines = [
        event("start", "s1", "a", 0, t=10 / 30),
        event("end", "s1", "a", 0, t=19 / 30),
        event("start", "s2", "b", 0, t=0.0),
        event("end", "s2", "b", 0, t=9 / 30),
        event("start", "s1", "c", 0, cid=2, t=1.0),
        event("end", "s1", "c", 0, cid=2, t=39 / 30),
    ]
    pred = tmp_path / "ev.jsonl"
    pred.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rc, res = run(["--gt", str(gt_csv), "--pred", str(pred), "--fps", "30"], tmp_path)
    assert rc == 0 and res["detection_map"]["avg"] == 1.0 and res["fps"] == 30.0


def test_scores_enable_frame_and_video_map(tmp_path, gt_csv):
    pred = write_csv(tmp_path / "pred.csv", "sequence,class_id,start_frame,end_frame,score",
                     [(*r, 0.9) for r in GT_ROWS])  # fmt: skip
    s1 = np.zeros((50, 2))
    s1[10:20, 0] = 0.9
    s1[30:40, 1] = 0.8
    s2 = np.zeros((20, 2))
    s2[0:10, 0] = 0.7
    npz = tmp_path / "scores.npz"
    np.savez(npz, class_ids=np.array([1, 2]), s1=s1, s2=s2)
    rc, res = run(["--gt", str(gt_csv), "--pred", str(pred), "--scores", str(npz)], tmp_path)
    assert rc == 0
    assert res["frame_map"] == 1.0 and res["video_map"] == 1.0
    assert res["counts"]["scored_sequences"] == 2


def test_dataset_folder_with_split(tmp_path):
    ds = precog_path()
    splits = json.loads((ds / "splits.json").read_text())
    test_ids = set(splits["test"])
    import csv

    with open(ds / "labels.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["sequence"] in test_ids]
    assert rows
    pred = write_csv(tmp_path / "pred.csv", "sequence,class_id,start_frame,end_frame,score",
                     [(r["sequence"], r["class_id"], r["start_frame"], r["end_frame"], 0.5) for r in rows]
                     + [("Seq_not_in_split", 1, 0, 5, 0.99)])  # fmt: skip
    rc, res = run(["--gt", str(ds), "--split", "test", "--pred", str(pred)], tmp_path)
    assert rc == 0
    assert res["detection_map"]["avg"] == 1.0
    assert res["counts"]["sequences"] == len(test_ids)
    assert res["counts"]["pred_outside_sequences"] == 1
    assert res["per_class"]["1"]["name"] != "1"  # names come from the dataset
    # the same labels.csv as GT with the split read from splits.json beside it
    rc, res2 = run(["--gt", str(ds / "labels.csv"), "--split", "test", "--pred", str(pred)], tmp_path)
    assert rc == 0 and res2["detection_map"] == res["detection_map"]


def test_extra_gt_columns_ignored(tmp_path):
    gt = write_csv(tmp_path / "gt.csv", "sequence,class_id,start_frame,end_frame,confidence",
                   [("a", 3, 0, 9, 2)])  # fmt: skip
    pred = write_csv(tmp_path / "p.csv", "score,end_frame,start_frame,class_id,sequence", [(0.5, 9, 0, 3, "a")])
    rc, res = run(["--gt", str(gt), "--pred", str(pred)], tmp_path)
    assert rc == 0 and res["detection_map"]["avg"] == 1.0


@pytest.mark.parametrize(
    "content, needle",
    [
        ("sequence,class_id,start_frame,end_frame,score\na,1,0,9,0.5\na,one,0,9,0.5\n", ":3: class_id"),
        ("sequence,class_id,start_frame,end_frame,score\na,1,9,0,0.5\n", ":2: segment"),
        ("sequence,class_id,start_frame,end_frame,score\na,1,0,9,nan\n", ":2: score"),
        ("sequence,class_id,start_frame,end_frame,score\na,1,0\n", ":2:"),
        ("sequence,class_id,start\na,1,0\n", ":1: header lacks"),
        ("", "empty file"),
    ],
)
def test_bad_pred_csv(tmp_path, gt_csv, capsys, content, needle):
    pred = tmp_path / "bad.csv"
    pred.write_text(content, encoding="utf-8")
    rc, _ = run(["--gt", str(gt_csv), "--pred", str(pred)], tmp_path)
    assert rc == 2
    err = capsys.readouterr().err
    assert str(pred) in err and needle in err and "Traceback" not in err


@pytest.mark.parametrize(
    "lines, needle",
    [
        (['{"v": 1, "type": "start"', ""], ":1: not a JSON object"),
        (["[1, 2]"], ":1: expected a JSON object"),
        ([event("start", "s1", "a", 1), event("start", "s1", "a", 2)], ":2: a second start"),
        ([event("start", "s1", "a", 5), event("end", "s1", "a", 2)], ":2: event 'a' ends"),
        ([event("start", "s1", "a", 5, class_id="x")], ":1: start event needs an integer class_id"),
        ([event("start", "s1", "a", 5), event("end", "s1", "a", 9, peak_score=None)], ":2: end event needs"),
    ],
)
def test_bad_events(tmp_path, gt_csv, capsys, lines, needle):
    pred = tmp_path / "bad.jsonl"
    pred.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rc, _ = run(["--gt", str(gt_csv), "--pred", str(pred)], tmp_path)
    assert rc == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_missing_files_and_bad_options(tmp_path, gt_csv, capsys):
    assert main(["--gt", str(tmp_path / "nope.csv"), "--pred", str(gt_csv)]) == 2
    assert "nope.csv" in capsys.readouterr().err
    assert main(["--gt", str(gt_csv), "--pred", str(tmp_path / "none.jsonl")]) == 2
    assert "none.jsonl" in capsys.readouterr().err
    pred = write_csv(tmp_path / "p.csv", "sequence,class_id,start_frame,end_frame,score", [("s1", 1, 10, 19, 1)])
    assert main(["--gt", str(gt_csv), "--pred", str(pred), "--tiou", "0"]) == 2
    assert main(["--gt", str(gt_csv), "--pred", str(pred), "--fps", "-1"]) == 2
    assert main(["--gt", str(gt_csv), "--pred", str(pred), "--split", "test"]) == 2
    assert "splits.json" in capsys.readouterr().err
    np.savez(tmp_path / "s.npz", s1=np.zeros((3, 2)))
    assert main(["--gt", str(gt_csv), "--pred", str(pred), "--scores", str(tmp_path / "s.npz")]) == 2
    assert "class_ids" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "--tiou" in capsys.readouterr().out


@pytest.mark.shared
def test_point_labels_are_refused(tmp_path, shared_data, capsys):
    pred = write_csv(tmp_path / "p.csv", "sequence,class_id,start_frame,end_frame,score", [("x", 1, 0, 9, 1)])
    rc = main(["--gt", str(shared_data / "msrc12"), "--pred", str(pred)])
    err = capsys.readouterr().err
    assert rc == 2 and "point-level labels" in err and "Traceback" not in err


def test_summary_and_cli_dispatch(tmp_path, gt_csv, capsys):
    from skelact.tools.cli import main as cli_main

    assert isinstance(eval_cmd.SUMMARY, str) and "\n" not in eval_cmd.SUMMARY
    pred = write_csv(tmp_path / "p.csv", "sequence,class_id,start_frame,end_frame,score", [("s1", 1, 10, 19, 1)])
    assert cli_main(["eval", "--gt", str(gt_csv), "--pred", str(pred)]) == 0
    assert "mAP" in capsys.readouterr().out
