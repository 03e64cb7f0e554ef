"""Training configuration defaults that depend on the data."""

from __future__ import annotations

import pytest

from skelact.models.config import TrainConfig, model_config, train_config


def test_default_crop_holds_512_person_frames():
    cfg = TrainConfig()
    assert cfg.crop_frames == 0
    assert (cfg.crop_length(1), cfg.crop_length(2), cfg.crop_length(16)) == (512, 256, 64)
    assert TrainConfig(crop_frames=300).crop_length(2) == 300  # an explicit length wins
    assert train_config(paper=True).crop_length(2) == 100_000  # the paper: whole sequences
    with pytest.raises(ValueError, match="crop_frames"):
        TrainConfig(crop_frames=-1)


def test_default_causal_widths_are_the_bundled_models():
    cfg = model_config("causal")
    assert cfg.widths == (16, 16, 32, 32, 32, 32) and cfg.dilations == (1, 2, 4, 8, 16, 32)
