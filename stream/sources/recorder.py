"""Record published pose frames as a training-data sequence (``skelact publish --record``).

Whatever a source publishes (replay, video, webcam, mocap) can be kept and saved in the
shared npz dataset folder format (``skelact.stream.formats.npz``), which every loader and
``skelact train`` read. Mapping of the frames to a ``Sequence``:

* one row per *published* frame (dropped frames leave no row; ``t`` keeps the real
  capture times, so the gaps are visible in ``time_ms``);
* person slots: slot ``k`` holds the ``k``-th smallest track id ever seen in the stream;
  a frame where a track is absent (or P = 0) stores an all-NaN person, as the other
  loaders do;
* only x, y, z are stored (the shared format is (T, P, J, 3)); a confidence channel
  (C = 4, e.g. MediaPipe visibility) goes to a side file ``confidence.npz`` in the same
  folder (one (T, P, J) float16 array per sequence id), which loaders ignore.

Path mapping (``record_folder``): the format is a folder, so ``NAME.npz`` is written as
the folder ``NAME/`` (the ``.npz`` suffix is dropped); any other path is the folder
itself. If the folder already holds a dataset with the same layout, the recording is
*added* to it (its id made unique with ``_2``, ``_3``, ...), so several sessions build
one dataset.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..formats.npz import is_npz_dataset, load_npz_dataset, save_npz_dataset
from ..layouts import get_layout
from ..sequence import DataError, Dataset, Sequence

__all__ = ["Recorder", "record_folder", "save_recording"]

log = logging.getLogger(__name__)


def record_folder(path: str | Path) -> Path:
    """Folder a ``--record`` path is written to: ``x.npz`` -> ``x/``; others unchanged."""
    p = Path(path)
    return p.with_suffix("") if p.suffix.lower() == ".npz" else p


class Recorder:
    """Collects frames ``(seq, t, joints (P, J, C), tracks)`` of one stream in memory.

    ``layout``: the frames' layout; ``fps``: nominal rate (None = estimated from ``t``);
    ``units``: "m" or "norm". Memory: about T * P * J * 16 bytes (float32 + confidence).
    """

    def __init__(self, stream: str, layout: str, fps: float | None = None, units: str = "m") -> None:
        self.stream = stream
        self.layout = get_layout(layout).name
        self.num_joints = get_layout(layout).num_joints
        self.fps = fps
        self.units = units
        self._rows: list[tuple[int, float, np.ndarray, tuple[int, ...]]] = []
        self._tracks: set[int] = set()
        self._has_conf = False

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, seq: int, t: float, joints: np.ndarray, tracks: list[int] | None = None) -> None:
        """Keep one published frame (``joints`` is copied)."""
        j = np.array(joints, dtype=np.float32, copy=True)
        if j.ndim != 3 or j.shape[1] != self.num_joints or j.shape[2] not in (3, 4):
            raise ValueError(f"joints must be (P, {self.num_joints}, 3|4), got {j.shape}")
        tr = tuple(range(j.shape[0])) if tracks is None else tuple(int(x) for x in tracks)
        if len(tr) != j.shape[0]:
            raise ValueError(f"{len(tr)} tracks for {j.shape[0]} persons")
        self._has_conf |= j.shape[2] == 4
        self._tracks.update(tr)
        self._rows.append((int(seq), float(t), j, tr))

    def to_sequence(self, seq_id: str | None = None) -> tuple[Sequence, np.ndarray | None]:
        """(Sequence (T, P, J, 3) float32 metres, confidence (T, P, J) or None)."""
        if not self._rows:
            raise DataError(f"stream {self.stream!r}: nothing was published, nothing to record")
        slots = {tr: k for k, tr in enumerate(sorted(self._tracks))}
        T, P, J = len(self._rows), max(1, len(slots)), self.num_joints
        xyz = np.full((T, P, J, 3), np.nan, np.float32)
        conf = np.full((T, P, J), np.nan, np.float32) if self._has_conf else None
        t = np.empty(T, np.float64)
        seqs = np.empty(T, np.int64)
        for i, (s, ti, j, tr) in enumerate(self._rows):
            t[i], seqs[i] = ti, s
            for p, track in enumerate(tr):
                xyz[i, slots[track]] = j[p, :, :3]
                if conf is not None and j.shape[2] == 4:
                    conf[i, slots[track]] = j[p, :, 3]
        fps = self.fps
        if not fps:
            span = t[-1] - t[0]
            fps = (T - 1) / span if T > 1 and span > 0 else 30.0
        seq = Sequence(id=seq_id or self.stream, joints=xyz, layout=self.layout, fps=float(fps), t=t - t[0],
                       units=self.units, meta={"seq": seqs, "tracks": sorted(slots)})  # fmt: skip
        return seq, conf

    def save(self, path: str | Path, seq_id: str | None = None, extra_meta: dict | None = None) -> tuple[Path, str]:
        """Write (or add to) the dataset folder for ``path``; returns (folder, sequence id)."""
        seq, conf = self.to_sequence(seq_id)
        return save_recording(seq, path, confidence=conf, extra_meta=extra_meta)


def _unique_id(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    k = 2
    while f"{base}_{k}" in taken:
        k += 1
    return f"{base}_{k}"


def save_recording(seq: Sequence, path: str | Path, confidence: np.ndarray | None = None,
                   extra_meta: dict | None = None) -> tuple[Path, str]:  # fmt: skip
    """Save one recorded sequence into the dataset folder ``record_folder(path)``,
    adding it to an existing dataset of the same layout. Returns (folder, sequence id)."""
    folder = record_folder(path)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder}: exists and is not a folder (a recording is a dataset folder)")
    sequences: dict[str, Sequence] = {}
    meta: dict = {}
    if is_npz_dataset(folder):
        old = load_npz_dataset(folder)
        if old.layout != seq.layout:
            raise DataError(f"{folder}: holds layout {old.layout!r}, this recording is {seq.layout!r}; "
                            "record into another folder")  # fmt: skip
        sequences = dict(old.sequences)
        meta = {"fps": old.meta.get("fps")}
    elif folder.is_dir() and any(folder.iterdir()):
        raise DataError(f"{folder}: exists, is not empty and is not an npz dataset folder")
    sid = _unique_id(seq.id, set(sequences))
    if sid != seq.id:
        seq = Sequence(sid, seq.joints, seq.layout, seq.fps, seq.t, seq.labels, seq.units, seq.meta)
    sequences[sid] = seq
    ds = Dataset(name=folder.name, sequences=sequences, classes={}, background_id=None, label_kind="none",
                 meta={"fps": meta.get("fps") or seq.fps})  # fmt: skip
    save_npz_dataset(ds, folder, extra_meta={"source": "skelact publish --record", **(extra_meta or {})})
    conf_path = folder / "confidence.npz"
    confs: dict[str, np.ndarray] = {}
    if conf_path.is_file():
        with np.load(conf_path, allow_pickle=False) as z:
            confs = {k: z[k] for k in z.files if k in sequences}
    if confidence is not None:
        confs[sid] = confidence.astype(np.float16)
    if confs:
        np.savez_compressed(conf_path, **confs)
    log.info("recorded %d frames as sequence %r in %s", seq.num_frames, sid, folder)
    return folder, sid
