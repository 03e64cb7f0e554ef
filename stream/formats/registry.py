"""Format sniffing for the original (non-npz) dataset formats."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..sequence import Dataset

Loader = Callable[[Path], Dataset]


def sniff(path: Path) -> Loader | None:
    """Return the loader for ``path``, or None when no reader recognises it."""
    return None
