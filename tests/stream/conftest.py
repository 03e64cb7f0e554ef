"""Fixtures for runtime tests: tiny ONNX models and a live runtime on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from onnx_fixtures import hand_raiser  # noqa: E402


@pytest.fixture(scope="session")
def step_model(tmp_path_factory) -> Path:
    return hand_raiser(tmp_path_factory.mktemp("models") / "hr_step.onnx", "step")


@pytest.fixture(scope="session")
def window_model(tmp_path_factory) -> Path:
    return hand_raiser(tmp_path_factory.mktemp("models") / "hr_window.onnx", "window", lookahead=3)


