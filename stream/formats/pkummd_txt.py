"""PKU-MMD v1 skeleton and label text files (Kinect v2, 25 joints, up to 2 persons).

* Skeleton file (``PKU_Skeleton_Renew/0206-R.txt``): one line per frame at 30 fps, 150
  whitespace-separated numbers = 2 persons x 25 joints x (x, y, z) in metres (Kinect v2
  camera space, NTU joint order). A person-frame of all zeros means "nobody": NaN.
* Label file (``Train_Label_PKU_final/0206-R.txt``, same file name): one action per
  line, ``class,start,end,confidence``; class is PKU-MMD's 1-based id (1..51), start/end
  are used as 0-based inclusive frame indices (as in the shared npz conversion; the
  source does not state the base), confidence (0/1/2) becomes ``Interval.score``.

The sequence id is the file stem (``0206-R``: video 0206, view R of L/M/R).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..labels import Interval, Labels
from ..sequence import DataError, Dataset, Sequence
from .text import data_lines, parse_rows, read_text

__all__ = [
    "PKUMMD_CLASSES",
    "PKUMMD_FPS",
    "find_label_file",
    "load_pkummd",
    "read_pkummd",
    "read_pkummd_labels",
    "read_pkummd_skeleton",
]

log = logging.getLogger(__name__)

PKUMMD_FPS = 30.0
_NAMES = (
    "bow", "brushing hair", "brushing teeth", "check time (from watch)", "cheer up",
    "clapping", "cross hands in front (say stop)", "drink water", "drop", "eat meal/snack",
    "falling", "giving something to other person", "hand waving", "handshaking",
    "hopping (one foot jumping)", "hugging other person", "jump up", "kicking other person",
    "kicking something", "make a phone call/answer phone", "pat on back of other person",
    "pickup", "playing with phone/tablet", "point finger at the other person",
    "pointing to something with finger", "punching/slapping other person",
    "pushing other person", "put on a hat/cap", "put something inside pocket", "reading",
    "rub two hands together", "salute", "sitting down", "standing up", "take off a hat/cap",
    "take off glasses", "take off jacket", "take out something from pocket",
    "taking a selfie", "tear up paper", "throw", "touch back (backache)",
    "touch chest (stomachache/heart pain)", "touch head (headache)", "touch neck (neckache)",
    "typing on a keyboard", "use a fan (with hand or paper)/feeling warm", "wear jacket",
    "wear on glasses", "wipe face", "writing",
)  # fmt: skip
#: PKU-MMD's 51 action classes, 1-based ids (Actions.xlsx of the dataset release).
PKUMMD_CLASSES: dict[int, str] = {i + 1: n for i, n in enumerate(_NAMES)}

_SKELETON_DIR = "PKU_Skeleton_Renew"


def read_pkummd_skeleton(path: str | Path) -> np.ndarray:
    """Skeleton txt -> (T, P, 25, 3) float32 metres, NaN for absent person-frames.

    P is 2, or 1 when the second person is absent in every frame (e.g. video 0160).
    """
    p = Path(path)
    rows = data_lines(read_text(p, "PKU-MMD skeleton txt"), p)
    if not rows:
        raise DataError(f"{p}: empty file (no frames)")
    joints = parse_rows(rows, p, 150).reshape(-1, 2, 25, 3).astype(np.float32)
    nan_rows = np.flatnonzero(np.isnan(joints).any(axis=(1, 2, 3)))
    if nan_rows.size:
        raise DataError(f"{p}:{rows[nan_rows[0]][0]}: NaN value (absent persons are zeros here)")
    joints[(joints == 0).all(axis=(2, 3))] = np.nan
    if not np.isfinite(joints[:, 1]).any():
        joints = joints[:, :1]
    return joints


def read_pkummd_labels(path: str | Path, num_frames: int | None = None) -> list[Interval]:
    """Label txt -> intervals (0-based inclusive frames; score = confidence).

    With ``num_frames``, an interval reaching past the last frame is a ``DataError``.
    """
    p = Path(path)
    out: list[Interval] = []
    for no, ln in data_lines(read_text(p, "PKU-MMD label txt"), p):
        parts = [x.strip() for x in ln.split(",")]
        if len(parts) != 4:
            raise DataError(f"{p}:{no}: expected 4 comma-separated values "
                            f"(class,start,end,confidence), found {len(parts)}")  # fmt: skip
        try:
            c, s, e = (int(x) for x in parts[:3])
            conf = float(parts[3])
        except ValueError:
            raise DataError(f"{p}:{no}: class,start,end must be integers and confidence a "
                            f"number, got {ln[:60]!r}") from None  # fmt: skip
        if c not in PKUMMD_CLASSES:
            raise DataError(f"{p}:{no}: class id {c} is not a PKU-MMD class (1..51)")
        if s < 0 or e < s:
            raise DataError(f"{p}:{no}: bad interval {s}..{e}")
        if num_frames is not None and e >= num_frames:
            raise DataError(f"{p}:{no}: interval {s}..{e} ends past the last frame "
                            f"({num_frames} frames in the skeleton file)")  # fmt: skip
        out.append(Interval(s, e, c, conf))
    return out


def find_label_file(skeleton: Path) -> Path | None:
    """The label txt of the same name in a sibling folder of the skeleton's folder
    (``Train_Label_PKU_final`` preferred, then any folder whose name holds 'label')."""
    parent = skeleton.parent.parent
    try:
        dirs = sorted(d for d in parent.iterdir() if d.is_dir() and d != skeleton.parent)
    except OSError:
        return None
    dirs.sort(key=lambda d: (d.name != "Train_Label_PKU_final", "label" not in d.name.lower()))
    for d in dirs:
        if "label" in d.name.lower() and (d / skeleton.name).is_file():
            return d / skeleton.name
    return None


def read_pkummd(skeleton: str | Path, labels: str | Path | None = None) -> Sequence:
    """One skeleton txt (+ its label txt, found with ``find_label_file`` when not given)
    -> ``Sequence`` at 30 fps (t = k / 30 s). Without a label file the labels are 'none'
    (a warning is logged)."""
    sp = Path(skeleton)
    joints = read_pkummd_skeleton(sp)
    lp = Path(labels) if labels is not None else find_label_file(sp)
    if lp is None:
        log.warning("%s: no label file found (looked for ../*Label*/%s)", sp, sp.name)
        lab = Labels("none")
    else:
        lab = Labels.from_intervals(read_pkummd_labels(lp, len(joints)), background=0)
    return Sequence(
        id=sp.stem,
        joints=joints,
        layout="ntu25",
        fps=PKUMMD_FPS,
        t=np.arange(len(joints), dtype=np.float64) / PKUMMD_FPS,
        labels=lab,
        meta={"source": str(sp), "labels_source": str(lp) if lp else None},
    )


def _skeleton_files(p: Path) -> list[Path]:
    if p.is_file():
        return [p]
    d = p / _SKELETON_DIR if (p / _SKELETON_DIR).is_dir() else p
    return sorted(f for f in d.glob("*.txt") if f.is_file())


def load_pkummd(path: str | Path, labels: str | Path | None = None) -> Dataset:
    """PKU-MMD skeleton txt, a folder of them, or a folder holding ``PKU_Skeleton_Renew/``
    (labels from the sibling label folder) -> ``Dataset`` with interval labels.

    ``labels`` is a label file (for a single skeleton file) or a label folder. No splits
    are defined: the official lists are not embedded; keep both views of a video on the
    same side of any split you make.
    """
    p = Path(path)
    files = _skeleton_files(p)
    if not files:
        raise DataError(f"{p}: no PKU-MMD skeleton txt files")
    seqs: dict[str, Sequence] = {}
    for f in files:
        lab = None
        if labels is not None:
            lab = Path(labels) / f.name if Path(labels).is_dir() else Path(labels)
        s = read_pkummd(f, lab)
        seqs[s.id] = s
    kinds = {s.labels.kind for s in seqs.values()}
    return Dataset(
        name="pkummd",
        sequences=seqs,
        classes=dict(PKUMMD_CLASSES),
        background_id=None,
        label_kind="interval" if "interval" in kinds else "none",
        meta={"path": str(p), "format": "pkummd", "fps": PKUMMD_FPS, "fps_note": ""},
    )
