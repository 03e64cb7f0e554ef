"""Train tiny causal models for a few epochs on a small real PRECOG subset: the loss falls."""

from __future__ import annotations

from pathlib import Path

import pytest

from skelact.models.config import TrainConfig, model_config
from skelact.models.train import train
from skelact.stream.formats import load_dataset
from skelact.stream.sequence import Dataset


def _precog_path() -> Path:
    """The bundled PRECOG copy when present, else ../shared/data/precog, else skip."""
    try:
        from skelact.stream.assets import precog_path

        p = Path(precog_path())
        if (p / "sequences.npz").is_file():
            return p
    except ImportError:
        pass
    p = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "precog"
    if (p / "sequences.npz").is_file():
        return p
    pytest.skip(
        "needs PRECOG: neither skelact.stream.assets.precog_path() nor ../shared/data/precog exists"
    )


@pytest.fixture(scope="module")
def precog_subset() -> Dataset:
    ds = load_dataset(_precog_path())
    keep = [s for s in ds.splits.get("train", list(ds.sequences))][:8]
    return Dataset(f"{ds.name}:smoke", {k: ds[k] for k in keep}, ds.classes, ds.background_id,
                   ds.label_kind, {"train": keep}, ds.meta)  # fmt: skip


TINY = model_config("causal", widths=(16, 16, 32), dilations=(1, 2, 4))


def test_full_supervision_loss_falls(precog_subset, tmp_path):
    cfg = TrainConfig(
        supervision="full", epochs=6, batch_size=4, lr=3e-3, crop_frames=160, fps=15.0, threads=1
    )
    res = train(precog_subset, cfg, TINY, out_dir=tmp_path)
    ce = [row["ce"] for row in res.history]
    assert len(ce) == 6
    assert min(ce[-2:]) < 0.8 * ce[0], ce
    assert (tmp_path / "last.ckpt").is_file()
    assert res.model_cfg.heads == 1 and res.model_cfg.num_classes == 8


def test_flr_loss_falls_and_uses_pseudo_labels(precog_subset, tmp_path):
    cfg = TrainConfig(supervision="video", method="flr", epochs=6, batch_size=4, lr=3e-3, crop_frames=160,
                      fps=15.0, flr_start=2, flr_window=2, threads=1)  # fmt: skip
    res = train(precog_subset, cfg, TINY, out_dir=tmp_path)
    bce = [row["bce"] for row in res.history]
    assert min(bce[-2:]) < 0.9 * bce[0], bce
    assert all(row["pseudo"] == 0.0 for row in res.history[:2])
    assert all(row["pseudo"] > 0.0 for row in res.history[2:])
    assert res.model_cfg.heads == 2


@pytest.mark.parametrize("method", ["point", "lacp"])
def test_point_supervision_trains_and_exports_a_step_graph(precog_subset, tmp_path, method):
    """One labelled frame per instance (drawn from the intervals): the point loss falls, LACP's
    completeness terms switch on after the warm-up, and the causal result exports to step."""
    from skelact.export.onnx_export import export_checkpoint

    cfg = TrainConfig(supervision="point", method=method, epochs=4, batch_size=4, lr=3e-3, crop_frames=160,
                      fps=15.0, threads=1, point_at="gaussian")  # fmt: skip
    res = train(precog_subset, cfg, TINY, out_dir=tmp_path)
    pts = [row["point"] for row in res.history]
    assert min(pts[-2:]) < pts[0], pts
    if method == "lacp":
        assert res.history[0]["score"] == 0.0 and res.history[-1]["score"] > 0.0
    else:
        assert all(row["score"] == 0.0 and row["feat"] == 0.0 for row in res.history)
    export_checkpoint(tmp_path / "last.ckpt", tmp_path / "m.onnx", mode="step")
    assert (tmp_path / "m.onnx").is_file()


def test_point_targets_one_per_instance_and_deterministic(precog_subset):
    from skelact.models.data import class_list, prepare_clips
    from skelact.stream.normalize import NormConfig

    ids = [c["id"] for c in class_list(precog_subset)]
    a = prepare_clips(precog_subset, NormConfig(), 15.0, ids, point_at="gaussian", seed=3)
    b = prepare_clips(precog_subset, NormConfig(), 15.0, ids, point_at="gaussian", seed=3)
    c = prepare_clips(precog_subset, NormConfig(), 15.0, ids, point_at="center", seed=3)
    for x, y, z, seq in zip(a, b, c, precog_subset):
        assert (x.points == y.points).all()
        n_inst = sum(1 for iv in seq.labels.intervals if iv.class_id in ids)
        assert (x.points >= 0).sum() == n_inst == (z.points >= 0).sum()
        assert x.frame_target is None  # point supervision never sees the extents


def test_point_loss_on_a_batch_of_negatives_only():
    """Negatives carry no points: a batch made only of them must still give a finite loss."""
    import numpy as np
    import torch

    from skelact.models.config import TrainConfig
    from skelact.models.data import Clip, ClipDataset, collate
    from skelact.models.network import build_model
    from skelact.models.train import _batch_loss

    k = 3
    video = np.zeros(k + 1, np.float32)
    video[k] = 1.0
    clip = Clip("neg", np.random.default_rng(0).normal(size=(40, 1, 20, 6)).astype(np.float32), video,
                np.full(40, k, np.int64))  # fmt: skip
    batch = collate([ClipDataset([clip], 64)[0]])
    assert "points" not in batch
    from dataclasses import replace

    model = build_model(replace(TINY, num_classes=k, heads=1))
    loss, parts = _batch_loss(model, batch, TrainConfig(supervision="point", method="lacp"), epoch=3, bank=None)
    assert torch.isfinite(loss) and parts["point"] == 0.0


def test_segment_supervision_trains_and_exports_a_step_graph(precog_subset, tmp_path):
    """Segment labels drawn inside the intervals: the losses fall, segments.csv records the
    labels, and the causal result (two heads) exports to a step graph."""
    from skelact.export.onnx_export import export_checkpoint
    from skelact.models.segment import read_segments_csv

    cfg = TrainConfig(supervision="segment", method="segment", epochs=3, batch_size=4, lr=3e-3, crop_frames=160,
                      fps=15.0, threads=1)  # fmt: skip
    res = train(precog_subset, cfg, TINY, out_dir=tmp_path)
    assert res.model_cfg.heads == 2
    loss = [row["loss"] for row in res.history]
    assert loss[-1] < loss[0], loss
    assert all(row["psl"] > 0 and row["sphere"] > 0 and row["prop"] > 0 for row in res.history)
    segs = read_segments_csv(tmp_path / "segments.csv")
    assert set(segs) == {s.id for s in precog_subset}
    for seq in precog_subset:  # inside an instance of the same class
        for c, s, e in segs[seq.id]:
            assert any(iv.class_id == c and iv.start <= s <= e <= iv.end for iv in seq.labels.intervals)
    export_checkpoint(tmp_path / "last.ckpt", tmp_path / "m.onnx", mode="step")
    assert (tmp_path / "m.onnx").is_file()
    # the same run from the written file, with the propagation loss switched off
    cfg2 = TrainConfig(supervision="segment", method="segment", epochs=1, batch_size=4, crop_frames=160, fps=15.0,
                       threads=1, segments_file=str(tmp_path / "segments.csv"), ablate=("propagation",))  # fmt: skip
    res2 = train(precog_subset, cfg2, TINY, out_dir=tmp_path / "b")
    assert res2.history[0]["prop"] == 0.0
    assert read_segments_csv(tmp_path / "b" / "segments.csv") == segs


def test_segment_targets_deterministic_and_inside_instances(precog_subset):
    from skelact.models.data import class_list, prepare_clips
    from skelact.stream.normalize import NormConfig

    ids = [c["id"] for c in class_list(precog_subset)]
    kw = dict(segment_len=8, segments_per_instance=1)
    a = prepare_clips(precog_subset, NormConfig(), 15.0, ids, seed=3, **kw)
    b = prepare_clips(precog_subset, NormConfig(), 15.0, ids, seed=3, **kw)
    c = prepare_clips(precog_subset, NormConfig(), 15.0, ids, seed=4, **kw)
    assert all((x.segments == y.segments).all() for x, y in zip(a, b))
    assert any((x.segments != z.segments).any() for x, z in zip(a, c))
    full = prepare_clips(precog_subset, NormConfig(), 15.0, ids, frame_labels=True)
    for x, f in zip(a, full):
        lab = x.segments >= 0
        assert (x.segments[lab] == f.frame_target[lab]).all()  # every labelled frame is in its instance
        assert x.frame_target is None
        n_inst = sum(1 for iv in precog_subset[x.id].labels.intervals if iv.class_id in ids)
        assert len(x.segment_list) == n_inst


def test_multires_trains_a_causal_student_and_resumes(precog_subset, tmp_path, monkeypatch):
    """Teachers make pseudo labels (ILG + one PTLR round), the causal student trains on them
    and exports to step; a resumed run reuses the stored labels instead of the teachers."""
    from skelact.export.onnx_export import export_checkpoint
    from skelact.models import multires

    cfg = TrainConfig(supervision="video", method="multires", epochs=2, batch_size=4, lr=3e-3, crop_frames=160,
                      fps=15.0, threads=1, teacher_epochs=2, ptlr_rounds=1)  # fmt: skip
    res = train(precog_subset, cfg, TINY, out_dir=tmp_path)
    assert res.model_cfg.heads == 1 and res.model.lookahead == 0
    assert all("pseudo_ce" in row for row in res.history)
    export_checkpoint(tmp_path / "last.ckpt", tmp_path / "m.onnx", mode="step")
    assert (tmp_path / "m.onnx").is_file()

    def no_teachers(*a, **k):
        raise AssertionError("a resumed multires run must not retrain its teachers")

    monkeypatch.setattr(multires, "multires_pseudo_labels", no_teachers)
    more = TrainConfig.from_dict({**cfg.to_dict(), "epochs": 3})
    res2 = train(precog_subset, more, TINY, out_dir=tmp_path, resume=tmp_path / "last.ckpt")
    assert [row["epoch"] for row in res2.history] == [0, 1, 2]
