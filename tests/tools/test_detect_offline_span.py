"""`detect --offline` maps model-frame segments back to every source frame they stand for.

A 10-fps model over 30-fps data: model frame k (t = k/10 s) stands for the source rows
nearest it in time, 3k-1, 3k and 3k+1 (the rows `--scores-out` gives its scores). A
segment of model frames s..e therefore covers rows 3s-1 .. 3e+1. Mapping each end
through ``Prepared.src`` instead (the row a model frame was taken from: the resampler
emits grid point k from row 3k-1, which arrives within half a grid step of it) gave
3s-1 .. 3e-1: ends two source frames short.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from skelact.stream.formats.npz import save_npz_dataset
from skelact.stream.metadata import META_KEY
from skelact.stream.resample import resample
from skelact.stream.sequence import Dataset
from skelact.stream.synthetic import ACTIONS, make_sequence
from skelact.tools.detect import nearest_model_frame, source_span

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stream"))
from onnx_fixtures import hand_raiser  # noqa: E402

SKELACT = [sys.executable, "-m", "skelact.tools.cli"]


def _grid_10_over_30(rows: int = 90):
    row_t = np.arange(rows) / 30.0
    _, grid_t, src = resample(np.zeros((rows, 1), np.float32), row_t, 10.0)
    return row_t, grid_t, src


def test_model_frames_stand_for_their_nearest_source_rows():
    row_t, grid_t, src = _grid_10_over_30()
    assert len(grid_t) == 31 and list(src[:4]) == [0, 2, 5, 8]  # early rows stand in (row 89 for 3.0 s)
    near = nearest_model_frame(grid_t, row_t)
    assert list(near[:8]) == [0, 0, 1, 1, 1, 2, 2, 2]  # rows 2, 3, 4 -> model frame 1


@pytest.mark.parametrize("s,e", [(4, 7), (5, 5), (10, 20)])
def test_segment_covers_every_source_row_of_its_model_frames(s, e):
    row_t, grid_t, src = _grid_10_over_30()
    near = nearest_model_frame(grid_t, row_t)
    lo, hi = source_span(near, src, s, e)
    assert (lo, hi) == (3 * s - 1, 3 * e + 1)
    assert (int(src[s]), int(src[e])) == (3 * s - 1, 3 * e - 1)  # the old mapping: 2 rows short at the end
    inside = near[lo : hi + 1]
    assert inside.min() == s and inside.max() == e  # exactly the rows of model frames s..e
    assert near[lo - 1] == s - 1 and near[hi + 1] == e + 1


def test_span_at_the_sequence_ends_and_for_a_model_faster_than_the_source():
    row_t, grid_t, src = _grid_10_over_30(30)  # rows 0..29, model frames 0..10 (10 from row 29)
    near = nearest_model_frame(grid_t, row_t)
    assert source_span(near, src, 0, 2) == (0, 7)
    assert source_span(near, src, 9, len(grid_t) - 1) == (26, 29)
    # 30-fps model over 10-fps rows: several model frames per row, none of them alone
    rt = np.arange(10) / 10.0
    _, g, sr = resample(np.zeros((10, 1), np.float32), rt, 30.0)
    n = nearest_model_frame(g, rt)
    lo, hi = source_span(n, sr, 4, 5)  # model frames 4, 5 lie between rows 1 and 2
    assert lo <= hi and (lo, hi) == (int(sr[4]), int(sr[5]))


def _ten_fps_window_model(path: Path) -> Path:
    hand_raiser(path, "window", lookahead=3)
    m = onnx.load(str(path))
    for p in m.metadata_props:
        if p.key == META_KEY:
            meta = json.loads(p.value)
            meta["fps"] = 10.0
            p.value = json.dumps(meta)
    onnx.save(m, str(path))
    return path


def test_detect_offline_cli_ends_cover_the_last_model_frame(tmp_path):
    model = _ten_fps_window_model(tmp_path / "hr10_window.onnx")
    seqs = {f"arms{i}": make_sequence(f"arms{i}", 450, fps=30.0, num_actions=6, classes=(1, 2), seed=i)
            for i in range(2)}  # fmt: skip
    ds = Dataset(name="arms", sequences=seqs, classes={1: ACTIONS[1], 2: ACTIONS[2]}, background_id=None,
                 label_kind="interval", splits={"test": list(seqs)}, meta={"fps": 30.0})  # fmt: skip
    data = save_npz_dataset(ds, tmp_path / "data")
    out = tmp_path / "seg.csv"
    r = subprocess.run([*SKELACT, "detect", str(data), "--offline", "--model", str(model), "-o", str(out),
                        "--progress", "0"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) >= 4, rows
    for row in rows:
        s, e = int(row["start_frame"]), int(row["end_frame"])
        if e < 449:  # inside the sequence, an end is the last row of model frame k: 3k + 1
            assert e % 3 == 1, row
        if s > 0:  # and a start the first row of model frame k: 3k - 1
            assert s % 3 == 2, row
