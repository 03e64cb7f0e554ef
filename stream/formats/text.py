"""Small text-parsing helpers shared by the text-format readers.

They make every reader report errors the same way: ``DataError("<file>:<line>: <what is
wrong>")``, lines 1-based, and never skip a malformed row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..sequence import DataError

__all__ = ["data_lines", "head_line", "parse_rows", "read_text"]

_HEAD_BYTES = 65536


def read_text(path: Path, what: str = "text") -> str:
    """The whole file as text; DataError (with the line) when it is not UTF-8."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            f"not a valid {what} file"
        ) from None


def head_line(path: Path) -> str | None:
    """The first non-empty line of a file (at most 64 KiB read), or None if unreadable."""
    try:
        with Path(path).open("rb") as f:
            data = f.read(_HEAD_BYTES)
    except OSError:
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for raw in data.split(b"\n"):
        s = raw.decode("utf-8", errors="replace").strip()
        if s:
            return s
    return None


def data_lines(text: str, path: Path, skip: int = 0) -> list[tuple[int, str]]:
    """``(line_number, stripped_line)`` pairs after the first ``skip`` lines.

    Trailing empty lines are allowed (files often end with a newline or two); an empty
    line followed by more data is an error, since it usually means a lost row.
    """
    lines = text.split("\n")
    out = [(i + 1, ln.strip()) for i, ln in enumerate(lines) if i >= skip]
    while out and not out[-1][1]:
        out.pop()
    for no, ln in out:
        if not ln:
            raise DataError(f"{path}:{no}: empty line inside the data")
    return out


def parse_rows(
    rows: list[tuple[int, str]], path: Path, ncols: int, sep: str | None = None
) -> np.ndarray:
    """Numeric rows -> ``(len(rows), ncols)`` float64.

    Every row must hold exactly ``ncols`` values separated by ``sep`` (whitespace when
    None). ``nan`` is accepted (the datasets use it for "missing"); infinities are not.
    """
    tokens: list[str] = []
    for no, ln in rows:
        parts = ln.split(sep)
        if len(parts) != ncols:
            raise DataError(f"{path}:{no}: expected {ncols} values, found {len(parts)}")
        tokens.extend(parts)
    try:
        arr = np.array(tokens, dtype=np.float64)
    except ValueError:
        arr = None
    if arr is None or np.isinf(arr).any():
        for no, ln in rows:
            for tok in ln.split(sep):
                try:
                    v = float(tok)
                except ValueError:
                    raise DataError(f"{path}:{no}: not a number: {tok.strip()[:40]!r}") from None
                if np.isinf(v):
                    raise DataError(f"{path}:{no}: infinite value {tok.strip()!r}")
        raise DataError(f"{path}: unparseable numbers")  # pragma: no cover - defensive
    return arr.reshape(len(rows), ncols)
