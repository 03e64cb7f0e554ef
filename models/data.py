"""Training data: skelact ``Dataset`` -> model-ready clips -> padded torch batches.

Every sequence goes through ``stream.prepare.prepare_sequence`` (canonical joints,
resampling to the model fps, per-frame normalisation): the same code the runtime runs
frame by frame, so training and serving see identical inputs. Labels are carried to the
model frames through ``Prepared.src`` (the source row nearest each model frame).

Targets, in model output order (K action classes in sorted class-id order, background K):

* video: (K+1,) multi-hot of the classes present, background always 1;
* frame (full supervision only): (T,) class index per frame, K where no action.
* points / segments (point / segment supervision): (T,) class index at labelled frames
  (a point, or every frame of a labelled segment), -1 elsewhere.

Sequences longer than ``crop_frames`` are cut into crops that tile them, at a random
phase each epoch (deterministic in (seed, epoch, sequence)). A crop keeps the whole
video's label set: under video-level supervision that is the label we are given (a crop
may miss an action; that is label noise MIL has to absorb, the price of bounded memory
on CPU).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from ..stream.labels import Labels, point_rng
from ..stream.normalize import NormConfig
from ..stream.prepare import prepare_sequence
from ..stream.sequence import Dataset

__all__ = [
    "Clip",
    "ClipDataset",
    "SupervisionError",
    "check_supervision",
    "class_list",
    "collate",
    "dataset_fps",
    "dataset_persons",
    "has_frame_labels",
    "prepare_clips",
]

log = logging.getLogger(__name__)


class SupervisionError(ValueError):
    """The dataset's labels cannot support the requested supervision (message says why)."""


@dataclass
class Clip:
    """One prepared sequence. ``offset`` is its first frame in the flat frame index that
    the FLR pseudo-label bank uses (frames of all clips concatenated)."""

    id: str
    x: np.ndarray  # (T, M, V, C) float32
    video_target: np.ndarray  # (K+1,) float32, background (last) = 1
    frame_target: np.ndarray | None  # (T,) int64 in 0..K, or None without frame labels
    offset: int = 0
    points: np.ndarray | None = None  # (T,) int64: class index at a labelled point, -1 elsewhere
    segments: np.ndarray | None = None  # (T,) int64: class index inside a labelled segment, -1 elsewhere
    segment_list: list | None = None  # [(class_id, start, end)] the labelled segments, dataset frames

    @property
    def num_frames(self) -> int:
        return int(self.x.shape[0])


def class_list(ds: Dataset) -> list[dict]:
    """[{id, name}] of the action classes in model output order (background excluded)."""
    return [{"id": int(c), "name": str(ds.classes[c])} for c in ds.class_ids]


def dataset_fps(ds: Dataset) -> float:
    """The dataset's nominal frame rate: its metadata fps, else the median sequence fps."""
    fps = ds.meta.get("fps")
    if fps:
        return float(fps)
    rates = [s.fps for s in ds if s.fps > 0]
    return float(np.median(rates)) if rates else 30.0


def dataset_persons(ds: Dataset, cap: int = 2) -> int:
    """Persons the model should see jointly: the most present in one frame, 1..cap."""
    most = max((s.persons_present() for s in ds), default=1)
    return int(min(max(most, 1), cap))


def has_frame_labels(labels: Labels) -> bool:
    """Per-frame classes are available: given (frame) or painted from intervals."""
    return labels.kind in ("frame", "interval")


def check_supervision(ds: Dataset, supervision: str, segments_file: bool = False) -> None:
    """Raise SupervisionError unless every sequence carries the labels ``supervision`` needs
    (``segment``: frame or interval labels to sample segments from, or video-level labels
    when the segments come from a file)."""
    if not ds.class_ids:
        raise SupervisionError(f"dataset {ds.name!r} defines no action classes")
    need = {"full": "frame", "point": "point", "segment": "frame"}.get(supervision, "video")
    if supervision == "segment" and segments_file:
        need = "video"
    bad = [
        s.id
        for s in ds
        if not (has_frame_labels(s.labels) if need == "frame" else s.labels.has(need))
    ]
    if bad:
        kinds = sorted({s.labels.kind for s in ds if s.id in set(bad)})
        hint = (" (use --supervision video: point and video labels give video-level labels)"
                if supervision == "full" and set(kinds) <= {"point", "video"} else "")  # fmt: skip
        if supervision == "segment":
            hint = " (segments are sampled inside intervals; or give them with --segments FILE)"
        raise SupervisionError(
            f"dataset {ds.name!r}: --supervision {supervision} needs "
            f"{ {'frame': 'frame or interval', 'point': 'point (or interval)'}.get(need, 'video-level (or stronger)')} "
            "labels, but "
            f"{len(bad)} of {len(ds)} sequences have only {'/'.join(kinds)} labels "
            f"(e.g. {bad[0]!r}){hint}"
        )


def _model_frames(seq, prep, start: int, end: int) -> np.ndarray:
    """Model frames whose source row lies in dataset frames ``start..end`` (inclusive); an
    extent shorter than one model frame maps to the model frame nearest its centre."""
    idx = np.flatnonzero((prep.src >= start) & (prep.src <= end))
    if idx.size == 0 and len(prep.t):
        at = float(seq.t[min((start + end) // 2, len(seq.t) - 1)])
        idx = np.array([int(np.argmin(np.abs(prep.t - at)))])
    return idx


def _segment_targets(seq, prep, index: dict, segment_len: int, per_instance: int, seed: int,
                     given: list | None) -> tuple[np.ndarray, list]:  # fmt: skip
    """(T,) segment targets and the labelled segments in dataset frames: ``given`` (from a
    segments file, dataset frames) or sampled in model frames inside each instance
    (``models.segment.sample_segments``, generator ``segment_rng(seed, seq.id)``)."""
    from .segment import sample_segments, segment_rng

    out = np.full(len(prep.x), -1, dtype=np.int64)
    spans: list = []
    if given is not None:
        for c, s, e in given:
            if e >= seq.num_frames:
                raise SupervisionError(f"segments file: sequence {seq.id!r} has {seq.num_frames} frames, "
                                       f"segment {s}..{e} ends after them")  # fmt: skip
            if c not in index:
                raise SupervisionError(f"segments file: sequence {seq.id!r}: class {c} is not a class of the dataset")
            out[_model_frames(seq, prep, s, e)] = index[c]
            spans.append((int(c), int(s), int(e)))
        return out, spans
    ext = []
    for iv in seq.labels.intervals:
        if iv.class_id in index:
            m = _model_frames(seq, prep, iv.start, iv.end)
            if m.size:
                ext.append((iv.class_id, int(m[0]), int(m[-1])))
    for c, s, e in sample_segments(ext, segment_len, per_instance, segment_rng(seed, seq.id)):
        out[s : e + 1] = index[c]
        spans.append((c, int(prep.src[s]), int(prep.src[e])))
    return out, spans


def prepare_clips(ds: Dataset, norm: NormConfig, fps: float, class_ids: list[int],
                  frame_labels: bool = False, point_at: str | None = None, seed: int = 0,
                  segment_len: int | None = None, segments_per_instance: int = 1,
                  segments: dict | None = None) -> list[Clip]:  # fmt: skip
    """Preprocess every sequence of ``ds`` (empty ones are skipped with a warning).

    ``frame_labels``: also build per-frame targets (needs frame or interval labels;
    sequences without them get ``frame_target = None``). ``point_at``: also build point
    targets: the dataset's own action points, or one point per interval drawn ``point_at``
    (gaussian/uniform/center) with a generator seeded by (``seed``, sequence id); each
    point goes to the model frame nearest its time. ``segment_len``: also build segment
    targets: ``segments[seq.id]`` (a segments file, dataset frames) when ``segments`` is
    given, else ``segments_per_instance`` segments of ``segment_len`` model frames sampled
    inside each interval with ``segment_rng(seed, seq.id)`` (``models/segment.py``);
    ``Clip.segment_list`` keeps them in dataset frames.
    """
    index = {c: k for k, c in enumerate(class_ids)}
    k_bg = len(class_ids)
    clips: list[Clip] = []
    offset = 0
    for seq in ds:
        if seq.num_frames == 0:
            log.warning("sequence %s has no frames; skipped", seq.id)
            continue
        prep = prepare_sequence(seq, norm, fps)
        video = np.zeros(k_bg + 1, dtype=np.float32)
        if seq.labels.has("video"):
            for c in seq.labels.video:
                if c in index:
                    video[index[c]] = 1.0
        video[k_bg] = 1.0
        target = None
        if frame_labels and has_frame_labels(seq.labels):
            ids = np.asarray(seq.labels.frames(seq.num_frames), dtype=np.int64)[prep.src]
            lut = {int(c): index.get(int(c), k_bg) for c in np.unique(ids)}  # others -> background
            target = np.array([lut[int(c)] for c in ids], dtype=np.int64)
        points = None
        if point_at is not None and seq.labels.has("point"):
            pts = seq.labels.points if seq.labels.kind == "point" else seq.labels.to_points(
                point_at, point_rng(seed, seq.id))  # fmt: skip
            points = np.full(len(prep.x), -1, dtype=np.int64)
            for pt in pts:
                if pt.class_id in index and len(prep.t):
                    at = float(seq.t[min(pt.frame, len(seq.t) - 1)])
                    points[int(np.argmin(np.abs(prep.t - at)))] = index[pt.class_id]
        seg = spans = None
        if segment_len is not None:
            given = None if segments is None else segments.get(seq.id, [])
            if given:  # classes only a segments file names still count as present
                for c, _s, _e in given:
                    if c in index:
                        video[index[c]] = 1.0
            seg, spans = _segment_targets(seq, prep, index, segment_len, segments_per_instance, seed, given)
        clips.append(Clip(seq.id, prep.x, video, target, offset, points, seg, spans))
        offset += len(prep.x)
    return clips


class ClipDataset(torch.utils.data.Dataset):
    """One epoch = every clip cut into crops of ``crop_frames`` model frames that tile it.

    A clip no longer than ``crop_frames`` is one item. A longer one is tiled with period
    ``crop_frames`` from a random phase (so crop boundaries move every epoch), the first
    and last tiles shifted inwards to full length: every frame is seen once or twice per
    epoch, which keeps epochs comparable across datasets and gives the FLR bank a
    prediction for every frame each epoch. Call ``set_epoch(e)`` before each epoch: the
    phases and person-slot swaps come from ``np.random.default_rng([seed, e, i])``, so a
    run (and a resumed run) is reproducible.
    """

    def __init__(
        self, clips: list[Clip], crop_frames: int, seed: int = 0, swap_persons: bool = False,
        augment=None, velocity_gain: float = 10.0,
    ) -> None:
        self.clips = clips
        self.crop_frames = int(crop_frames)
        self.seed = int(seed)
        self.swap_persons = swap_persons
        self.augment = augment  # an AugmentConfig, or None
        self.velocity_gain = velocity_gain
        self.set_epoch(0)

    def _starts(self, i: int) -> list[int]:
        t, n = self.clips[i].num_frames, self.crop_frames
        if t <= n:
            return [0]
        phase = int(np.random.default_rng([self.seed, self.epoch, i]).integers(0, n))
        tiles = range(phase - n, t, n)  # [s, s + n) covers 0 .. t - 1
        return sorted({min(max(s, 0), t - n) for s in tiles})

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.items = [(i, s) for i in range(len(self.clips)) for s in self._starts(i)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, j: int) -> dict:
        i, start = self.items[j]
        clip = self.clips[i]
        x = clip.x[start : start + self.crop_frames]
        if self.swap_persons and x.shape[1] > 1:
            rng = np.random.default_rng([self.seed, self.epoch, i, start])
            x = x[:, rng.permutation(x.shape[1])]
        src = np.arange(len(x))
        if self.augment is not None:
            from .augment import augment

            x, src = augment(x, np.random.default_rng([self.seed, self.epoch, i, start, 3]), self.augment,
                             self.velocity_gain)  # fmt: skip
        item = {"x": torch.from_numpy(np.ascontiguousarray(x)), "video": torch.from_numpy(clip.video_target),
                "index": i, "start": start, "offset": clip.offset + start}  # fmt: skip
        if clip.frame_target is not None:
            item["frame"] = torch.from_numpy(np.ascontiguousarray(clip.frame_target[start + src]))
        if clip.points is not None:
            item["points"] = torch.from_numpy(np.ascontiguousarray(clip.points[start + src]))
        if clip.segments is not None:
            item["segments"] = torch.from_numpy(np.ascontiguousarray(clip.segments[start + src]))
        return item


def collate(items: list[dict]) -> dict:
    """Pad clips on the right to the longest: x (N, T, M, V, C), mask (N, T) bool,
    video (N, K+1), frame (N, T) int64 (background where padded; only if all have it),
    offset (N,) int64 (flat frame index of each clip's first frame), points / segments (N, T)
    int64 (class index at labelled points / segment frames, -1 elsewhere; when any clip has
    them)."""
    t = max(it["x"].shape[0] for it in items)
    n = len(items)
    x = torch.zeros((n, t, *items[0]["x"].shape[1:]), dtype=torch.float32)
    mask = torch.zeros((n, t), dtype=torch.bool)
    for j, it in enumerate(items):
        x[j, : len(it["x"])] = it["x"]
        mask[j, : len(it["x"])] = True
    out = {"x": x, "mask": mask, "video": torch.stack([it["video"] for it in items]),
           "offset": torch.tensor([it["offset"] for it in items], dtype=torch.int64),
           "index": torch.tensor([it["index"] for it in items], dtype=torch.int64)}  # fmt: skip
    for key in ("points", "segments"):  # clips without them (negatives) have none: -1
        if any(key in it for it in items):
            lab = torch.full((n, t), -1, dtype=torch.int64)
            for j, it in enumerate(items):
                if key in it:
                    lab[j, : len(it[key])] = it[key]
            out[key] = lab
    if all("frame" in it for it in items):
        bg = items[0]["video"].shape[0] - 1
        frame = torch.full((n, t), bg, dtype=torch.int64)
        for j, it in enumerate(items):
            frame[j, : len(it["frame"])] = it["frame"]
        out["frame"] = frame
    return out
