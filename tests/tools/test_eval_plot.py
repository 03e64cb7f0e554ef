"""`skelact eval --plot` through the real CLI: a per-class AP chart of events that `skelact detect`
made on the bundled data, the extension checked at parse time, and the one line that names the
plot extra when matplotlib cannot be imported (before any work)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import env_without_matplotlib, one_line, png_size, run  # noqa: E402

from skelact.stream.assets import precog_path


@pytest.fixture(scope="module")
def events(tmp_path_factory) -> Path:
    """What `skelact detect` makes of the bundled PRECOG test split (the bundled model)."""
    out = tmp_path_factory.mktemp("detect") / "events.jsonl"
    r = run("detect", str(precog_path()), "--split", "test", "-o", str(out), "--progress", "0")
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 0
    return out


def test_eval_plot_writes_a_per_class_ap_chart(events, tmp_path):
    out, js = tmp_path / "ap.png", tmp_path / "ap.json"
    r = run("eval", "--gt", str(precog_path()), "--split", "test", "--pred", str(events),
            "--json", str(js), "--plot", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"plot -> {out}" in r.stdout and "mAP" in r.stdout  # the table is still printed
    w, h = png_size(out)
    assert w >= 700 and 300 <= h <= 1000
    assert out.stat().st_size > 10_000  # bars, labels and legend, not an empty canvas
    result = json.loads(js.read_text())
    assert len(result["per_class"]) == 8 and 0 < result["detection_map"]["avg"] <= 1  # the chart's input
    # many thresholds: one bar per class (the mean over them); another format by suffix
    svg = tmp_path / "ap.svg"
    r = run("eval", "--gt", str(precog_path()), "--split", "test", "--pred", str(events),
            "--tiou", *[f"0.{i}" for i in range(1, 10)], "--plot", str(svg))  # fmt: skip
    assert r.returncode == 0, r.stderr
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "mAP" in text


def test_eval_plot_checks_the_path_before_any_work(events, tmp_path):
    js = tmp_path / "r.json"
    line = one_line(run("eval", "--gt", str(precog_path()), "--pred", str(events), "--json", str(js),
                        "--plot", str(tmp_path / "ap.jpg")))  # fmt: skip
    assert line.startswith("skelact eval: error: argument --plot") and ".png" in line and ".pdf" in line
    line = one_line(run("eval", "--gt", str(precog_path()), "--pred", str(events), "--json", str(js),
                        "--plot", str(tmp_path / "no" / "ap.png")))  # fmt: skip
    assert line.startswith("skelact eval: --plot: cannot write") and "no folder" in line
    line = one_line(run("eval", "--gt", str(precog_path()), "--pred", str(events), "--ood-overlap", "none",
                        "--plot", str(tmp_path / "ap.png")))  # fmt: skip
    assert "--plot" in line and "--ood-overlap" in line
    assert not js.exists() and not (tmp_path / "ap.png").exists()


@pytest.fixture
def no_matplotlib(tmp_path):
    """An environment whose Python cannot import matplotlib (a shadowing package that raises
    ImportError first on sys.path), as on an install without the plot extra (as in
    test_plot_cmd.py)."""
    return env_without_matplotlib(tmp_path)


def test_eval_plot_without_matplotlib_names_the_extra(events, tmp_path, no_matplotlib):
    out, js = tmp_path / "ap.png", tmp_path / "r.json"
    line = one_line(run("eval", "--gt", str(precog_path()), "--split", "test", "--pred", str(events),
                        "--json", str(js), "--plot", str(out), env=no_matplotlib))  # fmt: skip
    assert line.startswith("skelact eval: --plot:") and "matplotlib" in line
    assert "pip install 'skelact[plot]'" in line
    assert not out.exists() and not js.exists()  # refused before any work
    # nothing else in eval needs matplotlib
    r = run("eval", "--gt", str(precog_path()), "--split", "test", "--pred", str(events), "--json", str(js),
            env=no_matplotlib)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(js.read_text())["detection_map"]["avg"] > 0
