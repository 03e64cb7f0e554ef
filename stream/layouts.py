"""Skeleton joint layouts as plain data, and their mapping onto one canonical joint set.

Every source layout (MediaPipe Pose, Kinect v1, Kinect v2 / NTU, COCO) maps onto the
canonical set ``canonical20``, which is the Kinect v1 joint set under neutral names.
Models are trained and served on canonical joints only, so a model trained on Kinect
recordings can run on a MediaPipe webcam stream.

How each layout reaches the canonical set (a fixed linear map, see ``Layout.to_canonical``):

* ``kinect20``: identity.
* ``ntu25``: the 20 shared joints; hand tips and thumbs are dropped; ``spine`` is
  Kinect v2 ``SpineMid`` and ``shoulder_center`` is ``SpineShoulder``.
* ``mediapipe33``: ``pelvis`` = mid-hips, ``shoulder_center`` = mid-shoulders,
  ``spine`` = midpoint of those two, ``head`` = mid-ears, ``hand`` = mean of the index
  and pinky knuckles, ``foot`` = foot index (toe).
* ``coco17``: like MediaPipe for the torso and head; COCO has no hands or feet, so
  ``hand``/``foot`` are extrapolated a quarter of a forearm/shin beyond the wrist/ankle.

A canonical joint whose source joints are missing (NaN) is missing too: NaN propagates.

Axis conventions (``Layout.axes``): canonical space is the Kinect skeleton space —
metres, +y up, +z pointing away from the camera, +x to the camera's left (right-handed).
MediaPipe world landmarks are x right, y down, z away, hip-centred; turning them into
canonical space is a 180 degree rotation about z (x -> -x, y -> -y), a proper rotation,
so the subject's left stays left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "CANONICAL",
    "Layout",
    "get_layout",
    "layout_names",
    "to_canonical",
]


@dataclass(frozen=True)
class Layout:
    """A named joint layout.

    ``parents[j]`` is the parent joint of ``j`` (-1 for the root); ``edges`` are
    ``(child, parent)`` bones. ``canonical`` maps each canonical joint to a list of
    ``(source_joint_index, weight)`` terms whose weighted sum gives that joint.
    ``axes`` is a per-axis sign that turns this layout's coordinates into canonical
    axes (``(1, 1, 1)`` for Kinect space).
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    aliases: tuple[str, ...] = ()
    canonical: tuple[tuple[tuple[int, float], ...], ...] = ()
    axes: tuple[float, float, float] = (1.0, 1.0, 1.0)
    description: str = ""
    _matrix: np.ndarray | None = field(default=None, repr=False, compare=False)
    _terms: list | None = field(default=None, repr=False, compare=False)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        return tuple((j, p) for j, p in enumerate(self.parents) if p >= 0)

    def index(self, joint: str) -> int:
        try:
            return self.joint_names.index(joint)
        except ValueError:
            raise KeyError(f"layout {self.name!r} has no joint {joint!r}") from None

    def term_arrays(self) -> list:
        """The canonical map as term arrays: ``[(src_idx, w)]`` for every joint's first
        term, then ``(canonical_idx, src_idx, w)`` for each further term position."""
        if self._terms is None:
            first = (np.array([t[0][0] for t in self.canonical]), np.array([t[0][1] for t in self.canonical]))
            rest = []
            for r in range(1, max(len(t) for t in self.canonical)):
                cjs = [c for c, t in enumerate(self.canonical) if len(t) > r]
                rest.append((np.array(cjs), np.array([self.canonical[c][r][0] for c in cjs]),
                             np.array([self.canonical[c][r][1] for c in cjs])))  # fmt: skip
            object.__setattr__(self, "_terms", [first, *rest])
        return self._terms

    def canonical_matrix(self) -> np.ndarray:
        """(20, J) float64 weights: canonical = M @ source, per coordinate."""
        if self._matrix is None:
            m = np.zeros((len(self.canonical), self.num_joints))
            for c, terms in enumerate(self.canonical):
                for j, w in terms:
                    m[c, j] += w
            object.__setattr__(self, "_matrix", m)
        return self._matrix


def _parents_from_pairs(names: tuple[str, ...], pairs: dict[str, str | None]) -> tuple[int, ...]:
    return tuple(-1 if pairs[n] is None else names.index(pairs[n]) for n in names)


# --- Kinect v1 (PRECOG, UTKinect, MSRC-12) and the canonical set -----------------------

_KINECT20_NAMES = (
    "HipCenter", "Spine", "ShoulderCenter", "Head",
    "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
    "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
)  # fmt: skip
_KINECT20_PARENTS = (-1, 0, 1, 2, 2, 4, 5, 6, 2, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18)

CANONICAL = Layout(
    name="canonical20",
    joint_names=(
        "pelvis", "spine", "shoulder_center", "head",
        "l_shoulder", "l_elbow", "l_wrist", "l_hand",
        "r_shoulder", "r_elbow", "r_wrist", "r_hand",
        "l_hip", "l_knee", "l_ankle", "l_foot",
        "r_hip", "r_knee", "r_ankle", "r_foot",
    ),  # fmt: skip
    parents=_KINECT20_PARENTS,
    canonical=tuple(((j, 1.0),) for j in range(20)),
    description="The joint set models use (Kinect v1 order, neutral names).",
)

KINECT20 = Layout(
    name="kinect_v1_20",
    aliases=("kinect20",),
    joint_names=_KINECT20_NAMES,
    parents=_KINECT20_PARENTS,
    canonical=CANONICAL.canonical,
    description="Kinect v1 SDK skeleton (PRECOG, UTKinect-Action3D, MSRC-12).",
)

# --- Kinect v2 / NTU RGB+D / PKU-MMD -----------------------------------------------------

_NTU25_NAMES = (
    "SpineBase", "SpineMid", "Neck", "Head",
    "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
    "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
    "SpineShoulder", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight",
)  # fmt: skip
NTU25 = Layout(
    name="ntu25",
    aliases=("kinect_v2_25",),
    joint_names=_NTU25_NAMES,
    parents=(-1, 0, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1, 7, 6, 11, 10),
    canonical=tuple(((j, 1.0),) for j in (0, 1, 20, 3, *range(4, 20))),
    description="Kinect v2 skeleton (NTU RGB+D, PKU-MMD).",
)

# --- MediaPipe Pose (33 landmarks) --------------------------------------------------------

_MP33_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer",
    "right_eye_inner", "right_eye", "right_eye_outer", "left_ear", "right_ear",
    "mouth_left", "mouth_right", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
_MP33_PARENT_NAMES: dict[str, str | None] = {
    "nose": None, "left_eye_inner": "nose", "left_eye": "left_eye_inner",
    "left_eye_outer": "left_eye", "right_eye_inner": "nose", "right_eye": "right_eye_inner",
    "right_eye_outer": "right_eye", "left_ear": "left_eye_outer", "right_ear": "right_eye_outer",
    "mouth_left": "nose", "mouth_right": "nose", "left_shoulder": "nose",
    "right_shoulder": "nose", "left_elbow": "left_shoulder", "right_elbow": "right_shoulder",
    "left_wrist": "left_elbow", "right_wrist": "right_elbow", "left_pinky": "left_wrist",
    "right_pinky": "right_wrist", "left_index": "left_wrist", "right_index": "right_wrist",
    "left_thumb": "left_wrist", "right_thumb": "right_wrist", "left_hip": "left_shoulder",
    "right_hip": "right_shoulder", "left_knee": "left_hip", "right_knee": "right_hip",
    "left_ankle": "left_knee", "right_ankle": "right_knee", "left_heel": "left_ankle",
    "right_heel": "right_ankle", "left_foot_index": "left_ankle",
    "right_foot_index": "right_ankle",
}  # fmt: skip


def _mp(n: str) -> int:
    return _MP33_NAMES.index(n)


def _mid(a: int, b: int) -> tuple[tuple[int, float], ...]:
    return ((a, 0.5), (b, 0.5))


_MP_PELVIS = _mid(_mp("left_hip"), _mp("right_hip"))
_MP_SHOULDERS = _mid(_mp("left_shoulder"), _mp("right_shoulder"))
MEDIAPIPE33 = Layout(
    name="mediapipe33",
    aliases=("mediapipe", "blazepose33"),
    joint_names=_MP33_NAMES,
    parents=_parents_from_pairs(_MP33_NAMES, _MP33_PARENT_NAMES),
    canonical=(
        _MP_PELVIS,
        tuple((j, w / 2) for j, w in _MP_PELVIS + _MP_SHOULDERS),
        _MP_SHOULDERS,
        _mid(_mp("left_ear"), _mp("right_ear")),
        ((_mp("left_shoulder"), 1.0),), ((_mp("left_elbow"), 1.0),), ((_mp("left_wrist"), 1.0),),
        _mid(_mp("left_index"), _mp("left_pinky")),
        ((_mp("right_shoulder"), 1.0),), ((_mp("right_elbow"), 1.0),), ((_mp("right_wrist"), 1.0),),
        _mid(_mp("right_index"), _mp("right_pinky")),
        ((_mp("left_hip"), 1.0),), ((_mp("left_knee"), 1.0),), ((_mp("left_ankle"), 1.0),),
        ((_mp("left_foot_index"), 1.0),),
        ((_mp("right_hip"), 1.0),), ((_mp("right_knee"), 1.0),), ((_mp("right_ankle"), 1.0),),
        ((_mp("right_foot_index"), 1.0),),
    ),  # fmt: skip
    axes=(-1.0, -1.0, 1.0),
    description="MediaPipe Pose / BlazePose world landmarks (x right, y down, hip-centred).",
)

# --- COCO 17 keypoints --------------------------------------------------------------------

_COCO17_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
_COCO_PARENT_NAMES: dict[str, str | None] = {
    "nose": None, "left_eye": "nose", "right_eye": "nose", "left_ear": "left_eye",
    "right_ear": "right_eye", "left_shoulder": "nose", "right_shoulder": "nose",
    "left_elbow": "left_shoulder", "right_elbow": "right_shoulder",
    "left_wrist": "left_elbow", "right_wrist": "right_elbow", "left_hip": "left_shoulder",
    "right_hip": "right_shoulder", "left_knee": "left_hip", "right_knee": "right_hip",
    "left_ankle": "left_knee", "right_ankle": "right_knee",
}  # fmt: skip


def _co(n: str) -> int:
    return _COCO17_NAMES.index(n)


def _beyond(end: int, start: int, k: float = 0.25) -> tuple[tuple[int, float], ...]:
    """end + k * (end - start): extrapolate a bone past its end joint."""
    return ((end, 1.0 + k), (start, -k))


_CO_PELVIS = _mid(_co("left_hip"), _co("right_hip"))
_CO_SHOULDERS = _mid(_co("left_shoulder"), _co("right_shoulder"))
COCO17 = Layout(
    name="coco17",
    aliases=("coco",),
    joint_names=_COCO17_NAMES,
    parents=_parents_from_pairs(_COCO17_NAMES, _COCO_PARENT_NAMES),
    canonical=(
        _CO_PELVIS,
        tuple((j, w / 2) for j, w in _CO_PELVIS + _CO_SHOULDERS),
        _CO_SHOULDERS,
        _mid(_co("left_ear"), _co("right_ear")),
        ((_co("left_shoulder"), 1.0),), ((_co("left_elbow"), 1.0),), ((_co("left_wrist"), 1.0),),
        _beyond(_co("left_wrist"), _co("left_elbow")),
        ((_co("right_shoulder"), 1.0),), ((_co("right_elbow"), 1.0),), ((_co("right_wrist"), 1.0),),
        _beyond(_co("right_wrist"), _co("right_elbow")),
        ((_co("left_hip"), 1.0),), ((_co("left_knee"), 1.0),), ((_co("left_ankle"), 1.0),),
        _beyond(_co("left_ankle"), _co("left_knee")),
        ((_co("right_hip"), 1.0),), ((_co("right_knee"), 1.0),), ((_co("right_ankle"), 1.0),),
        _beyond(_co("right_ankle"), _co("right_knee")),
    ),  # fmt: skip
    axes=(-1.0, -1.0, 1.0),
    description="COCO 17 keypoints (3-D lifts; image axes x right, y down).",
)

_LAYOUTS = (CANONICAL, KINECT20, NTU25, MEDIAPIPE33, COCO17)
_BY_NAME: dict[str, Layout] = {}
for _lay in _LAYOUTS:
    for _n in (_lay.name, *_lay.aliases):
        _BY_NAME[_n] = _lay


def layout_names(aliases: bool = True) -> list[str]:
    """Names the runtime accepts (canonical names first, then aliases)."""
    names = [lay.name for lay in _LAYOUTS]
    if aliases:
        names += [a for lay in _LAYOUTS for a in lay.aliases]
    return names


def get_layout(name: str) -> Layout:
    """Look a layout up by name or alias; KeyError lists the known names."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise KeyError(
            f"unknown skeleton layout {name!r}; known: {', '.join(layout_names())}"
        ) from None


def to_canonical(x: np.ndarray, layout: Layout | str) -> np.ndarray:
    """Map (..., J, C>=3) joints of ``layout`` onto (..., 20, 3) canonical joints and axes.

    Only x, y, z are mapped (a confidence channel, if any, is dropped: mask low-confidence
    joints to NaN before calling). A canonical joint is NaN when any source joint it
    is built from is NaN. Returns float32.
    """
    lay = get_layout(layout) if isinstance(layout, str) else layout
    if x.shape[-2] != lay.num_joints or x.shape[-1] < 3:
        raise ValueError(
            f"expected (..., {lay.num_joints}, >=3) joints for layout {lay.name!r}, "
            f"got shape {tuple(x.shape)}"
        )
    xyz = np.asarray(x[..., :3], dtype=np.float64)
    # Term by term in a fixed order: elementwise only, so the result for a frame does not
    # depend on how many frames are mapped together (offline and live agree bit for bit).
    terms = lay.term_arrays()
    idx, w = terms[0]
    out = xyz[..., idx, :] * w[:, None]
    for cj, j, wj in terms[1:]:
        out[..., cj, :] += xyz[..., j, :] * wj[:, None]
    out *= np.asarray(lay.axes)
    return out.astype(np.float32)
