"""MSRC-12 Kinect gesture files (Kinect v1, one person, point labels).

* ``P2_2_2_p05.csv``: one skeleton frame per line, 81 space-separated numbers: the
  capture time in microseconds, then 20 joints x (x, y, z, w) in metres (Kinect camera
  space; w is 1 for a tracked skeleton and is dropped). Frame spacing is irregular
  (30 Hz nominal), so ``t`` comes from the time column: seconds since the first kept
  frame. Leading all-zero frames (no skeleton yet) are trimmed, as the official
  ``load_file.m`` does (the count is ``meta['lead_trimmed']``); later all-zero frames
  become NaN.
* ``P2_2_2_p05.tagstream``: header ``XQPCTick;Tag``, then one action point per line,
  ``tick;G<k> <name>``. The tick converts to microseconds as
  ``(tick * 1000 + 49875 / 2) / 49875`` (``load_tagstream.m``); the point's frame is the
  frame with the nearest timestamp. A point more than 100 ms from every frame (it lies
  before the first skeleton frame) is dropped with a warning and listed in
  ``meta['dropped_points']``. The class is ``k`` (1..12).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from ..labels import Labels, Point
from ..sequence import DataError, Dataset, Sequence
from .text import data_lines, parse_rows, read_text

__all__ = [
    "MSRC12_CLASSES",
    "MSRC12_FPS",
    "MAX_POINT_ERROR_S",
    "find_tagstream",
    "load_msrc12",
    "read_msrc12",
    "read_msrc12_csv",
    "read_tagstream",
    "tick_to_us",
]

log = logging.getLogger(__name__)

MSRC12_FPS = 30.0
MAX_POINT_ERROR_S = 0.100
#: The 12 gestures (tag ``G<k>``); names from the dataset's PDF.
MSRC12_CLASSES: dict[int, str] = {
    1: "Start system / Start Music-Raise Volume (lift outstretched arms)",
    2: "Duck (crouch or hide)",
    3: "Push right (navigate to next menu)",
    4: "Goggles (put on night vision goggles)",
    5: "Wind it up (wind up the music)",
    6: "Shoot (shoot a pistol)",
    7: "Bow (take a bow to end music session)",
    8: "Throw (throw an object)",
    9: "Had enough (protest the music)",
    10: "Change weapon",
    11: "Beat both (move up the tempo of the song)",
    12: "Kick",
}
# Our split (no official one): one test subject per instruction group, as in the shared copy.
_TEST_SUBJECTS = {"p14", "p17", "p18", "p20", "p21", "p25"}
_TAG = re.compile(r"^G(\d+)\b")
_SUBJECT = re.compile(r"_(p\d+)$", re.IGNORECASE)


def tick_to_us(tick: np.ndarray | float) -> np.ndarray:
    """Tagstream ticks -> microseconds on the csv's clock (``load_tagstream.m``)."""
    return np.floor((np.asarray(tick, dtype=np.float64) * 1000 + 49875 / 2) / 49875)


def read_msrc12_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray, int]:
    """csv -> (time_us (T,) float64, joints (T, 1, 20, 3) float32, lead_trimmed)."""
    p = Path(path)
    rows = data_lines(read_text(p, "MSRC-12 csv"), p)
    if not rows:
        raise DataError(f"{p}: empty file (no frames)")
    vals = parse_rows(rows, p, 81)
    if np.isnan(vals).any():
        no = rows[int(np.flatnonzero(np.isnan(vals).any(axis=1))[0])][0]
        raise DataError(f"{p}:{no}: NaN value (MSRC-12 writes missing skeletons as zeros)")
    us = vals[:, 0]
    back = np.flatnonzero(np.diff(us) < 0)
    if back.size:
        raise DataError(f"{p}:{rows[back[0] + 1][0]}: time goes backwards "
                        f"({us[back[0]]:.0f} -> {us[back[0] + 1]:.0f} us)")  # fmt: skip
    joints = vals[:, 1:].reshape(-1, 20, 4)[..., :3].astype(np.float32)
    zero = (joints == 0).all(axis=(1, 2))
    lead = int(np.argmin(zero)) if not zero.all() else len(zero)
    joints[zero] = np.nan
    return us[lead:], joints[lead:, None], lead


def read_tagstream(path: str | Path) -> list[tuple[int, float, int]]:
    """tagstream -> [(class_id, time_us, line_number)] in file order."""
    p = Path(path)
    rows = data_lines(read_text(p, "MSRC-12 tagstream"), p)
    if not rows or rows[0][1].replace(" ", "").lower() != "xqpctick;tag":
        raise DataError(f"{p}:1: expected the header 'XQPCTick;Tag'")
    out = []
    for no, ln in rows[1:]:
        parts = ln.split(";")
        if len(parts) != 2:
            raise DataError(f"{p}:{no}: expected 'tick;tag', found {len(parts)} ';'-separated fields")
        try:
            tick = int(parts[0].strip())
        except ValueError:
            raise DataError(f"{p}:{no}: tick must be an integer, got {parts[0].strip()[:30]!r}") from None
        m = _TAG.match(parts[1].strip())
        if not m or int(m.group(1)) not in MSRC12_CLASSES:
            raise DataError(f"{p}:{no}: tag must start with G1..G12, got {parts[1].strip()[:40]!r}")
        out.append((int(m.group(1)), float(tick_to_us(tick)), no))
    return out


def find_tagstream(csv_path: Path) -> Path | None:
    """The ``.tagstream`` beside a csv (same stem; case-insensitive, as one source file
    is ``p2_1_2A_p12.tagstream`` for ``P2_1_2A_p12.csv``)."""
    exact = csv_path.with_suffix(".tagstream")
    if exact.is_file():
        return exact
    want = csv_path.stem.lower() + ".tagstream"
    for f in csv_path.parent.glob("*.tagstream"):
        if f.name.lower() == want:
            return f
    return None


def read_msrc12(csv_path: str | Path, tagstream: str | Path | None = None) -> Sequence:
    """One csv (+ its tagstream, found beside it when not given) -> ``Sequence`` with
    point labels; t in seconds from the first kept frame, fps 30 nominal."""
    cp = Path(csv_path)
    us, joints, lead = read_msrc12_csv(cp)
    if len(us) == 0:
        raise DataError(f"{cp}: every frame is all-zero (no skeleton data)")
    tp = Path(tagstream) if tagstream is not None else find_tagstream(cp)
    dropped: list[dict] = []
    if tp is None:
        log.warning("%s: no .tagstream beside it: no labels", cp)
        labels = Labels("none")
    else:
        points = []
        for cls, t_us, no in read_tagstream(tp):
            k = int(np.argmin(np.abs(us - t_us)))
            err = abs(us[k] - t_us) / 1e6
            if err > MAX_POINT_ERROR_S:
                log.warning("%s:%d: action point %.0f ms from the nearest frame; dropped",
                            tp, no, err * 1000)  # fmt: skip
                dropped.append({"line": no, "class_id": cls, "time_error_ms": round(err * 1000, 1)})
                continue
            points.append(Point(k, cls))
        labels = Labels.from_points(points, background=0)
    return Sequence(
        id=cp.stem,
        joints=joints,
        layout="kinect_v1_20",
        fps=MSRC12_FPS,
        t=(us - us[0]) / 1e6,
        labels=labels,
        meta={"source": str(cp), "tagstream": str(tp) if tp else None, "lead_trimmed": lead,
              "dropped_points": dropped},
    )  # fmt: skip


def load_msrc12(path: str | Path) -> Dataset:
    """An MSRC-12 csv (or its ``.tagstream``) or a folder of csv files -> ``Dataset``.

    In a folder, a csv with no skeleton at all is left out with a warning and listed in
    ``meta['excluded']``. Splits follow the shared copy: subjects p14, p17, p18, p20,
    p21, p25 test (one per instruction group), the others train.
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.glob("*.csv") if f.is_file())
    elif p.suffix.lower() == ".tagstream":
        files = [f for f in p.parent.glob("*.csv") if f.stem.lower() == p.stem.lower()]
    else:
        files = [p]
    if not files:
        raise DataError(f"{p}: no MSRC-12 csv files")
    seqs: dict[str, Sequence] = {}
    excluded: list[dict] = []
    splits: dict[str, list[str]] = {}
    for f in files:
        try:
            s = read_msrc12(f)
        except DataError as e:
            if p.is_dir() and "no skeleton data" in str(e):
                log.warning("%s; sequence left out", e)
                excluded.append({"sequence": f.stem, "reason": "all frames zero"})
                continue
            raise
        seqs[s.id] = s
        m = _SUBJECT.search(s.id)
        if m:
            splits.setdefault("test" if m.group(1).lower() in _TEST_SUBJECTS else "train", []).append(s.id)
    kinds = {s.labels.kind for s in seqs.values()}
    return Dataset(
        name="msrc12",
        sequences=seqs,
        classes=dict(MSRC12_CLASSES),
        background_id=None,
        label_kind="point" if "point" in kinds else "none",
        splits=splits,
        meta={"path": str(p), "format": "msrc12", "fps": MSRC12_FPS, "excluded": excluded,
              "fps_note": "30 Hz nominal; frame spacing is irregular: t comes from the csv time column"},
    )  # fmt: skip
