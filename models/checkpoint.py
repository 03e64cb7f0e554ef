"""Checkpoints: one ``torch.save`` file holding everything needed to rebuild the model.

Contents (plain dicts, lists, str, int, float and tensors only, so ``torch.load`` runs
with ``weights_only=True`` and no skelact class is ever unpickled):

==================  ===============================================================
``format``           "skelact-checkpoint"; ``version`` (int)
``arch``             "causal" | "agcn"
``model_args``       ``ModelConfig.to_dict()`` (constructor arguments)
``state_dict``       weights and BN statistics
``train_config``     ``TrainConfig.to_dict()``
``classes``          [{"id", "name"}] in output order; ``background_index`` = K
``norm``             ``NormConfig.to_dict()``; ``fps`` model frame rate
``layout``           the source layout trained on (e.g. "kinect_v1_20"); models run on
                     canonical joints, this is provenance
``receptive_field``  frames; ``lookahead`` frames of future context (0 = causal)
``name``/``dataset`` descriptive strings; ``extra`` free-form plain dict (epoch,
                     history, held-out metrics; ``resume`` holds optimizer and FLR
                     state in ``last.ckpt`` only)
==================  ===============================================================
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..stream.normalize import NormConfig
from .config import ModelConfig, TrainConfig
from .network import ActionNet, build_model

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "skelact-checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | Path, model: ActionNet, model_cfg: ModelConfig, train_cfg: TrainConfig,
                    classes: list[dict], norm: NormConfig, fps: float, layout_trained_on: str,
                    extra: dict | None = None, name: str | None = None,
                    dataset: str | None = None) -> Path:  # fmt: skip
    """Write a checkpoint atomically (temp file + rename, so a crash never leaves half a file)."""
    path = Path(path)
    if len(classes) != model_cfg.num_classes:
        raise ValueError(f"{len(classes)} classes for a model with {model_cfg.num_classes} outputs")
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "arch": model_cfg.arch,
        "model_args": model_cfg.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "train_config": train_cfg.to_dict(),
        "classes": [{"id": int(c["id"]), "name": str(c["name"])} for c in classes],
        "background_index": model_cfg.num_classes,
        "norm": norm.to_dict(),
        "fps": float(fps),
        "layout": str(layout_trained_on),
        "receptive_field": int(model.receptive_field),
        "lookahead": int(model.lookahead),
        "name": str(name or path.parent.name or path.stem),
        "dataset": str(dataset or ""),
        "extra": dict(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)
    return path


def read_checkpoint(path: str | Path) -> dict:
    """The raw checkpoint dict (validated format), loaded on CPU with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a skelact checkpoint")
    if int(ckpt.get("version", 0)) > CHECKPOINT_VERSION:
        raise ValueError(
            f"{path}: checkpoint version {ckpt['version']} is newer than this skelact reads"
        )
    return ckpt


def load_checkpoint(path: str | Path) -> tuple[ActionNet, dict]:
    """Rebuild the model (eval mode, CPU) and return it with the checkpoint's info dict
    (everything but the weights and the resume state)."""
    ckpt = read_checkpoint(path)
    cfg = ModelConfig.from_dict(ckpt["model_args"])
    model = build_model(cfg)
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    info = {k: v for k, v in ckpt.items() if k != "state_dict"}
    info["extra"] = {k: v for k, v in ckpt.get("extra", {}).items() if k != "resume"}
    return model, info
