"""UTKinect-Action3D skeleton files (Kinect v1, one person, interval labels).

* ``joints_sXX_eYY.txt`` (sequence id ``sXX_eYY``): one skeleton sample per line, the
  image frame id then 20 joints x (x, y, z) in metres (Kinect camera space, SDK joint
  order), whitespace-separated. Rows are irregularly spaced and 3.4% repeat the
  previous image id (distinct samples, kept). Image ids tick at about 30 per second
  (an inference; the source gives no rate), so ``t = (id - first id) / 30`` s and the
  sequence's ``fps`` is its mean row rate, ``(T - 1) / t[-1]`` (about 7 rows/s).
* ``actionLabel.txt``: for each sequence a line with its id, then one line per action
  ``name: start end`` in IMAGE ids (``NaN NaN`` = the action does not occur). An
  interval becomes rows ``first row with id >= start`` .. ``last row with id <= end``.
  Class ids are 1..10 in the file's action order (walk, sitDown, standUp, pickUp,
  carry, throw, push, pull, waveHands, clapHands). ``actionLabel_modified.txt`` (the
  source repo's corrected copy, used for the shared npz) is preferred when present.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..labels import Interval, Labels
from ..sequence import DataError, Dataset, Sequence
from .text import data_lines, parse_rows, read_text

__all__ = [
    "ActionLabels",
    "UTKINECT_CLASSES",
    "UTKINECT_ID_RATE",
    "find_action_labels",
    "load_utkinect",
    "read_action_labels",
    "read_utkinect",
    "read_utkinect_joints",
]

log = logging.getLogger(__name__)

#: Image frame ids per second (about; see the module docstring).
UTKINECT_ID_RATE = 30.0
_NAMES = ("walk", "sitDown", "standUp", "pickUp", "carry", "throw", "push", "pull",
          "waveHands", "clapHands")  # fmt: skip
UTKINECT_CLASSES: dict[int, str] = {i + 1: n for i, n in enumerate(_NAMES)}
_CLASS_OF = {n.lower(): i + 1 for i, n in enumerate(_NAMES)}
_LABEL_FILES = ("actionLabel_modified.txt", "actionLabel.txt")
_SEQ = re.compile(r"^s\d+_e\d+$", re.IGNORECASE)
_FILE = re.compile(r"^joints_(s\d+_e\d+)\.txt$", re.IGNORECASE)
# Our split (no official one): odd subjects train, even subjects test.
_SUBJECT = re.compile(r"^s(\d+)_", re.IGNORECASE)



@dataclass(frozen=True)
class ActionLabels:
    """A parsed label file: per sequence id, ``(class_id, start_id, end_id, line)`` tuples
    (None bounds = ``NaN NaN``, the action does not occur)."""

    path: Path
    by_seq: dict[str, list[tuple[int, float | None, float | None, int]]]


def read_utkinect_joints(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """joints txt -> (image_ids (T,) int64, joints (T, 1, 20, 3) float32 metres)."""
    p = Path(path)
    rows = data_lines(read_text(p, "UTKinect joints txt"), p)
    if not rows:
        raise DataError(f"{p}: empty file (no rows)")
    vals = parse_rows(rows, p, 61)
    ids = vals[:, 0]
    bad = np.flatnonzero(~np.isfinite(ids) | (ids != np.rint(ids)) | (ids < 0))
    if bad.size:
        raise DataError(f"{p}:{rows[bad[0]][0]}: image frame id must be a non-negative integer")
    back = np.flatnonzero(np.diff(ids) < 0)
    if back.size:
        raise DataError(f"{p}:{rows[back[0] + 1][0]}: image frame id goes backwards "
                        f"({ids[back[0]]:.0f} -> {ids[back[0] + 1]:.0f})")  # fmt: skip
    joints = vals[:, 1:].reshape(-1, 20, 3).astype(np.float32)
    joints[(joints == 0).all(axis=(1, 2))] = np.nan
    return ids.astype(np.int64), joints[:, None]


def _bound(tok: str, p: Path, no: int) -> float | None:
    try:
        v = float(tok)
    except ValueError:
        raise DataError(f"{p}:{no}: image id must be an integer or NaN, got {tok[:20]!r}") from None
    if np.isnan(v):
        return None
    if v != int(v) or v < 0:
        raise DataError(f"{p}:{no}: image id must be a non-negative integer, got {tok!r}")
    return v


def read_action_labels(path: str | Path) -> ActionLabels:
    """Parse actionLabel.txt (image-id bounds, per sequence block)."""
    p = Path(path)
    out: dict[str, list] = {}
    cur: str | None = None
    for no, ln in data_lines(read_text(p, "UTKinect actionLabel.txt"), p):
        if ":" not in ln:
            if not _SEQ.match(ln):
                raise DataError(f"{p}:{no}: expected a sequence id like s01_e01 or 'action: start end', got {ln[:40]!r}")
            cur = ln.lower()
            if cur in out:
                raise DataError(f"{p}:{no}: sequence {ln} listed twice")
            out[cur] = []
            continue
        if cur is None:
            raise DataError(f"{p}:{no}: action line before any sequence id")
        name, _, rest = ln.partition(":")
        cls = _CLASS_OF.get(name.strip().lower())
        if cls is None:
            raise DataError(f"{p}:{no}: unknown action {name.strip()!r}; known: {', '.join(_NAMES)}")
        parts = rest.split()
        if len(parts) != 2:
            raise DataError(f"{p}:{no}: expected 'action: start end', found {len(parts)} value(s)")
        s, e = _bound(parts[0], p, no), _bound(parts[1], p, no)
        if (s is None) != (e is None):
            raise DataError(f"{p}:{no}: only one of start/end is NaN")
        if s is not None and e < s:
            raise DataError(f"{p}:{no}: interval ends before it starts ({s:.0f} > {e:.0f})")
        out[cur].append((cls, s, e, no))
    return ActionLabels(p, out)


def find_action_labels(folder: Path) -> Path | None:
    """The label file in ``folder`` or one level up (the corrected copy first)."""
    for d in (folder, folder.parent):
        for name in _LABEL_FILES:
            if (d / name).is_file():
                return d / name
    return None


def _to_rows(raw: list, ids: np.ndarray, lp: Path) -> list[Interval]:
    out = []
    for cls, s, e, no in raw:
        if s is None:
            continue  # NaN NaN: the action does not occur in this sequence
        a = int(np.searchsorted(ids, s, side="left"))
        b = int(np.searchsorted(ids, e, side="right")) - 1
        if a > b:
            raise DataError(f"{lp}:{no}: image ids {s:.0f}..{e:.0f} contain no skeleton row "
                            f"(rows span ids {ids[0]}..{ids[-1]})")  # fmt: skip
        out.append(Interval(a, b, cls))
    return out


def read_utkinect(
    path: str | Path, labels: str | Path | ActionLabels | None = None
) -> Sequence:
    """One joints txt -> ``Sequence`` (T, 1, 20, 3); labels from ``labels`` (a file or
    a parsed one) or the label file found beside / one level up. Row image ids are in
    ``meta['frame_ids']``."""
    p = Path(path)
    ids, joints = read_utkinect_joints(p)
    m = _FILE.match(p.name)
    sid = m.group(1).lower() if m else p.stem
    if labels is None:
        found = find_action_labels(p.parent)
        raw = read_action_labels(found) if found else None
    else:
        raw = labels if isinstance(labels, ActionLabels) else read_action_labels(labels)
    if raw is None:
        log.warning("%s: no actionLabel.txt beside it or one level up: no labels", p)
        lab = Labels("none")
    elif sid not in raw.by_seq:
        log.warning("%s: sequence %s is not in %s: no labels", p, sid, raw.path)
        lab = Labels("none")
    else:
        lab = Labels.from_intervals(_to_rows(raw.by_seq[sid], ids, raw.path), background=0)
    t = (ids - ids[0]).astype(np.float64) / UTKINECT_ID_RATE
    fps = (len(t) - 1) / t[-1] if len(t) > 1 and t[-1] > 0 else UTKINECT_ID_RATE
    return Sequence(
        id=sid,
        joints=joints,
        layout="kinect_v1_20",
        fps=float(fps),
        t=t,
        labels=lab,
        meta={"source": str(p), "labels_source": str(raw.path) if raw else None, "frame_ids": ids},
    )


def load_utkinect(path: str | Path, labels: str | Path | None = None) -> Dataset:
    """A joints txt or a folder of them (labels found beside or one level up, or given)
    -> ``Dataset`` with interval labels; splits: odd subjects train, even test."""
    p = Path(path)
    files = sorted(f for f in p.glob("*.txt") if _FILE.match(f.name)) if p.is_dir() else [p]
    if not files:
        raise DataError(f"{p}: no joints_sXX_eYY.txt files")
    lp = Path(labels) if labels is not None else find_action_labels(files[0].parent)
    raw = read_action_labels(lp) if lp else None
    seqs: dict[str, Sequence] = {}
    splits: dict[str, list[str]] = {}
    for f in files:
        s = read_utkinect(f, raw)
        seqs[s.id] = s
        m = _SUBJECT.match(s.id)
        if m:
            splits.setdefault("train" if int(m.group(1)) % 2 else "test", []).append(s.id)
    kinds = {s.labels.kind for s in seqs.values()}
    return Dataset(
        name="utkinect",
        sequences=seqs,
        classes=dict(UTKINECT_CLASSES),
        background_id=None,
        label_kind="interval" if "interval" in kinds else "none",
        splits=splits,
        meta={"path": str(p), "format": "utkinect", "fps": UTKINECT_ID_RATE,
              "labels_source": str(lp) if lp else None,
              "fps_note": "rows are irregular (~7 rows/s); t = image id / 30 s (id rate inferred)"},
    )  # fmt: skip
