"""Data shipped inside the package: the PRECOG dataset (MIT) and the default model."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def precog_path() -> Path:
    """Folder of the bundled PRECOG dataset (npz folder format)."""
    return _HERE / "precog"


def default_model_path(mode: str = "step") -> Path:
    """The bundled default model's ONNX file for ``mode`` ('step' or 'window')."""
    if mode not in ("step", "window"):
        raise ValueError(f"mode must be 'step' or 'window', got {mode!r}")
    return _HERE / "models" / f"default_{mode}.onnx"
