"""Readers for skeleton data files: the shared npz format and the original formats.

``load_dataset(path)`` recognises the format from the path and returns a ``Dataset``.
Every reader raises ``DataError`` naming the file (and line) on malformed input;
nothing is silently skipped.
"""

from __future__ import annotations

from pathlib import Path

from ..sequence import DataError, Dataset, Sequence
from .npz import is_npz_dataset, load_npz_dataset

__all__ = ["DataError", "load_dataset", "load_sequence"]


def load_dataset(path: str | Path) -> Dataset:
    """Load any supported dataset file or folder (see docs/data.md for the formats)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or directory")
    if is_npz_dataset(p):
        return load_npz_dataset(p)
    from .registry import sniff  # original formats

    loader = sniff(p)
    if loader is None:
        raise DataError(f"{p}: not a recognised skeleton data format (see `skelact data info --help`)")
    return loader(p)


def load_sequence(spec: str | Path) -> Sequence:
    """``FILE[:SEQ]`` -> one sequence; without ``:SEQ`` the file must hold exactly one,
    or the first (in file order) is taken for an npz dataset folder."""
    s = str(spec)
    path, seq = s, None
    if not Path(s).exists() and ":" in s:
        path, seq = s.rsplit(":", 1)
    ds = load_dataset(path)
    if seq is not None:
        return ds[seq]
    if len(ds) == 0:
        raise DataError(f"{path}: holds no sequences")
    return next(iter(ds))
