"""NTU RGB+D (60 and 120) ``.skeleton`` text files (Kinect v2, 25 joints, 30 fps).

Layout of one file, one item per line, values separated by spaces::

    frameCount
    bodyCount                                  (per frame)
    bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence
        handRightState isResticted leanX leanY trackingState          (per body)
    jointCount                                 (25)
    x y z depthX depthY colorX colorY orientationW orientationX orientationY
        orientationZ trackingState            (per joint: jointCount lines)

x, y, z are metres in Kinect v2 camera space (NTU joint order = layout ``ntu25``).

Persons: bodies are tracked by ``bodyID`` across frames. When more than ``max_bodies``
(default 2) distinct bodies occur, we keep the most active ones: the motion energy of a
body is the sum over joints and x/y/z of the variance of its coordinates over the frames
it appears in (the heuristic the dataset authors describe for choosing the main actor).
Kept bodies are ordered by that energy, highest first (person 0 = main actor). A
person slot is NaN in frames where its body is absent. Joint tracking states (0 = not
tracked, 1 = inferred, 2 = tracked) are kept in ``meta['tracking']`` (T, P, 25) int8
(-1 where absent); coordinates are returned as recorded.

Labels: the file name ``SsssCcccPpppRrrrAaaa`` gives the action (A = 1..120), a
video-level label. Splits: the official cross-subject protocol (NTU 120 training
subject list, which includes NTU 60's).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from ..labels import Labels
from ..sequence import DataError, Dataset, Sequence
from .text import read_text

__all__ = [
    "NTU_CLASSES",
    "NTU_FPS",
    "NTU_XSUB_TRAIN_SUBJECTS",
    "load_ntu",
    "parse_ntu_name",
    "read_ntu_skeleton",
]

log = logging.getLogger(__name__)

NTU_FPS = 30.0
_NAMES = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup",
    "throw", "sitting down", "standing up (from sitting position)", "clapping", "reading",
    "writing", "tear up paper", "wear jacket", "take off jacket", "wear a shoe",
    "take off a shoe", "wear on glasses", "take off glasses", "put on a hat/cap",
    "take off a hat/cap", "cheer up", "hand waving", "kicking something",
    "put something inside pocket / take out something from pocket",
    "hopping (one foot jumping)", "jump up", "make a phone call/answer phone",
    "playing with phone/tablet", "typing on a keyboard", "pointing to something with finger",
    "taking a selfie", "check time (from watch)", "rub two hands together", "nod head/bow",
    "shake head", "wipe face", "salute", "put the palms together",
    "cross hands in front (say stop)", "sneeze/cough", "staggering", "falling",
    "touch head (headache)", "touch chest (stomachache/heart pain)", "touch back (backache)",
    "touch neck (neckache)", "nausea or vomiting condition",
    "use a fan (with hand or paper)/feeling warm", "punching/slapping other person",
    "kicking other person", "pushing other person", "pat on back of other person",
    "point finger at the other person", "hugging other person",
    "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball",
    "tennis bat swing", "juggling table tennis balls", "hush (quite)", "flick hair",
    "thumb up", "thumb down", "make ok sign", "make victory sign", "staple book",
    "counting money", "cutting nails", "cutting paper (using scissors)", "snapping fingers",
    "open bottle", "sniff (smell)", "squat down", "toss a coin", "fold paper",
    "ball up paper", "play magic cube", "apply cream on face", "apply cream on hand back",
    "put on bag", "take off bag", "put something into a bag", "take something out of a bag",
    "open a box", "move heavy objects", "shake fist", "throw up cap/hat",
    "hands up (both hands)", "cross arms", "arm circles", "arm swings",
    "running on the spot", "butt kicks (kick backward)", "cross toe touch", "side kick",
    "yawn", "stretch oneself", "blow nose", "hit other person with something",
    "wield knife towards other person", "knock over other person (hit with body)",
    "grab other person's stuff", "shoot at other person with a gun", "step on foot",
    "high-five", "cheers and drink", "carry something with other person",
    "take a photo of other person", "follow other person",
    "whisper in other person's ear", "exchange things with other person",
    "support somebody with hand", "finger-guessing game (playing rock-paper-scissors)",
)  # fmt: skip
#: NTU RGB+D 120 action classes (ids 1..60 are NTU RGB+D 60), as the dataset README names them.
NTU_CLASSES: dict[int, str] = {i + 1: n for i, n in enumerate(_NAMES)}
#: Performer ids of the official cross-subject training set (NTU 120; 1..40 = NTU 60's).
NTU_XSUB_TRAIN_SUBJECTS = frozenset((
    1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38, 45, 46, 47,
    49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91,
    92, 93, 94, 95, 97, 98, 100, 103,
))  # fmt: skip
_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


def parse_ntu_name(name: str) -> dict[str, int] | None:
    """``S001C002P003R002A013[.skeleton]`` -> {setup, camera, performer, replication,
    action}, or None when the name does not follow the pattern."""
    m = _NAME.search(Path(name).name)
    if not m:
        return None
    keys = ("setup", "camera", "performer", "replication", "action")
    return dict(zip(keys, (int(g) for g in m.groups())))


class _Lines:
    """Cursor over a file's lines that turns every problem into a DataError with the line."""

    def __init__(self, text: str, path: Path) -> None:
        self.lines = text.split("\n")
        while self.lines and not self.lines[-1].strip():
            self.lines.pop()
        self.path = path
        self.i = 0

    def next(self, what: str) -> list[str]:
        if self.i >= len(self.lines):
            raise DataError(f"{self.path}:{self.i + 1}: file ends early (truncated?): expected {what}")
        self.i += 1
        return self.lines[self.i - 1].split()

    def count(self, what: str) -> int:
        parts = self.next(what)
        if len(parts) != 1 or not parts[0].isdigit():
            raise DataError(f"{self.path}:{self.i}: expected {what} (one integer), got {' '.join(parts)[:60]!r}")
        return int(parts[0])

    def numbers(self, n: int, what: str) -> list[float]:
        parts = self.next(what)
        if len(parts) != n:
            raise DataError(f"{self.path}:{self.i}: expected {n} values ({what}), found {len(parts)}")
        try:
            vals = [float(x) for x in parts]
        except ValueError:
            raise DataError(f"{self.path}:{self.i}: non-numeric value in {what}: {' '.join(parts)[:60]!r}") from None
        if not np.isfinite(vals).all():
            raise DataError(f"{self.path}:{self.i}: non-finite value in {what}")
        return vals


def _parse(path: Path) -> tuple[int, dict[str, dict[int, np.ndarray]], dict[str, dict[int, np.ndarray]]]:
    """-> frame count, {bodyID: {frame: (25, 3)}}, {bodyID: {frame: (25,) tracking}}."""
    cur = _Lines(read_text(path, "NTU .skeleton"), path)
    n_frames = cur.count("the frame count")
    bodies: dict[str, dict[int, np.ndarray]] = {}
    tracking: dict[str, dict[int, np.ndarray]] = {}
    for f in range(n_frames):
        n_bodies = cur.count(f"the body count of frame {f + 1}")
        for _ in range(n_bodies):
            info = cur.next("a body info line (10 values)")
            if len(info) != 10:
                raise DataError(f"{path}:{cur.i}: expected 10 values (body info), found {len(info)}")
            body_id = info[0]
            n_joints = cur.count("the joint count")
            if n_joints != 25:
                raise DataError(f"{path}:{cur.i}: expected 25 joints, got {n_joints}")
            rows = np.array([cur.numbers(12, "a joint line") for _ in range(25)])
            if f in bodies.setdefault(body_id, {}):
                raise DataError(f"{path}:{cur.i}: body {body_id} appears twice in frame {f + 1}")
            bodies[body_id][f] = rows[:, :3]
            tracking.setdefault(body_id, {})[f] = rows[:, 11]
    if cur.i < len(cur.lines):
        raise DataError(f"{path}:{cur.i + 1}: extra data after the {n_frames} frames the header announces")
    return n_frames, bodies, tracking


def _energy(frames: dict[int, np.ndarray]) -> float:
    x = np.stack(list(frames.values()))  # (n, 25, 3)
    return float(x.var(axis=0).sum()) if len(x) > 1 else 0.0


def read_ntu_skeleton(path: str | Path, max_bodies: int = 2) -> Sequence:
    """One ``.skeleton`` file -> ``Sequence`` (T, P, 25, 3) float32 metres, P = min(bodies,
    ``max_bodies``) (at least 1), t = k / 30 s, video label from the file name."""
    p = Path(path)
    n_frames, bodies, tracking = _parse(p)
    if n_frames == 0:
        raise DataError(f"{p}:1: frame count is 0 (no frames)")
    ranked = sorted(bodies, key=lambda b: (-_energy(bodies[b]), min(bodies[b])))
    keep = ranked[:max_bodies]
    if len(ranked) > max_bodies:
        log.debug("%s: %d bodies, keeping the %d most active", p, len(ranked), max_bodies)
    P = max(1, len(keep))
    joints = np.full((n_frames, P, 25, 3), np.nan, dtype=np.float32)
    track = np.full((n_frames, P, 25), -1, dtype=np.int8)
    for k, b in enumerate(keep):
        for f, xyz in bodies[b].items():
            joints[f, k] = xyz
            track[f, k] = tracking[b][f]
    joints[(joints == 0).all(axis=(2, 3))] = np.nan
    info = parse_ntu_name(p.name)
    if info and info["action"] in NTU_CLASSES:
        labels = Labels.from_video([info["action"]])
    else:
        log.warning("%s: name is not SsssCcccPpppRrrrAaaa with A in 1..120: no label", p)
        labels = Labels("none")
    return Sequence(
        id=p.name[: -len(".skeleton")] if p.name.endswith(".skeleton") else p.stem,
        joints=joints,
        layout="ntu25",
        fps=NTU_FPS,
        t=np.arange(n_frames, dtype=np.float64) / NTU_FPS,
        labels=labels,
        meta={"source": str(p), "bodies": len(bodies), "body_ids": keep, "tracking": track,
              **(info or {})},
    )  # fmt: skip


def load_ntu(path: str | Path, max_bodies: int = 2) -> Dataset:
    """A ``.skeleton`` file or a folder of them -> ``Dataset`` with video-level labels and
    the cross-subject split (performer in ``NTU_XSUB_TRAIN_SUBJECTS`` -> train)."""
    p = Path(path)
    files = sorted(p.glob("*.skeleton")) if p.is_dir() else [p]
    if not files:
        raise DataError(f"{p}: no .skeleton files")
    seqs: dict[str, Sequence] = {}
    splits: dict[str, list[str]] = {}
    for f in files:
        s = read_ntu_skeleton(f, max_bodies)
        seqs[s.id] = s
        if "performer" in s.meta:
            side = "train" if s.meta["performer"] in NTU_XSUB_TRAIN_SUBJECTS else "test"
            splits.setdefault(side, []).append(s.id)
    kinds = {s.labels.kind for s in seqs.values()}
    return Dataset(
        name="ntu",
        sequences=seqs,
        classes=dict(NTU_CLASSES),
        background_id=None,
        label_kind="video" if "video" in kinds else "none",
        splits=splits,
        meta={"path": str(p), "format": "ntu", "fps": NTU_FPS, "fps_note": "",
              "split_protocol": "cross-subject (official NTU 120 training performers)"},
    )  # fmt: skip
