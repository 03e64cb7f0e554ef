"""`skelact eval` command line: the table, --json, warnings and one-line errors (the reading and
scoring are tested in tests/models/test_evaluation.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from skelact.stream.assets import precog_path
from skelact.tools import eval_cmd
from skelact.tools.eval_cmd import main

GT_ROWS = [("s1", 1, 10, 19), ("s1", 2, 30, 39), ("s2", 1, 0, 9)]
PRED_HEADER = "sequence,class_id,start_frame,end_frame,score"


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


def event(typ, stream, eid, seq, cid=1):
    body = {"v": 1, "type": typ, "stream": stream, "track": 0, "event_id": eid, "n": 1, "action": "x",
            "class_id": cid, "t": seq / 10, "seq": seq, "score": 0.7}  # fmt: skip
    if typ == "end":
        body.update(peak_score=0.9, reason="score")
    return json.dumps(body)


def test_perfect_csv_prediction_table_and_json(tmp_path, gt_csv, capsys):
    pred = write_csv(tmp_path / "pred.csv", PRED_HEADER, [(*r, 0.9) for r in GT_ROWS])
    rc, res = run(["--gt", str(gt_csv), "--pred", str(pred), "--tiou", "0.5", "0.75"], tmp_path)
    assert rc == 0
    assert res["detection_map"] == {"0.5": 1.0, "0.75": 1.0, "avg": 1.0}
    assert res["tiou_thresholds"] == [0.5, 0.75] and res["gt"] == str(gt_csv) and res["pred"] == str(pred)
    assert res["scores"] is None and res["split"] is None and res["fps"] is None
    assert {"per_class", "counts", "video_map"} <= set(res)
    out = capsys.readouterr().out
    assert "mAP" in out and "100.00" in out and "@0.75" in out


def test_events_jsonl_with_fps_and_warnings(tmp_path, gt_csv, capsys):
    lines = [event("start", "s1", "a", 10), event("end", "s1", "a", 19), event("start", "s2", "b", 0),
             json.dumps({"v": 2, "type": "start"})]  # fmt: skip
    pred = tmp_path / "events.jsonl"
    pred.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rc, res = run(["--gt", str(gt_csv), "--pred", str(pred), "--fps", "10"], tmp_path)
    assert rc == 0 and res["fps"] == 10.0 and res["counts"]["pred_segments"] == 2
    err = capsys.readouterr().err
    assert "skelact eval: warning:" in err and "without an end" in err and "v=1" in err


def test_scores_and_dataset_split(tmp_path, capsys):
    ds = precog_path()
    seq = json.loads((ds / "splits.json").read_text())["test"][0]
    npz = tmp_path / "scores.npz"
    np.savez(npz, class_ids=np.arange(1, 9), **{seq: np.zeros((3, 8))})  # wrong length: refused
    pred = write_csv(tmp_path / "p.csv", PRED_HEADER, [(seq, 1, 0, 5, 0.5)])
    rc, _ = run(["--gt", str(ds), "--split", "test", "--pred", str(pred), "--scores", str(npz)], tmp_path)
    err = capsys.readouterr().err
    assert rc == 2 and "frames" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "content, needle",
    [(PRED_HEADER + "\na,one,0,9,0.5\n", ":2: class_id"), ("", "empty file")],
)
def test_bad_input_is_one_line_and_status_2(tmp_path, gt_csv, capsys, content, needle):
    pred = tmp_path / "bad.csv"
    pred.write_text(content, encoding="utf-8")
    rc, res = run(["--gt", str(gt_csv), "--pred", str(pred)], tmp_path)
    assert rc == 2 and res is None
    err = capsys.readouterr().err
    assert str(pred) in err and needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("skelact eval: ")


def test_missing_files(tmp_path, gt_csv, capsys):
    assert main(["--gt", str(tmp_path / "nope.csv"), "--pred", str(gt_csv)]) == 2
    assert "nope.csv" in capsys.readouterr().err
    assert main(["--gt", str(gt_csv), "--pred", str(tmp_path / "none.jsonl")]) == 2
    assert "none.jsonl" in capsys.readouterr().err
    pred = write_csv(tmp_path / "p.csv", PRED_HEADER, [("s1", 1, 10, 19, 1)])
    assert main(["--gt", str(gt_csv), "--pred", str(pred), "--scores", str(tmp_path / "s.npz")]) == 2
    assert "s.npz: no such file" in capsys.readouterr().err
    assert main(["--gt", str(gt_csv), "--pred", str(pred), "--split", "test"]) == 2
    assert "splits.json" in capsys.readouterr().err
    assert main(["--gt", str(gt_csv), "--pred", str(pred), "--json", str(tmp_path / "no" / "dir.json")]) == 2
    assert "cannot write" in capsys.readouterr().err


@pytest.mark.parametrize("args, needle", [
    (["--tiou", "0"], "--tiou: must be > 0"),
    (["--tiou", "1.5"], "--tiou: must be <= 1"),
    (["--fps", "-1"], "--fps: must be > 0"),
    (["--fps", "nan"], "--fps: expected a finite number"),
])  # fmt: skip
def test_bad_options_fail_at_parse_time(tmp_path, gt_csv, capsys, args, needle):
    with pytest.raises(SystemExit) as e:
        main(["--gt", str(gt_csv), "--pred", str(gt_csv), *args])
    err = capsys.readouterr().err
    assert e.value.code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_summary_help_and_cli_dispatch(tmp_path, gt_csv, capsys):
    from skelact.tools.cli import main as cli_main

    assert isinstance(eval_cmd.SUMMARY, str) and "\n" not in eval_cmd.SUMMARY
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "--tiou" in capsys.readouterr().out
    pred = write_csv(tmp_path / "p.csv", PRED_HEADER, [("s1", 1, 10, 19, 1)])
    assert cli_main(["eval", "--gt", str(gt_csv), "--pred", str(pred)]) == 0
    assert "mAP" in capsys.readouterr().out


def test_ood_false_starts_per_hour_hand_built(tmp_path, capsys):
    """Three starts on one PRECOG sequence: one inside a labelled kick (in domain when the
    kick class overlaps), two in its pauses (out of domain)."""
    from skelact.stream.formats import load_dataset

    ds = load_dataset(precog_path()).split("test")
    seq = next(iter(ds))
    iv = seq.labels.intervals[0]
    pauses = [r for r in range(seq.num_frames) if seq.labels.frame[r] == 0]
    rows = [(iv.start + iv.end) // 2, pauses[0], pauses[-1]]
    events = tmp_path / "ev.jsonl"
    events.write_text("".join(json.dumps({"type": "start", "stream": seq.id, "seq": r, "class_id": 5}) + "\n"
                              for r in rows))  # fmt: skip
    out = tmp_path / "ood.json"
    assert main(["--gt", str(precog_path()), "--split", "test", "--pred", str(events),
                 "--ood-overlap", str(iv.class_id), "--json", str(out)]) == 0  # fmt: skip
    r = json.loads(out.read_text())["ood"]
    assert r["ood_false_starts"] == 2 and r["starts_in_domain"] == 1 and r["per_class"] == {"5": 2}
    total_h = sum(float(np.clip(np.diff(s.t, append=s.t[-1] + np.median(np.diff(s.t))), 0, 1).sum())
                  for s in ds) / 3600  # fmt: skip
    assert 0 < r["ood_hours"] < total_h and r["ood_false_starts_per_hour"] == pytest.approx(2 / r["ood_hours"])
    assert "false starts" in capsys.readouterr().out
    # no overlapping class: every row is out of domain, all three starts are false
    assert main(["--gt", str(precog_path()), "--split", "test", "--pred", str(events), "--ood-overlap", "none",
                 "--json", str(out)]) == 0  # fmt: skip
    r = json.loads(out.read_text())["ood"]
    assert r["ood_false_starts"] == 3 and r["ood_hours"] == pytest.approx(total_h)


def test_ood_needs_a_dataset_and_json_lines(tmp_path, capsys):
    bad = tmp_path / "ev.jsonl"
    bad.write_text("not json\n")
    assert main(["--gt", str(precog_path()), "--pred", str(bad), "--ood-overlap", "1"]) == 2
    assert "not a JSON line" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--gt", str(precog_path()), "--pred", str(bad), "--ood-overlap", "kicks"])


def test_classes_scores_only_the_chosen_ground_truth(tmp_path, gt_csv, capsys):
    # class 2 is never predicted: over all classes mAP is halved, over class 1 alone it is perfect
    pred = write_csv(tmp_path / "pred.csv", PRED_HEADER, [(*r, 0.9) for r in GT_ROWS if r[1] == 1])
    rc, res = run(["--gt", str(gt_csv), "--pred", str(pred)], tmp_path)
    assert rc == 0 and res["detection_map"]["avg"] == pytest.approx(0.5)
    rc, res = run(["--gt", str(gt_csv), "--pred", str(pred), "--classes", "1"], tmp_path)
    assert rc == 0 and res["detection_map"]["avg"] == 1.0 and list(res["per_class"]) == ["1"]
    capsys.readouterr()
    assert main(["--gt", str(gt_csv), "--pred", str(pred), "--classes", "1,7"]) == 2
    assert "7 have no ground-truth instance" in capsys.readouterr().err
