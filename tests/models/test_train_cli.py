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
    (["--segment-frames", "0"], "integer >= 1"),  # 0 used to mean the default, silently
    (["--teacher-epochs", "0"], "integer >= 1"),
    (["--ptlr-rounds", "-1"], "integer >= 0"),
    (["--ptlr-rounds", "two"], "expected an integer"),
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


def test_help_documents_segment_and_multires(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for text in ("segment", "multires", "--segment-frames", "--segments-per-instance", "--segments FILE",
                 "--ptlr-rounds", "--teacher-epochs", "--ablate", "round(16/30"):  # fmt: skip
        assert text in out, text


def test_segment_run_and_its_segments_file(synthetic_dir, tmp_path, capsys):
    base = ["--data", str(synthetic_dir), "--supervision", "segment", "--epochs", "1", "--crop-frames", "64",
            "--threads", "1", "--eval-split", "none", "--segment-frames", "6"]  # fmt: skip
    assert cli.main([*base, "--out", str(tmp_path / "a"), "--segments-per-instance", "2"]) == 0
    out = capsys.readouterr().out
    assert "6 frames each, 2 per instance" in out and "psl" in out
    seg = tmp_path / "a" / "segments.csv"
    _model, info = load_checkpoint(tmp_path / "a" / "last.ckpt")
    assert info["train_config"]["method"] == "segment" and info["train_config"]["segments_per_instance"] == 2
    assert cli.main([*base, "--out", str(tmp_path / "b"), "--segments", str(seg), "--ablate", "sphere,propagation"]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("epoch   1/1")][0]
    assert "sphere 0.0000" in line and "prop 0.0000" in line
    assert (tmp_path / "b" / "segments.csv").read_text() == seg.read_text()


@pytest.mark.parametrize("extra, message", [
    (["--segments", "LABELS"], "no 'kind' column"),
    (["--segments", "NOPE"], "no such file"),
    (["--ablate", "multires"], "can switch off one of psl, sphere, propagation"),
])  # fmt: skip
def test_segment_errors_are_one_line(synthetic_dir, tmp_path, capsys, extra, message):
    extra = [str(synthetic_dir / "labels.csv") if a == "LABELS" else str(tmp_path / "x.csv") if a == "NOPE" else a
             for a in extra]  # fmt: skip
    rc = cli.main(["--data", str(synthetic_dir), "--supervision", "segment", "--out", str(tmp_path / "o"),
                   "--epochs", "1", "--threads", "1", *extra])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_multires_resume_without_stored_labels_fails_clearly(synthetic_dir, tmp_path, capsys):
    """A checkpoint of another method cannot stand in for the multires teachers' labels."""
    from skelact.models.checkpoint import read_checkpoint

    assert cli.main(["--data", str(synthetic_dir), "--supervision", "video", "--method", "multires", "--epochs", "1",
                     "--teacher-epochs", "1", "--ptlr-rounds", "0", "--crop-frames", "64", "--threads", "1",
                     "--eval-split", "none", "--out", str(tmp_path / "m")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "multires teachers: 1 stages (ILG + 0 PTLR rounds)" in out
    import torch

    ck = read_checkpoint(tmp_path / "m" / "last.ckpt")
    del ck["extra"]["resume"]["pseudo_labels"]
    torch.save(ck, tmp_path / "m" / "broken.ckpt")
    rc = cli.main(["--data", str(synthetic_dir), "--resume", str(tmp_path / "m" / "broken.ckpt"), "--epochs", "2",
                   "--out", str(tmp_path / "m")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "holds no multires pseudo labels" in err and "Traceback" not in err


def test_classes_restricts_the_label_set_and_survives_resume(synthetic_dir, tmp_path, capsys):
    out = tmp_path / "two"
    base = ["--data", str(synthetic_dir), "--supervision", "full", "--out", str(out), "--crop-frames", "64",
            "--threads", "1", "--widths", "8,8", "--dilations", "1,2", "--classes", "4,2,4"]  # fmt: skip
    assert cli.main([*base, "--epochs", "1"]) == 0
    assert "classes: 2 " in capsys.readouterr().out
    model, info = load_checkpoint(out / "last.ckpt")
    assert [c["id"] for c in info["classes"]] == [2, 4] and model.cfg.num_classes == 2
    assert info["train_config"]["classes"] == [2, 4]
    # the stored restriction applies again on resume (a mismatch would refuse: other classes)
    assert cli.main(["--data", str(synthetic_dir), "--out", str(out), "--resume", str(out / "last.ckpt"),
                     "--epochs", "2", "--threads", "1"]) == 0  # fmt: skip
    assert load_checkpoint(out / "last.ckpt")[1]["extra"]["epoch"] == 1


@pytest.mark.parametrize("value, message", [("99", "has no action class 99"), ("x", "class ids")])
def test_unknown_classes_fail_in_one_line(synthetic_dir, tmp_path, capsys, value, message):
    with pytest.raises(SystemExit) if value == "x" else _no_exit():
        rc = cli.main(["--data", str(synthetic_dir), "--supervision", "full", "--out", str(tmp_path / "o"),
                       "--epochs", "1", "--classes", value])  # fmt: skip
        assert rc == 2
    assert message in capsys.readouterr().err


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_calibrate_always_fits_thresholds_without_negatives(synthetic_dir, tmp_path):
    out = tmp_path / "cal"
    base = ["--data", str(synthetic_dir), "--supervision", "full", "--out", str(out), "--crop-frames", "64",
            "--threads", "1", "--widths", "8,8", "--dilations", "1,2", "--eval-split", "none"]  # fmt: skip
    assert cli.main([*base, "--epochs", "1"]) == 0
    _, info = load_checkpoint(out / "last.ckpt")
    assert "decision" not in info["extra"]  # auto: no negatives were held out, runtime defaults
    # resumed with nothing left to train: only the thresholds are fitted, on the training recordings
    assert cli.main(["--data", str(synthetic_dir), "--out", str(out), "--resume", str(out / "last.ckpt"),
                     "--epochs", "1", "--calibrate", "always", "--threads", "1"]) == 0  # fmt: skip
    _, info = load_checkpoint(out / "last.ckpt")
    decision = info["extra"]["decision"]
    assert len(decision["on"]) == 6 and decision["calibration"]["negative_hours"] == 0.0
