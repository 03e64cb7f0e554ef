"""PRECOG 2016 csv files (martial-arts moves, Kinect v1, one person, per-frame labels).

One file = one sequence (``SeqA_B.csv``: script A performed by subject B). Line 1 is
a header of the 20 Kinect v1 joint names separated by ``;``; each following line is
one frame: 20 fields ``"x y z"`` (metres, Kinect camera space) then the frame's class
id (0 = no action). The source states no frame rate: we use 30 fps nominal (the Kinect
v1 skeleton rate), so ``t = k / 30`` s. All-zero frames become NaN (no skeleton).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from ..labels import Labels
from ..layouts import get_layout
from ..sequence import DataError, Dataset, Sequence
from .text import data_lines, head_line, parse_rows, read_text

__all__ = ["PRECOG_CLASSES", "PRECOG_FPS", "is_precog_csv", "load_precog", "read_precog_csv"]

log = logging.getLogger(__name__)

PRECOG_FPS = 30.0
#: Class ids of the per-frame label column (SkeletonViewer/Utils.cs); 0 = background.
PRECOG_CLASSES: dict[int, str] = {
    0: "None (background)",
    1: "RightPunch",
    2: "LeftPunch",
    3: "FrontRightKick",
    4: "FrontLeftKick",
    5: "SideRightKick",
    6: "SideLeftKick",
    7: "BackFist",
    8: "ElbowStrike",
}
_TEST_SUBJECTS = {10, 11, 12}  # our split (no official one): subjects 10-12 test
_NAME = re.compile(r"^Seq(\d+)_(\d+)$")
_LAYOUT = get_layout("kinect_v1_20")


def is_precog_csv(path: Path) -> bool:
    """Whether ``path`` starts with the PRECOG joint-name header."""
    first = head_line(path)
    return bool(first) and ";" in first and "hipcenter" in first.lower().replace(" ", "")


def _column_order(header: str, path: Path) -> list[int]:
    names = [h.strip() for h in header.split(";")]
    if names and names[-1] == "":
        names.pop()
    if sorted(names) != sorted(_LAYOUT.joint_names):
        raise DataError(
            f"{path}:1: header must name the 20 Kinect v1 joints separated by ';', got {len(names)} "
            f"field(s) starting {names[:3]}"
        )
    return [names.index(n) for n in _LAYOUT.joint_names]


def read_precog_csv(path: str | Path) -> Sequence:
    """One PRECOG csv -> a ``Sequence`` (T, 1, 20, 3) float32 metres, frame labels, 30 fps."""
    p = Path(path)
    text = read_text(p, "PRECOG csv")
    rows = data_lines(text, p)
    if not rows:
        raise DataError(f"{p}: empty file")
    order = _column_order(rows[0][1], p)
    body = rows[1:]
    if not body:
        raise DataError(f"{p}:2: no frames after the header")
    for no, ln in body:
        if ln.count(";") != 20:
            raise DataError(f"{p}:{no}: expected 21 ';'-separated fields (20 joints + class), "
                            f"found {ln.count(';') + 1}")  # fmt: skip
    vals = parse_rows([(no, ln.replace(";", " ")) for no, ln in body], p, 61)
    cls = vals[:, 60]
    bad = np.flatnonzero((cls != np.rint(cls)) | ~np.isin(cls, list(PRECOG_CLASSES)))
    if bad.size:
        no = body[bad[0]][0]
        raise DataError(f"{p}:{no}: class must be an integer id 0..8, got {cls[bad[0]]:g}")
    joints = vals[:, :60].reshape(-1, 20, 3)[:, order].astype(np.float32)
    if np.isnan(joints).any():
        no = body[int(np.flatnonzero(np.isnan(joints).any(axis=(1, 2)))[0])][0]
        raise DataError(f"{p}:{no}: NaN coordinate (PRECOG files hold no missing values)")
    joints[(joints == 0).all(axis=(1, 2))] = np.nan
    joints = joints[:, None]
    T = len(joints)
    return Sequence(
        id=p.stem,
        joints=joints,
        layout=_LAYOUT.name,
        fps=PRECOG_FPS,
        t=np.arange(T, dtype=np.float64) / PRECOG_FPS,
        labels=Labels.from_frames(cls.astype(np.int64), background=0),
        meta={"source": str(p), "fps_note": "not stated by the source; 30 Hz Kinect v1 rate assumed"},
    )


def _split_of(seq_id: str) -> str | None:
    m = _NAME.match(seq_id)
    if not m:
        return None
    return "test" if int(m.group(2)) in _TEST_SUBJECTS else "train"


def load_precog(path: str | Path) -> Dataset:
    """A PRECOG csv file or a folder of them -> ``Dataset`` (frame labels, background 0).

    In a folder, a sequence whose every frame is all-zero (no skeleton; Seq2_10 and
    Seq4_10 in the source) is left out with a warning and listed in
    ``meta['excluded']``; a single such file is a ``DataError``. Splits: subjects
    10-12 test, the rest train (the shared dataset's choice; no official split).
    """
    p = Path(path)
    files = sorted(f for f in p.glob("*.csv") if is_precog_csv(f)) if p.is_dir() else [p]
    if not files:
        raise DataError(f"{p}: no PRECOG csv files")
    seqs: dict[str, Sequence] = {}
    excluded: list[dict] = []
    for f in files:
        s = read_precog_csv(f)
        if not np.isfinite(s.joints).any():
            if not p.is_dir():
                raise DataError(f"{f}: every frame is all-zero (no skeleton data)")
            log.warning("%s: every frame is all-zero (no skeleton data); sequence left out", f)
            excluded.append({"sequence": s.id, "frames": s.num_frames, "reason": "all frames zero"})
            continue
        if s.id in seqs:
            raise DataError(f"{f}: duplicate sequence id {s.id!r}")
        seqs[s.id] = s
    splits: dict[str, list[str]] = {}
    for sid in seqs:
        sp = _split_of(sid)
        if sp:
            splits.setdefault(sp, []).append(sid)
    return Dataset(
        name="precog",
        sequences=seqs,
        classes=dict(PRECOG_CLASSES),
        background_id=0,
        label_kind="frame",
        splits=splits,
        meta={"path": str(p), "format": "precog", "fps": PRECOG_FPS, "excluded": excluded,
              "fps_note": "not stated by the source; 30 Hz (Kinect v1 skeleton rate) assumed"},
    )  # fmt: skip
