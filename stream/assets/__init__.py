"""Data shipped inside the package: the PRECOG dataset (MIT) and the bundled models.

A bundled model ``<name>`` is ``models/<name>_step.onnx`` and/or ``models/<name>_window.onnx``
(plus the checkpoint ``models/<name>.ckpt`` they were exported from). Every ``--model`` flag
takes a file path or one of these names; :func:`resolve_model` turns either into a file.
Torch-free and import-light: only the file system is looked at.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
MODELS_DIR = _HERE / "models"
MODES = ("step", "window")
DEFAULT_MODEL = "default"


def precog_path() -> Path:
    """Folder of the bundled PRECOG dataset (npz folder format)."""
    return _HERE / "precog"


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be 'step' or 'window', got {mode!r}")


def default_model_path(mode: str = "step") -> Path:
    """The bundled default model's ONNX file for ``mode`` ('step' or 'window')."""
    _check_mode(mode)
    return MODELS_DIR / f"{DEFAULT_MODEL}_{mode}.onnx"


def bundled_models() -> list[str]:
    """Names of the bundled models found on disk (any ``<name>_{step,window}.onnx``), ``default`` first."""
    names = {p.name[: -len(f"_{m}.onnx")] for m in MODES for p in MODELS_DIR.glob(f"*_{m}.onnx") if p.is_file()}
    names.discard("")
    return sorted(names, key=lambda n: (n != DEFAULT_MODEL, n))


def bundled_model_files(name: str) -> dict[str, Path]:
    """The files of bundled model ``name`` that exist: keys among 'step', 'window', 'ckpt'."""
    files = {m: MODELS_DIR / f"{name}_{m}.onnx" for m in MODES}
    files["ckpt"] = MODELS_DIR / f"{name}.ckpt"
    return {k: p for k, p in files.items() if p.is_file()}


def model_help(what: str = "ONNX file") -> str:
    """Help text shared by every ``--model`` flag: what it takes, bundled names included."""
    return f"{what} or bundled name: {', '.join(bundled_models()) or '(none)'}"


def resolve_model(spec: str | Path | None, mode: str = "step") -> Path:
    """The ONNX file that ``spec`` means, for a command that needs a ``mode`` graph.

    ``None`` is the default model's ``mode`` graph; an existing file is itself (a path wins
    over a name); a bundled name is ``models/<name>_<mode>.onnx``. Anything else raises a
    one-line ValueError naming the bundled models. A file's own mode is not checked here:
    the engine reads it from the metadata.
    """
    _check_mode(mode)
    if spec is None:
        return default_model_path(mode)
    text = str(spec)
    if Path(text).expanduser().is_file():
        return Path(text).expanduser()
    names = bundled_models()
    if text in names:
        path = MODELS_DIR / f"{text}_{mode}.onnx"
        if not path.is_file():
            have = ", ".join(m for m in MODES if (MODELS_DIR / f"{text}_{m}.onnx").is_file())
            raise ValueError(f"bundled model `{text}` has no {mode} graph (it has: {have})")
        return path
    raise ValueError(f"`{text}`: no such model file, and not a bundled model (bundled: {', '.join(names) or 'none'})")
