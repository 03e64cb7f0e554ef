"""`skelact train` command line: a tiny run, and clear exit-2 errors without tracebacks."""

from __future__ import annotations

import pytest

from skelact.models.checkpoint import load_checkpoint
from skelact.stream.formats.npz import save_npz_dataset
from skelact.stream.labels import Labels, Point
from skelact.stream.sequence import Dataset
from skelact.stream.synthetic import make_dataset
from skelact.tools import train as cli


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    return save_npz_dataset(make_dataset(num_sequences=4, num_frames=120, seed=1),
                            tmp_path_factory.mktemp("data") / "syn")  # fmt: skip


def test_summary_and_help(capsys):
    assert isinstance(cli.SUMMARY, str) and "\n" not in cli.SUMMARY
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    assert "--supervision" in capsys.readouterr().out


def test_tiny_run_writes_checkpoint(synthetic_dir, tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(["--data", str(synthetic_dir), "--supervision", "video", "--method", "mil", "--out", str(out),
                   "--epochs", "2", "--crop-frames", "64", "--threads", "1"])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "epoch   1/2" in text and "bce" in text
    model, info = load_checkpoint(out / "last.ckpt")
    assert [c["id"] for c in info["classes"]] == [1, 2, 3, 4, 5, 6]
    assert info["train_config"]["method"] == "mil" and info["extra"]["epoch"] == 1
    assert model.cfg.heads == 1


def test_full_supervision_from_intervals_with_a_chosen_shape(synthetic_dir, tmp_path):
    out = tmp_path / "full"
    rc = cli.main(["--data", str(synthetic_dir), "--supervision", "full", "--out", str(out), "--epochs", "1",
                   "--crop-frames", "64", "--threads", "1", "--widths", "8,16", "--dilations", "1,3"])  # fmt: skip
    assert rc == 0
    model, info = load_checkpoint(out / "last.ckpt")
    assert "test_frame_map" in info["extra"]["history"][-1]
    assert model.cfg.widths == (8, 16) and model.receptive_field == 1 + 2 * (1 + 3)


@pytest.mark.parametrize("args, message", [
    (["--widths", "8,0"], "positive integers"),
    (["--widths", "8,x"], "comma-separated"),
])  # fmt: skip
def test_bad_shape_arguments_are_usage_errors(synthetic_dir, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        cli.main(["--data", str(synthetic_dir), "--out", str(tmp_path / "o"), *args])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_widths_without_matching_dilations(synthetic_dir, tmp_path, capsys):
    assert cli.main(["--data", str(synthetic_dir), "--out", str(tmp_path / "o"), "--widths", "8,16"]) == 2
    assert "--dilations" in capsys.readouterr().err
    assert cli.main(["--data", str(synthetic_dir), "--out", str(tmp_path / "o"), "--widths", "8,16",
                     "--dilations", "1"]) == 2  # fmt: skip
    assert "2 blocks" in capsys.readouterr().err


def test_missing_data_path(tmp_path, capsys):
    assert cli.main(["--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "Traceback" not in err


def test_missing_split(synthetic_dir, tmp_path, capsys):
    assert (
        cli.main(["--data", str(synthetic_dir), "--out", str(tmp_path / "o"), "--split", "val"])
        == 2
    )
    assert "no split 'val'" in capsys.readouterr().err


def test_full_supervision_needs_frame_labels(tmp_path, capsys):
    syn = make_dataset(num_sequences=2, num_frames=80, seed=2)
    for s in syn:  # keep only one action point per interval, as MSRC-12 has
        s.labels = Labels.from_points(
            Point((iv.start + iv.end) // 2, iv.class_id) for iv in s.labels.intervals
        )
    pts = Dataset("points", syn.sequences, syn.classes, None, "point", syn.splits, syn.meta)
    path = save_npz_dataset(pts, tmp_path / "pts")
    assert (
        cli.main(["--data", str(path), "--supervision", "full", "--out", str(tmp_path / "o")]) == 2
    )
    err = capsys.readouterr().err
    assert "needs frame or interval labels" in err and "point" in err and "Traceback" not in err


def test_flr_start_can_be_moved_for_short_runs(synthetic_dir, tmp_path, capsys):
    base = ["--data", str(synthetic_dir), "--supervision", "video", "--method", "flr", "--epochs", "2",
            "--crop-frames", "64", "--threads", "1", "--eval-split", "none"]  # fmt: skip
    assert cli.main([*base, "--out", str(tmp_path / "a")]) == 0
    assert "lower --flr-start" in capsys.readouterr().err
    assert cli.main([*base, "--out", str(tmp_path / "b"), "--flr-start", "1", "--flr-window", "1"]) == 0
    io = capsys.readouterr()
    assert "lower --flr-start" not in io.err
    last = [ln for ln in io.out.splitlines() if ln.startswith("epoch   2/2")][0]
    assert float(last.split("pseudo ")[1].split()[0]) > 0  # pseudo labels used from epoch 2


def test_progress_bar_on_stderr_only_when_asked(synthetic_dir, tmp_path, capsys):
    base = ["--data", str(synthetic_dir), "--supervision", "video", "--method", "mil", "--epochs", "2",
            "--crop-frames", "64", "--threads", "1", "--eval-split", "none"]  # fmt: skip
    assert cli.main([*base, "--out", str(tmp_path / "a"), "--progress", "always"]) == 0
    io = capsys.readouterr()
    assert ("step/s" in io.err or "s/step" in io.err) and "training" in io.err  # tqdm: rate and ETA
    assert "epoch   1/2" in io.out and "epoch   2/2" in io.out and "step/s" not in io.out
    assert cli.main([*base, "--out", str(tmp_path / "b")]) == 0  # auto: stderr is no terminal here
    io = capsys.readouterr()
    assert "training:" not in io.err and "epoch   2/2" in io.out
    with pytest.raises(SystemExit) as e:
        cli.main([*base, "--out", str(tmp_path / "c"), "--progress", "sometimes"])
    assert e.value.code == 2
