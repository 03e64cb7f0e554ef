"""Bundled models by name: `resolve_model` turns a --model value (path or name) into a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from skelact.stream import assets
from skelact.stream.assets import (
    bundled_model_files,
    bundled_models,
    default_model_path,
    resolve_model,
)


def test_default_is_bundled_first_with_both_graphs():
    names = bundled_models()
    assert names[0] == "default"
    assert set(bundled_model_files("default")) == {"step", "window", "ckpt"}


def test_none_and_name_give_the_graph_of_the_mode():
    for mode in ("step", "window"):
        assert resolve_model(None, mode) == default_model_path(mode)
        assert resolve_model("default", mode) == assets.MODELS_DIR / f"default_{mode}.onnx"
        assert resolve_model("default", mode).is_file()
    assert resolve_model("default") == default_model_path("step")  # step unless a command needs window
    with pytest.raises(ValueError, match="mode must be"):
        resolve_model("default", "batch")


def test_an_existing_file_is_itself_even_when_named_like_a_bundled_model(tmp_path, monkeypatch):
    f = tmp_path / "mine.onnx"
    f.write_bytes(b"x")
    assert resolve_model(str(f)) == f and resolve_model(f, "window") == f  # the file's own mode is the engine's
    monkeypatch.chdir(tmp_path)
    Path("default").write_bytes(b"x")
    assert resolve_model("default") == Path("default")


def test_unknown_is_one_line_naming_the_bundled_models(tmp_path):
    for spec in ("nosuch", str(tmp_path / "missing.onnx"), str(tmp_path), "../models/default"):
        with pytest.raises(ValueError) as e:
            resolve_model(spec)
        msg = str(e.value)
        assert "\n" not in msg and msg.startswith(f"`{spec}`: no such model file, and not a bundled model")
        assert msg.endswith("(bundled: " + ", ".join(bundled_models()) + ")")


def test_names_come_from_the_files_on_disk(tmp_path, monkeypatch):
    for f in ("gestures_step.onnx", "default_step.onnx", "default_window.onnx", "a_window.onnx", "notes.txt"):
        (tmp_path / f).write_bytes(b"x")
    monkeypatch.setattr(assets, "MODELS_DIR", tmp_path)
    assert bundled_models() == ["default", "a", "gestures"]
    assert resolve_model("gestures") == tmp_path / "gestures_step.onnx"
    with pytest.raises(ValueError, match="^bundled model `gestures` has no window graph \\(it has: step\\)$"):
        resolve_model("gestures", "window")
    assert "gestures" in assets.model_help()
