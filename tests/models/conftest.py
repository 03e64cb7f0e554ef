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


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors gain nothing from two threads, and on a busy 2-core machine two spinning
    OpenMP threads per process slow these tests tenfold; restore the setting afterwards
    (``train()`` sets the thread count from its config)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
