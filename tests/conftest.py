"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

_SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``<repo>/../shared/data`` (the research datasets); skips the test when absent."""
    path = _SHARED_DATA.resolve()
    if not path.is_dir():
        pytest.skip(f"needs the shared research datasets at {path} (not present in this checkout)")
    return path
