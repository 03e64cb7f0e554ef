"""In-memory skeleton sequences and datasets: what every loader returns.

A ``Sequence`` is one recording: joints ``(T, P, J, C)`` float32 in metres (NaN =
missing joint; a whole NaN person-frame = person absent), its layout name, its
frame timestamps in seconds and its labels. A ``Dataset`` is an ordered set of
sequences plus class names, the background id and splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .labels import Labels
from .layouts import get_layout

__all__ = ["Dataset", "Sequence", "DataError"]


class DataError(ValueError):
    """A data file is malformed: the message names the file (and line when known)."""


@dataclass
class Sequence:
    """One recording.

    ``t`` holds each row's capture time in seconds from the first row (uniform
    ``k / fps`` when the source has no timestamps). ``fps`` is the nominal rate.
    """

    id: str
    joints: np.ndarray
    layout: str
    fps: float
    t: np.ndarray
    labels: Labels = field(default_factory=lambda: Labels("none"))
    units: str = "m"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        j = self.joints
        if j.ndim != 4 or j.shape[-1] not in (3, 4):
            raise ValueError(f"sequence {self.id!r}: joints must be (T, P, J, 3|4), got {j.shape}")
        lay = get_layout(self.layout)
        if j.shape[2] != lay.num_joints:
            raise ValueError(
                f"sequence {self.id!r}: layout {lay.name} has {lay.num_joints} joints, array has {j.shape[2]}"
            )
        if self.t is None:
            self.t = np.arange(len(j), dtype=np.float64) / self.fps
        self.t = np.asarray(self.t, dtype=np.float64)
        if self.t.shape != (len(j),):
            raise ValueError(f"sequence {self.id!r}: {len(self.t)} timestamps for {len(j)} frames")

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def num_persons(self) -> int:
        return int(self.joints.shape[1])

    @property
    def duration_s(self) -> float:
        return float(self.t[-1] - self.t[0]) if self.num_frames else 0.0

    def persons_present(self) -> int:
        """Largest number of persons present in any frame."""
        if self.num_frames == 0:
            return 0
        present = np.isfinite(self.joints[..., :3]).any(axis=(2, 3))  # (T, P)
        return int(present.sum(axis=1).max())


@dataclass
class Dataset:
    """An ordered collection of sequences with shared class names and layout."""

    name: str
    sequences: dict[str, Sequence]
    classes: dict[int, str]
    background_id: int | None = None
    label_kind: str = "none"
    splits: dict[str, list[str]] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self):
        return iter(self.sequences.values())

    def __getitem__(self, seq_id: str) -> Sequence:
        try:
            return self.sequences[seq_id]
        except KeyError:
            raise KeyError(f"dataset {self.name!r} has no sequence {seq_id!r}") from None

    @property
    def layout(self) -> str:
        return ",".join(sorted({s.layout for s in self}))

    @property
    def class_ids(self) -> list[int]:
        """Action class ids, sorted, background excluded: the model's output order."""
        return sorted(c for c in self.classes if c != self.background_id)

    def restrict(self, class_ids) -> Dataset:
        """A dataset view that knows only the action classes ``class_ids``: instances of
        every other class become background (their frames stay in the recordings).
        Raises KeyError naming ids the dataset does not define."""
        ids = sorted({int(c) for c in class_ids})
        unknown = [c for c in ids if c not in self.classes or c == self.background_id]
        if unknown:
            raise KeyError(f"dataset {self.name!r} has no action class {', '.join(map(str, unknown))}; "
                           f"its classes are {', '.join(map(str, self.class_ids))}")
        if not ids:
            raise KeyError(f"dataset {self.name!r}: no classes given to keep")
        seqs = {k: replace(s, labels=s.labels.restrict(ids)) for k, s in self.sequences.items()}
        classes = {c: n for c, n in self.classes.items() if c in ids or c == self.background_id}
        return Dataset(name=self.name, sequences=seqs, classes=classes, background_id=self.background_id,
                       label_kind=self.label_kind, splits=self.splits, meta=self.meta)  # fmt: skip

    def split(self, name: str) -> Dataset:
        """A dataset view holding only the sequences of split ``name`` (e.g. 'train')."""
        if name not in self.splits:
            raise KeyError(f"dataset {self.name!r} has no split {name!r}; has {sorted(self.splits)}")
        keep = [s for s in self.splits[name] if s in self.sequences]
        return Dataset(
            name=f"{self.name}:{name}",
            sequences={k: self.sequences[k] for k in keep},
            classes=self.classes,
            background_id=self.background_id,
            label_kind=self.label_kind,
            splits={name: keep},
            meta=self.meta,
        )
