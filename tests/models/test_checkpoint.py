"""Checkpoints: self-contained, weights_only-loadable, and resume continues a run exactly."""

from __future__ import annotations

import pytest
import torch
from model_helpers import tiny_model

from skelact.models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from skelact.models.config import TrainConfig, model_config
from skelact.models.train import train
from skelact.stream.normalize import NormConfig
from skelact.stream.synthetic import make_dataset

CLASSES = [{"id": 3, "name": "a"}, {"id": 5, "name": "b"}, {"id": 9, "name": "c"}]


@pytest.mark.parametrize("arch,persons", [("causal", 1), ("agcn", 2)])
def test_roundtrip(tmp_path, arch, persons):
    model = tiny_model(arch, persons=persons)
    path = save_checkpoint(tmp_path / "m.ckpt", model, model.cfg, TrainConfig(), CLASSES,
                           NormConfig(persons=persons), 30.0, "kinect_v1_20", extra={"epoch": 4})  # fmt: skip
    raw = torch.load(path, weights_only=True)  # plain containers only
    assert raw["model_args"]["widths"] == list(model.cfg.widths)
    loaded, info = load_checkpoint(path)
    assert not loaded.training
    x = torch.randn(2, 40, persons, 20, 6)
    with torch.no_grad():
        assert torch.equal(loaded.infer(x), model.infer(x))
    assert info["arch"] == arch and info["classes"] == CLASSES and info["background_index"] == 3
    assert NormConfig.from_dict(info["norm"]).persons == persons
    assert (
        info["fps"] == 30.0 and info["layout"] == "kinect_v1_20" and info["extra"] == {"epoch": 4}
    )
    assert info["receptive_field"] == model.receptive_field and info["lookahead"] == model.lookahead
    assert hasattr(loaded, "step") == (arch == "causal")


def test_rejects_other_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.ckpt")
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a skelact checkpoint"):
        read_checkpoint(tmp_path / "other.pt")


def test_resume_continues_exactly(tmp_path):
    ds = make_dataset(num_sequences=4, num_frames=150, seed=3).split("train")
    mcfg = model_config("causal", widths=(8, 16), dilations=(1, 2))
    cfg = TrainConfig(supervision="video", method="flr", epochs=3, batch_size=2, crop_frames=100,
                      flr_start=1, flr_window=1, threads=1)  # fmt: skip
    straight = train(ds, cfg, mcfg, out_dir=tmp_path / "a")
    first = train(
        ds, TrainConfig.from_dict({**cfg.to_dict(), "epochs": 2}), mcfg, out_dir=tmp_path / "b"
    )
    assert len(first.history) == 2
    resumed = train(ds, cfg, mcfg, out_dir=tmp_path / "b", resume=tmp_path / "b" / "last.ckpt")
    assert len(resumed.history) == 3
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.history[-1]["loss"] == straight.history[-1]["loss"]
