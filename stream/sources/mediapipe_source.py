"""MediaPipe Pose as a live pose source (webcam or video file), with optional SST-A fusion.

``PoseEstimator.process(bgr)`` runs MediaPipe Pose (``mp.solutions.pose``, mediapipe
0.10.21) on one BGR image and returns a ``LivePose``:

* ``joints`` (P, 33, 4) float32: the *world* landmarks in metres (hip-centred, x right,
  y down, z away from the camera; layout ``mediapipe33``) with the landmark visibility in
  [0, 1] as the 4th channel. MediaPipe tracks one person, so P = 1 when a pose was
  detected and P = 0 when not (an empty frame, not a NaN person: "nobody seen" is a fact,
  whereas an all-NaN person would claim that person 0 is present with every joint
  missing). The track id is always 0.
* ``image`` (P, 33, 4): the image landmarks (x, y normalised to [0, 1] of the width and
  height, y down; z relative depth; visibility), for drawing.

Fusion (``views``): MediaPipe bundles only its complexity-1 model, so the several
"estimators" SST-A needs (``skelact.stream.fusion``) are the same model on transformed
copies of the frame, each with its own tracking graph, mapped back into the original
frame: ``mirror`` (horizontal flip: the person's left and right landmarks swap, x is
negated) and ``pad`` (a black border of 20 % of the size on each side, which changes
MediaPipe's detection and crop). The fused pose takes, per joint, one view's landmark
(and the visibility and image landmark of that same view).

MediaPipe's C++ code writes INFO/WARNING lines to file descriptor 2 at construction and
on the first detections; ``quiet_stderr`` redirects fd 2 to /dev/null around those calls
(``GLOG_minloglevel`` and friends do not silence them).

mediapipe and cv2 are imported only when an estimator is built.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fusion import DEFAULT_GAMMA, SSTA
from ..layouts import get_layout

__all__ = [
    "LAYOUT",
    "VIEWS",
    "ModelUnavailableError",
    "PoseOptions",
    "LivePose",
    "MediaPipePose",
    "PoseEstimator",
    "check_model_available",
    "mirror_permutation",
    "parse_views",
    "quiet_stderr",
]

log = logging.getLogger(__name__)

LAYOUT = "mediapipe33"
VIEWS = ("orig", "mirror", "pad")
"""Frame transforms a fused estimator can run MediaPipe on (see the module docstring)."""

_PAD = 0.2  # border of the "pad" view, as a fraction of the width/height on each side
_QUIET_AFTER_DETECTION = 3  # process() calls kept quiet after the first detection
_MODEL_FILES = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}


class ModelUnavailableError(RuntimeError):
    """The requested MediaPipe model is not installed (and is never downloaded here)."""


# ----------------------------------------------------------------------------- stderr

_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved: int | None = None


@contextmanager
def quiet_stderr(enabled: bool = True) -> Iterator[None]:
    """Redirect file descriptor 2 to /dev/null inside the block (re-entrant, thread-safe).

    fd 2 is process-wide, so nested or concurrent uses share one redirection, restored
    when the last one leaves. Python's own stderr output in that window is lost too: keep
    the block short.
    """
    global _quiet_depth, _quiet_saved
    if not enabled:
        yield
        return
    with _quiet_lock:
        if _quiet_depth == 0:
            try:
                sys.stderr.flush()
            except (AttributeError, ValueError, OSError):
                pass
            saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
            _quiet_saved = saved
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_saved is not None:
                os.dup2(_quiet_saved, 2)
                os.close(_quiet_saved)
                _quiet_saved = None


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class PoseOptions:
    """MediaPipe Pose settings (``mp.solutions.pose.Pose`` arguments).

    ``model_complexity``: 0 (lite), 1 (full) or 2 (heavy); mediapipe 0.10.21 bundles only
    1. ``min_detection_confidence`` / ``min_tracking_confidence`` in [0, 1].
    ``smooth_landmarks``: MediaPipe's own temporal filter. ``static_image_mode``: detect
    on every frame (no tracking; slower). ``quiet``: silence MediaPipe's C++ log lines.
    """

    model_complexity: int = 1
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    smooth_landmarks: bool = True
    static_image_mode: bool = False
    quiet: bool = True

    def __post_init__(self) -> None:
        if self.model_complexity not in _MODEL_FILES:
            raise ValueError(f"model_complexity must be 0, 1 or 2, got {self.model_complexity!r}")
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            v = getattr(self, name)
            if not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v!r}")


def _mediapipe_root() -> Path:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "mediapipe is not installed: pip install 'skelact[webcam]' (mediapipe==0.10.21)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def check_model_available(model_complexity: int) -> Path:
    """The landmark model file of ``model_complexity``; raises ``ModelUnavailableError``
    with what to do when it is missing (MediaPipe would try to download it at run time;
    we never do)."""
    if model_complexity not in _MODEL_FILES:
        raise ValueError(f"model_complexity must be 0, 1 or 2, got {model_complexity!r}")
    path = _mediapipe_root() / "modules" / "pose_landmark" / _MODEL_FILES[model_complexity]
    if not path.is_file():
        raise ModelUnavailableError(
            f"MediaPipe Pose model complexity {model_complexity} needs {path.name}, which is not "
            f"installed: mediapipe 0.10.21 bundles only complexity 1 ({_MODEL_FILES[1]}) and downloads "
            f"the others from storage.googleapis.com on first use, which skelact does not do (it runs "
            f"offline). Use --model-complexity 1, or download "
            f"https://storage.googleapis.com/mediapipe-assets/{path.name} once and copy it to {path}."
        )
    return path


def mirror_permutation(layout: str = LAYOUT) -> np.ndarray:
    """(J,) index map swapping each ``left*`` joint with its ``right*`` twin (and
    ``*_left``/``*_right``); joints without a twin map to themselves."""
    names = get_layout(layout).joint_names
    perm = np.arange(len(names))
    for i, n in enumerate(names):
        twin = n.replace("left", "\0").replace("right", "left").replace("\0", "right")
        if twin != n and twin in names:
            perm[i] = names.index(twin)
    return perm


_MIRROR = mirror_permutation()


def parse_views(spec: str | Sequence[str]) -> tuple[str, ...]:
    """``"mirror"`` -> ("orig", "mirror"); ``"orig,mirror,pad"`` -> those views."""
    if isinstance(spec, str):
        items = [s.strip() for s in spec.split(",") if s.strip()]
        if items in (["mirror"], ["pad"]):
            items = ["orig", *items]
    else:
        items = list(spec)
    bad = [v for v in items if v not in VIEWS]
    if bad or not items:
        raise ValueError(f"unknown view(s) {bad or spec!r}: choose from {', '.join(VIEWS)} "
                         "(e.g. 'mirror' = orig,mirror)")  # fmt: skip
    if len(set(items)) != len(items):
        raise ValueError(f"a view is listed twice in {spec!r}")
    return tuple(items)


@dataclass
class ViewResult:
    """One view's landmarks mapped back to the original frame (None: no pose)."""

    world: np.ndarray | None  # (33, 4) metres + visibility
    image: np.ndarray | None  # (33, 4) normalised x, y, z, visibility


class MediaPipePose:
    """One MediaPipe Pose graph (it tracks between calls: one per stream and per view).

    ``view`` selects the frame transform (``orig``, ``mirror``, ``pad``); results are
    mapped back to the original frame. ``process`` takes a BGR uint8 image.
    """

    def __init__(self, options: PoseOptions = PoseOptions(), view: str = "orig") -> None:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; choose from {VIEWS}")
        check_model_available(options.model_complexity)
        self.options = options
        self.view = view
        self._quiet_left = -1  # -1: no detection yet (stay quiet); >0: calls left
        # The graph starts asynchronously: its log lines can come after the constructor
        # returns, so fd 2 stays redirected until the first process() call has finished.
        self._held = ExitStack()
        self._held.enter_context(quiet_stderr(options.quiet))
        try:
            import cv2
            import mediapipe as mp

            self._cv2 = cv2
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=options.static_image_mode,
                model_complexity=options.model_complexity,
                smooth_landmarks=options.smooth_landmarks,
                enable_segmentation=False,
                min_detection_confidence=options.min_detection_confidence,
                min_tracking_confidence=options.min_tracking_confidence,
            )
        except BaseException:
            self._held.close()
            raise

    def _prepare(self, bgr: np.ndarray) -> np.ndarray:
        cv2 = self._cv2
        if self.view == "mirror":
            bgr = cv2.flip(bgr, 1)
        elif self.view == "pad":
            h, w = bgr.shape[:2]
            py, px = int(round(h * _PAD)), int(round(w * _PAD))
            bgr = cv2.copyMakeBorder(bgr, py, py, px, px, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def process(self, bgr: np.ndarray) -> ViewResult:
        """Landmarks of the one person MediaPipe tracks in ``bgr`` (H, W, 3) uint8."""
        if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
            raise ValueError(f"expected a BGR (H, W, 3) image, got {None if bgr is None else bgr.shape}")
        rgb = self._prepare(bgr)
        rgb.flags.writeable = False
        try:
            with quiet_stderr(self.options.quiet and self._quiet_left != 0):
                res = self._pose.process(rgb)
        finally:
            self._held.close()
        if res.pose_landmarks is None or res.pose_world_landmarks is None:
            return ViewResult(None, None)
        if self._quiet_left < 0:
            self._quiet_left = _QUIET_AFTER_DETECTION
        elif self._quiet_left > 0:
            self._quiet_left -= 1
        world = np.array([(p.x, p.y, p.z, p.visibility) for p in res.pose_world_landmarks.landmark], np.float32)
        image = np.array([(p.x, p.y, p.z, p.visibility) for p in res.pose_landmarks.landmark], np.float32)
        return self._unview(world, image, bgr.shape)

    def _unview(self, world: np.ndarray, image: np.ndarray, shape: tuple[int, ...]) -> ViewResult:
        if self.view == "mirror":
            world, image = world[_MIRROR], image[_MIRROR]
            world[:, 0] *= -1.0
            image[:, 0] = 1.0 - image[:, 0]
        elif self.view == "pad":
            h, w = shape[:2]
            py, px = int(round(h * _PAD)), int(round(w * _PAD))
            image[:, 0] = (image[:, 0] * (w + 2 * px) - px) / w
            image[:, 1] = (image[:, 1] * (h + 2 * py) - py) / h
        np.clip(world[:, 3], 0.0, 1.0, out=world[:, 3])
        np.clip(image[:, 3], 0.0, 1.0, out=image[:, 3])
        return ViewResult(world, image)

    def close(self) -> None:
        pose, self._pose = getattr(self, "_pose", None), None
        try:
            if pose is not None:
                with quiet_stderr(self.options.quiet and self._quiet_left != 0):
                    pose.close()
        finally:
            self._held.close()

    def __enter__(self) -> MediaPipePose:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ----------------------------------------------------------------------------- estimator


@dataclass
class LivePose:
    """One frame's pose. ``joints`` (P, 33, 4) float32 world metres + visibility, P = 0
    (no pose, or SST-A discarded the frame) or 1; ``image`` (P, 33, 4) normalised image
    landmarks; ``ms`` wall time of the estimation (all views) in milliseconds;
    ``confidence`` the SST-A confidence (None without fusion); ``views`` each view's
    world landmarks (33, 4) or None; ``choice`` (33,) view chosen per joint (fusion)."""

    joints: np.ndarray
    image: np.ndarray
    ms: float
    confidence: float | None = None
    views: list[np.ndarray | None] | None = None
    choice: np.ndarray | None = None
    discarded: bool = False

    @property
    def detected(self) -> bool:
        return self.joints.shape[0] > 0

    @property
    def tracks(self) -> list[int]:
        """Persistent person ids (MediaPipe follows one person: [0] or [])."""
        return [0] if self.detected else []


def _empty() -> np.ndarray:
    return np.zeros((0, 33, 4), np.float32)


class PoseEstimator:
    """MediaPipe Pose on one view, or SST-A fusion of several views of each frame.

    ``views``: ("orig",) = plain MediaPipe; more views = SST-A over them (``gamma`` is the
    confidence threshold; a discarded frame is reported with P = 0 and ``discarded``).
    ``parallel``: run the views in threads (MediaPipe releases the GIL while it runs).
    """

    def __init__(self, options: PoseOptions = PoseOptions(), views: Sequence[str] = ("orig",),
                 gamma: float = DEFAULT_GAMMA, parallel: bool = True) -> None:  # fmt: skip
        self.views = parse_views(views)
        self.options = options
        self._graphs = [MediaPipePose(options, v) for v in self.views]
        self.fusion = SSTA.for_layout(LAYOUT, gamma) if len(self.views) > 1 else None
        self._pool = ThreadPoolExecutor(len(self.views)) if parallel and len(self.views) > 1 else None
        self.discarded = 0

    def process(self, bgr: np.ndarray) -> LivePose:
        start = time.perf_counter()
        if self._pool is not None:
            results = list(self._pool.map(lambda g: g.process(bgr), self._graphs))
        else:
            results = [g.process(bgr) for g in self._graphs]
        ms = (time.perf_counter() - start) * 1000.0
        if self.fusion is None:
            r = results[0]
            if r.world is None:
                return LivePose(_empty(), _empty(), ms)
            return LivePose(r.world[None], r.image[None], ms)
        return self._fuse(results, ms)

    def _fuse(self, results: list[ViewResult], ms: float) -> LivePose:
        E = len(results)
        nan = np.full((33, 4), np.nan, np.float32)
        world = np.stack([r.world if r.world is not None else nan for r in results])  # (E, 33, 4)
        image = np.stack([r.image if r.image is not None else nan for r in results])
        views = [r.world for r in results]
        if all(r.world is None for r in results):
            self.fusion.reset()
            return LivePose(_empty(), _empty(), ms, 0.0, views)
        fused, conf = self.fusion.push(world[..., :3])
        choice = self.fusion.last_choice
        if fused is None:
            self.discarded += 1
            return LivePose(_empty(), _empty(), ms, conf, views, choice, discarded=True)
        idx = np.clip(choice, 0, E - 1)
        j = np.arange(33)
        joints = world[idx, j].copy()
        joints[:, :3] = fused
        return LivePose(joints[None].astype(np.float32), image[idx, j][None], ms, conf, views, choice)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for g in self._graphs:
            g.close()

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
