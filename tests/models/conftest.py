"""Fixtures for the model tests (helpers live in model_helpers.py, importable from here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from model_helpers import tiny_model  # noqa: E402


@pytest.fixture
def causal_model():
    return tiny_model("causal")
