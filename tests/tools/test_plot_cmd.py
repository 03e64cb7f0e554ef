"""`skelact plot` and `skelact detect --plot` through the real CLI: real PNGs, one-line errors,
and the message that names the plot extra when matplotlib cannot be imported."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import env_without_matplotlib, one_line, png_size, run  # noqa: E402

from skelact.stream.formats.npz import save_npz_dataset
from skelact.stream.synthetic import make_dataset


def _event(typ: str, eid: str, cid: int, name: str, seq: int, stream: str = "clip", **kw) -> dict:
    body = {"v": 1, "type": typ, "stream": stream, "track": 0, "event_id": eid, "n": 1, "action": name,
            "class_id": cid, "t": seq / 30, "seq": seq, "score": 0.7, "emitted_at": 0.0, "latency_ms": 0.0,
            "delay_s": 0.1}  # fmt: skip
    if typ == "end":
        body.update(t_start=kw["start"] / 30, duration=(seq - kw["start"]) / 30, peak_score=0.9, reason="score")
    return body


@pytest.fixture
def inputs(tmp_path):
    """A recorded run by hand: events (two streams), per-frame scores and a labels.csv."""
    ev = [_event("start", "a-1", 3, "wave", 20), _event("end", "a-1", 3, "wave", 60, start=20),
          _event("start", "a-2", 5, "squat", 90), _event("end", "a-2", 5, "squat", 130, start=90),
          _event("start", "b-1", 3, "wave", 5, stream="other"),
          _event("end", "b-1", 3, "wave", 9, stream="other", start=5)]  # fmt: skip
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in ev))
    t = np.arange(150)
    s = np.zeros((150, 3), np.float32)
    s[:, 0] = 0.9 * np.exp(-((t - 40) / 15.0) ** 2)
    s[:, 1] = 0.8 * np.exp(-((t - 110) / 15.0) ** 2)
    s[:, 2] = 0.05
    scores = tmp_path / "s.npz"
    np.savez(scores, class_ids=np.array([3, 5, 7]), clip=s, other=s[:12])
    labels = tmp_path / "labels.csv"
    labels.write_text("sequence,class_id,start_frame,end_frame\nclip,3,18,58\nclip,5,95,140\nother,3,4,8\n")
    return events, scores, labels


def test_plot_events_scores_and_ground_truth_to_png(inputs, tmp_path):
    events, scores, labels = inputs
    out = tmp_path / "timeline.png"
    r = run("plot", str(events), "--scores", str(scores), "--gt", str(labels), "--sequence", "clip",
            "--fps", "30", "-o", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "clip: 2 classes, 2 detections, 2 ground-truth segments" in r.stdout
    w, h = png_size(out)
    assert w >= 800 and 200 <= h <= 600  # two panels
    # the segments CSV `detect -o x.csv` writes is read too, and one panel is asked for
    seg = tmp_path / "seg.csv"
    seg.write_text("sequence,class_id,start_frame,end_frame,score\nclip,5,90,130,0.8\n")
    out2 = tmp_path / "one.svg"
    r = run("plot", str(seg), "--scores", str(scores), "--classes", "5", "-o", str(out2))
    assert r.returncode == 0, r.stderr
    assert out2.read_text().lstrip().startswith("<?xml") and "clip: 1 classes" in r.stdout


def test_plot_needs_a_sequence_when_the_inputs_hold_several(inputs, tmp_path):
    events, scores, _ = inputs
    line = one_line(run("plot", str(events), "-o", str(tmp_path / "x.png")))
    assert "2 sequences (clip, other): pick one with --sequence" in line
    line = one_line(run("plot", str(events), "--sequence", "nope", "-o", str(tmp_path / "x.png")))
    assert "'nope' is in none of the inputs" in line
    line = one_line(run("plot", str(events), "-o", str(tmp_path / "x.jpg")))
    assert line.startswith("skelact plot: error: argument -o/--out") and ".png" in line
    line = one_line(run("plot", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "x.png")))
    assert "missing.jsonl" in line
    assert not (tmp_path / "x.png").exists()


def test_detect_plot_draws_each_sequence_with_its_ground_truth(tmp_path):
    data = save_npz_dataset(make_dataset(2, 150, seed=4), tmp_path / "data")
    out = tmp_path / "ev.jsonl"
    r = run("detect", str(data), "-o", str(out), "--plot", str(tmp_path / "tl.png"), "--progress", "0")
    assert r.returncode == 0, r.stderr
    for sid in ("syn000", "syn001"):  # several sequences: one file each
        w, h = png_size(tmp_path / f"tl-{sid}.png")
        assert w >= 800 and h >= 150
    assert "plot -> " in r.stdout and "(and 1 more)" in r.stdout


@pytest.fixture
def no_matplotlib(tmp_path):
    """An environment whose Python cannot import matplotlib (a shadowing package that
    raises ImportError first on sys.path), as on an install without the plot extra."""
    return env_without_matplotlib(tmp_path)


def test_without_matplotlib_plot_and_detect_plot_name_the_extra(inputs, tmp_path, no_matplotlib):
    events, scores, _ = inputs
    out = tmp_path / "x.png"
    line = one_line(run("plot", str(events), "--sequence", "clip", "-o", str(out), env=no_matplotlib))
    assert line.startswith("skelact plot:") and "pip install 'skelact[plot]'" in line and "matplotlib" in line
    ev = tmp_path / "ev.jsonl"
    line = one_line(run("detect", "does-not-matter", "-o", str(ev), "--plot", str(out), env=no_matplotlib))
    assert line.startswith("skelact detect: --plot:") and "pip install 'skelact[plot]'" in line
    assert not out.exists() and not ev.exists()  # refused before any work
    # nothing else needs matplotlib: detect without --plot runs in that environment
    data = save_npz_dataset(make_dataset(1, 60, seed=2), tmp_path / "data")
    r = run("detect", str(data), "-o", str(ev), "--progress", "0", env=no_matplotlib)
    assert r.returncode == 0, r.stderr
