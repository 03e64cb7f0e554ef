"""`skelact.models.evaluation`: reading ground truth, predictions and scores; the metrics dict."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skelact.models.evaluation import (
    InputError,
    evaluate,
    format_table,
    is_events_file,
    load_gt,
    load_scores,
    read_events,
    read_predictions,
    read_segments_csv,
)
from skelact.stream.assets import precog_path

GT_ROWS = [("s1", 1, 10, 19), ("s1", 2, 30, 39), ("s2", 1, 0, 9)]
TIOUS = [0.1, 0.2, 0.3, 0.4, 0.5]
PRED_HEADER = "sequence,class_id,start_frame,end_frame,score"


def write_csv(path: Path, header: str, rows) -> Path:
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return path


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def gt_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "labels.csv", "sequence,class_id,start_frame,end_frame", GT_ROWS)


def event(typ, stream, eid, seq, cid=1, t=None, **kw):
    body = {"v": 1, "type": typ, "stream": stream, "track": 0, "event_id": eid, "n": 1, "action": "x",
            "class_id": cid, "t": seq / 10 if t is None else t, "seq": seq, "score": 0.7, "emitted_at": 0.0,
            "latency_ms": 0.0, "delay_s": 0.0}  # fmt: skip
    if typ == "end":
        body.update(t_start=0.0, duration=0.0, peak_score=0.9, reason="score")
    body.update(kw)
    return json.dumps(body)


def test_imports_no_torch():
    code = "import sys, skelact.models.evaluation; sys.exit(1 if 'torch' in sys.modules else 0)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_perfect_prediction(gt_csv):
    res, warnings = evaluate(load_gt(gt_csv), [(*r, 0.9) for r in GT_ROWS], TIOUS)
    assert res["detection_map"] == {"0.1": 1.0, "0.2": 1.0, "0.3": 1.0, "0.4": 1.0, "0.5": 1.0, "avg": 1.0}
    assert res["video_map"] == 1.0 and "frame_map" not in res and warnings == []
    assert set(res["per_class"]) == {"1", "2"} and res["per_class"]["1"]["num_gt"] == 2
    assert res["counts"]["gt_segments"] == 3 and res["counts"]["pred_segments"] == 3
    table = format_table(res, TIOUS)
    assert "mAP" in table and "100.00" in table and "@0.5" in table


def test_partial_prediction_and_custom_tiou(tmp_path, gt_csv):
    pred = write_csv(tmp_path / "pred.csv", PRED_HEADER,
                     [("s1", 1, 10, 19, 0.9), ("s1", 1, 60, 69, 0.95), ("s1", 2, 33, 39, 0.8)])  # fmt: skip
    preds, _ = read_predictions(pred)
    res, _ = evaluate(load_gt(gt_csv), preds, [0.5, 0.75])
    # class 1: FP then TP, one of two GT found -> 0.25; class 2: tIoU 0.7 -> TP at 0.5, miss at 0.75
    assert res["per_class"]["1"]["ap"]["0.5"] == pytest.approx(0.25)
    assert res["per_class"]["2"]["ap"] == {"0.5": 1.0, "0.75": 0.0, "avg": 0.5}
    assert res["detection_map"]["0.5"] == pytest.approx(0.625)


def test_events_are_paired_into_segments(tmp_path, gt_csv):
    pred = write_lines(tmp_path / "events.jsonl", [
        json.dumps({"v": 1, "type": "status", "uptime_s": 1.0}),
        event("start", "s1", "r-1", 10),
        event("start", "s1", "r-2", 30, cid=2),
        json.dumps({"v": 1, "type": "scores", "stream": "s1", "track": 0, "seq": 25, "t": 2.5, "scores": [0.1]}),
        event("end", "s1", "r-1", 19),
        event("end", "s1", "r-2", 39, cid=2),
        event("start", "s2", "r-3", 0),
        event("end", "s2", "r-3", 9),
    ])  # fmt: skip
    assert is_events_file(pred)
    preds, warnings = read_predictions(pred)
    assert sorted(preds) == sorted((*r, 0.9) for r in GT_ROWS) and warnings == []
    res, _ = evaluate(load_gt(gt_csv), preds, TIOUS)
    assert res["detection_map"]["avg"] == 1.0


def test_unmatched_start_closed_at_last_seen_seq(tmp_path):
    pred = write_lines(tmp_path / "events.jsonl", [
        event("start", "s1", "a", 10),
        json.dumps({"v": 1, "type": "scores", "stream": "s1", "track": 0, "seq": 19, "t": 1.9, "scores": [0.1]}),
        event("end", "s1", "zzz", 25),  # an end whose start was missed
        json.dumps({"v": 2, "type": "start"}),  # unknown protocol version: ignored
    ])  # fmt: skip
    preds, warnings = read_events(pred)
    # the last seq seen on stream s1 is 25 (the orphan end's); scored with the start's score
    assert preds == [("s1", 1, 10, 25, 0.7)]
    text = " ".join(warnings)
    assert "without an end" in text and "without a start" in text and "v=1" in text


def test_events_with_fps_use_times(tmp_path):
    pred = write_lines(tmp_path / "ev.jsonl", [  # seq deliberately wrong; t * 30 gives the frames
        event("start", "s1", "a", 0, t=10 / 30),
        event("end", "s1", "a", 0, t=19 / 30),
    ])  # fmt: skip
    assert read_events(pred, fps=30.0)[0] == [("s1", 1, 10, 19, 0.9)]


def test_fps_with_a_csv_is_a_warning(tmp_path):
    pred = write_csv(tmp_path / "p.csv", PRED_HEADER, [("s1", 1, 10, 19, 1)])
    preds, warnings = read_predictions(pred, fps=30.0)
    assert preds == [("s1", 1, 10, 19, 1.0)] and "events only" in warnings[0]


def test_scores_enable_frame_and_video_map(tmp_path, gt_csv):
    s1 = np.zeros((50, 2))
    s1[10:20, 0] = 0.9
    s1[30:40, 1] = 0.8
    s2 = np.zeros((20, 2))
    s2[0:10, 0] = 0.7
    npz = tmp_path / "scores.npz"
    np.savez(npz, class_ids=np.array([1, 2]), s1=s1, s2=s2)
    scores = load_scores(npz)
    assert scores[0] == [1, 2] and set(scores[1]) == {"s1", "s2"}
    res, _ = evaluate(load_gt(gt_csv), [(*r, 0.9) for r in GT_ROWS], TIOUS, scores)
    assert res["frame_map"] == 1.0 and res["video_map"] == 1.0
    assert res["counts"]["scored_sequences"] == 2
    assert "frame mAP 100.00%" in format_table(res, TIOUS)


def test_dataset_folder_with_split():
    ds = precog_path()
    test_ids = set(json.loads((ds / "splits.json").read_text())["test"])
    with open(ds / "labels.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["sequence"] in test_ids]
    assert rows
    preds = [(r["sequence"], int(r["class_id"]), int(r["start_frame"]), int(r["end_frame"]), 0.5) for r in rows]
    preds.append(("Seq_not_in_split", 1, 0, 5, 0.99))
    gt = load_gt(ds, "test")
    assert gt.sequences == test_ids and set(gt.lengths) == test_ids
    res, warnings = evaluate(gt, preds, TIOUS)
    assert res["detection_map"]["avg"] == 1.0
    assert res["counts"]["sequences"] == len(test_ids)
    assert res["counts"]["pred_outside_sequences"] == 1 and "outside" in warnings[0]
    assert res["per_class"]["1"]["name"] != "1"  # names come from the dataset
    # the same labels.csv as GT, with the split read from splits.json beside it
    res2, _ = evaluate(load_gt(ds / "labels.csv", "test"), preds, TIOUS)
    assert res2["detection_map"] == res["detection_map"]


def test_extra_gt_columns_ignored(tmp_path):
    gt = write_csv(tmp_path / "gt.csv", "sequence,class_id,start_frame,end_frame,confidence", [("a", 3, 0, 9, 2)])
    pred = write_csv(tmp_path / "p.csv", "score,end_frame,start_frame,class_id,sequence", [(0.5, 9, 0, 3, "a")])
    assert read_segments_csv(gt, with_score=False) == [("a", 3, 0, 9)]
    assert read_segments_csv(pred, with_score=True) == [("a", 3, 0, 9, 0.5)]


@pytest.mark.parametrize(
    "content, needle",
    [
        (PRED_HEADER + "\na,1,0,9,0.5\na,one,0,9,0.5\n", ":3: class_id"),
        (PRED_HEADER + "\na,1,9,0,0.5\n", ":2: segment"),
        (PRED_HEADER + "\na,1,0,9,nan\n", ":2: score"),
        (PRED_HEADER + "\na,1,0\n", ":2:"),
        ("sequence,class_id,start\na,1,0\n", ":1: header lacks"),
        ("", "empty file"),
    ],
)
def test_bad_pred_csv(tmp_path, content, needle):
    pred = tmp_path / "bad.csv"
    pred.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_segments_csv(pred, with_score=True)
    assert str(pred) in str(e.value) and needle in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "lines, needle",
    [
        (['{"v": 1, "type": "start"'], ":1: not a JSON object"),
        (["[1, 2]"], ":1: expected a JSON object"),
        ([event("start", "s1", "a", 1), event("start", "s1", "a", 2)], ":2: a second start"),
        ([event("start", "s1", "a", 5), event("end", "s1", "a", 2)], ":2: event 'a' ends"),
        ([event("start", "s1", "a", 5, class_id="x")], ":1: start event needs an integer class_id"),
        ([event("start", "s1", "a", 5), event("end", "s1", "a", 9, peak_score=None)], ":2: end event needs"),
    ],
)
def test_bad_events(tmp_path, lines, needle):
    pred = write_lines(tmp_path / "bad.jsonl", lines)
    with pytest.raises(InputError, match=needle.replace("(", r"\(")):
        read_events(pred)


def test_missing_inputs(tmp_path, gt_csv):
    for call, name in [(lambda: load_gt(tmp_path / "nope.csv"), "nope.csv"),
                       (lambda: read_predictions(tmp_path / "none.jsonl"), "none.jsonl"),
                       (lambda: load_scores(tmp_path / "none.npz"), "none.npz"),
                       (lambda: load_gt(gt_csv, "test"), "splits.json")]:  # fmt: skip
        with pytest.raises(InputError, match=name):
            call()
    np.savez(tmp_path / "s.npz", s1=np.zeros((3, 2)))
    with pytest.raises(InputError, match="class_ids"):
        load_scores(tmp_path / "s.npz")
    with pytest.raises(InputError, match="no segments"):
        evaluate(load_gt(write_csv(tmp_path / "empty.csv", "sequence,class_id,start_frame,end_frame", [])), [],
                 TIOUS)  # fmt: skip


@pytest.mark.shared
def test_point_labels_are_refused(shared_data):
    with pytest.raises(InputError, match="point-level labels"):
        load_gt(shared_data / "msrc12")
