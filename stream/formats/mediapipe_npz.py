"""MediaPipe Pose output saved as ``<video>.pose.npz`` (one person, no labels).

Keys read: ``world`` (T, 33, 3) float32 world landmarks in metres (hip-centred, x right,
y down; layout ``mediapipe33``), ``landmarks`` (T, 33, 4) image landmarks whose last
channel is visibility in [0, 1], ``t`` (T,) seconds, ``fps`` and ``detected`` (T,) bool.
The joints are the world landmarks with P = 1, NaN in frames where no pose was
detected. Visibility is NOT a 4th joint channel: it is kept as ``meta['visibility']``
(T, 1, 33) float32 (NaN where not detected), so that ``joints`` stays (T, P, J, 3) like
every other reader's; mask low-visibility joints to NaN yourself if you want to.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..sequence import DataError, Dataset, Sequence

__all__ = ["is_mediapipe_npz", "load_mediapipe", "read_mediapipe_pose"]

_REQUIRED = ("world", "landmarks", "t", "fps")
_SUFFIX = ".pose.npz"


def is_mediapipe_npz(path: Path) -> bool:
    """Whether ``path`` is an npz archive holding MediaPipe ``world`` and ``landmarks``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return "world" in z.files and "landmarks" in z.files
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return False


def _seq_id(p: Path) -> str:
    return p.name[: -len(_SUFFIX)] if p.name.lower().endswith(_SUFFIX) else p.stem


def read_mediapipe_pose(path: str | Path) -> Sequence:
    """One ``.pose.npz`` -> ``Sequence`` (T, 1, 33, 3) float32 metres, layout
    ``mediapipe33``, t and fps from the file, no labels."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            missing = [k for k in _REQUIRED if k not in z.files]
            if missing:
                raise DataError(f"{p}: not a MediaPipe pose npz: missing key(s) {', '.join(missing)}")
            world = np.asarray(z["world"], dtype=np.float32)
            lms = np.asarray(z["landmarks"], dtype=np.float32)
            t = np.asarray(z["t"], dtype=np.float64)
            fps = float(np.asarray(z["fps"]))
            detected = np.asarray(z["detected"], dtype=bool) if "detected" in z.files else None
            extra = {k: z[k].item() for k in ("width", "height", "source", "mediapipe_version")
                     if k in z.files and z[k].ndim == 0}  # fmt: skip
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError, TypeError) as e:
        raise DataError(f"{p}: not a readable npz archive ({e})") from None
    T = len(world)
    if world.shape != (T, 33, 3):
        raise DataError(f"{p}: 'world' has shape {world.shape}, expected (T, 33, 3)")
    if lms.shape != (T, 33, 4):
        raise DataError(f"{p}: 'landmarks' has shape {lms.shape}, expected ({T}, 33, 4)")
    if t.shape != (T,):
        raise DataError(f"{p}: 't' has shape {t.shape}, expected ({T},)")
    if detected is None:
        detected = np.isfinite(world).any(axis=(1, 2))
    elif detected.shape != (T,):
        raise DataError(f"{p}: 'detected' has shape {detected.shape}, expected ({T},)")
    if not np.isfinite(fps) or fps <= 0:
        raise DataError(f"{p}: fps must be positive, got {fps}")
    if T and (not np.isfinite(t).all() or (np.diff(t) < 0).any()):
        raise DataError(f"{p}: 't' must be finite and non-decreasing")
    world[~detected] = np.nan
    vis = lms[..., 3].copy()
    vis[~detected] = np.nan
    return Sequence(
        id=_seq_id(p),
        joints=world[:, None],
        layout="mediapipe33",
        fps=fps,
        t=t - t[0] if T else t,
        meta={"source": str(p), "visibility": vis[:, None], "detected": detected,
              "image_landmarks": lms[:, None], **extra},
    )  # fmt: skip


def load_mediapipe(path: str | Path) -> Dataset:
    """A ``.pose.npz`` file or a folder of them -> ``Dataset`` (label kind 'none')."""
    p = Path(path)
    files = sorted(p.glob("*" + _SUFFIX)) if p.is_dir() else [p]
    if not files:
        raise DataError(f"{p}: no {_SUFFIX} files")
    seqs = {s.id: s for s in (read_mediapipe_pose(f) for f in files)}
    fps = sorted({s.fps for s in seqs.values()})
    return Dataset(
        name="mediapipe",
        sequences=seqs,
        classes={},
        background_id=None,
        label_kind="none",
        meta={"path": str(p), "format": "mediapipe", "fps": fps[0] if len(fps) == 1 else None,
              "fps_note": "per-file fps from the video container" if len(fps) > 1 else ""},
    )  # fmt: skip
