"""Recognise the original dataset formats from a path.

``sniff(path)`` looks at a file's name, extension and first line (or at a folder's
files) and returns the loader that reads it into a ``Dataset``; ``sniff_format`` returns
the format's name. The text-parsing helpers the readers share live in ``text.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from ..sequence import Dataset
from .text import head_line

__all__ = [
    "FORMATS",
    "Loader",
    "sniff",
    "sniff_format",
]

Loader = Callable[[Path], Dataset]

#: Format name -> one-line description (what `skelact data info --help` lists).
FORMATS: dict[str, str] = {
    "npz": "shared npz dataset folder (sequences.npz + labels.csv + classes.json ...)",
    "precog": "PRECOG csv: `x y z;...;class` rows under a joint-name header (file or folder)",
    "pkummd": "PKU-MMD skeleton txt (150 values/row) + label txt `class,start,end,confidence`",
    "ntu": "NTU RGB+D `.skeleton` text files (file or folder)",
    "msrc12": "MSRC-12 csv (time + 20 x (x y z w)) + `.tagstream` action points",
    "utkinect": "UTKinect-Action3D `joints_sXX_eYY.txt` + `actionLabel.txt`",
    "mediapipe": "MediaPipe `.pose.npz` files (world landmarks, visibility, t)",
}

_UTK_NAME = re.compile(r"^joints_s\d+_e\d+\.txt$", re.IGNORECASE)


# --- sniffing -----------------------------------------------------------------------------


def _n_fields(line: str | None) -> int:
    if not line:
        return 0
    parts = line.split()
    try:
        [float(p) for p in parts[:3]]
    except ValueError:
        return 0
    return len(parts)


def _file_format(p: Path) -> str | None:
    name = p.name.lower()
    if name.endswith(".skeleton"):
        return "ntu"
    if name.endswith(".tagstream"):
        return "msrc12"
    if name.endswith(".npz"):
        from .mediapipe_npz import is_mediapipe_npz

        return "mediapipe" if name.endswith(".pose.npz") or is_mediapipe_npz(p) else None
    if name.endswith(".csv"):
        if p.with_suffix(".tagstream").is_file():
            return "msrc12"
        first = head_line(p)
        if first is None:
            return None
        if ";" in first and "hipcenter" in first.lower().replace(" ", ""):
            return "precog"
        return "msrc12" if _n_fields(first) == 81 else None
    if name.endswith(".txt"):
        if _UTK_NAME.match(p.name):
            return "utkinect"
        n = _n_fields(head_line(p))
        if n == 150:
            return "pkummd"
        if n == 61:
            return "utkinect"
    return None


def _folder_format(p: Path) -> str | None:
    try:
        files = sorted(f for f in p.iterdir() if f.is_file())
        subdirs = sorted(f for f in p.iterdir() if f.is_dir())
    except OSError:
        return None
    names = [f.name.lower() for f in files]
    if any(n.endswith(".skeleton") for n in names):
        return "ntu"
    if any(n.endswith(".pose.npz") for n in names):
        return "mediapipe"
    if any(n.endswith(".tagstream") for n in names):
        return "msrc12"
    if any(_UTK_NAME.match(f.name) for f in files):
        return "utkinect"
    if any(d.name == "PKU_Skeleton_Renew" for d in subdirs):
        return "pkummd"
    for f in files:  # first recognisable file decides
        fmt = _file_format(f)
        if fmt is not None:
            return fmt
    return None


def sniff_format(path: Path) -> str | None:
    """Name of the original format at ``path`` (a key of ``FORMATS``), or None."""
    p = Path(path)
    if p.is_dir():
        if (p / "sequences.npz").is_file():
            return "npz"
        return _folder_format(p)
    if p.is_file():
        return _file_format(p)
    return None


def _loader(fmt: str) -> Loader:
    if fmt == "precog":
        from .precog_csv import load_precog

        return load_precog
    if fmt == "pkummd":
        from .pkummd_txt import load_pkummd

        return load_pkummd
    if fmt == "ntu":
        from .ntu_skeleton import load_ntu

        return load_ntu
    if fmt == "msrc12":
        from .msrc12_csv import load_msrc12

        return load_msrc12
    if fmt == "utkinect":
        from .utkinect_txt import load_utkinect

        return load_utkinect
    if fmt == "mediapipe":
        from .mediapipe_npz import load_mediapipe

        return load_mediapipe
    if fmt == "npz":
        from .npz import load_npz_dataset

        return load_npz_dataset
    raise KeyError(fmt)


def sniff(path: Path) -> Loader | None:
    """Return the loader for ``path`` (file or folder), or None when no reader recognises it."""
    fmt = sniff_format(Path(path))
    return None if fmt is None else _loader(fmt)
