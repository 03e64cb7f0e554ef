"""Evaluation of action detections against ground truth (numpy only, no torch).

What ``skelact eval`` computes, as a library: read the ground truth, the predictions
and optional frame scores, then score them with ``skelact.models.metrics``.

Ground truth (:func:`load_gt`): a ``labels.csv`` (``sequence,class_id,start_frame,
end_frame``, 0-based inclusive frames, extra columns ignored) or a dataset folder/file
readable by ``skelact.stream.formats.load_dataset`` (frame or interval labels).
Predictions (:func:`read_predictions`): a CSV with the same columns plus ``score`` (what
``skelact detect -o x.csv`` writes), or recorded events as JSON Lines (``skelact detect
-o x.jsonl``, ``skelact subscribe --jsonl``): ``start``/``end`` bodies are paired by
``event_id``, stream = sequence id, segment = [start ``seq``, end ``seq``], score =
end's ``peak_score``, class = ``class_id``; other lines (status, scores, ...) are
skipped (:func:`read_events`). Frame scores (:func:`load_scores`): an npz of
``class_ids`` and one (T, K) array per sequence.

:func:`evaluate` returns a dict of fractions in [0, 1]:

* ``detection_map``: {"0.1": ..., ..., "0.5": ..., "avg": mean over the thresholds}
* ``video_map``: mean over classes of the AP of ranking sequences by class score
  (top-k mean of the frame scores, k = max(1, T // 8), else the best predicted
  segment's score; a sequence without one ranks last)
* ``frame_map`` (only with frame scores): per-frame AP, frames of all sequences pooled
* ``per_class``: {"<class_id>": {"name", "ap": {"0.1": ..., "avg": ...}, "num_gt", "num_pred"}}
* ``counts``: sequences, classes, gt_segments, pred_segments, and what was dropped

Classes without ground truth are left out of every mean (see ``skelact.models.metrics``).

Point-level ground truth (MSRC-12: one action point per instance, no extent) is scored
differently: ``load_gt(path, split, points=True)`` returns a ``GroundTruth`` of kind
``"point"`` whose points carry their time (the row time ``seq.t[frame]``, seconds from the
sequence's first row: MSRC-12 rows are irregular, so never ``frame / fps``), and
:func:`evaluate_points` scores the start events of an events JSONL
(:func:`read_start_events`) against them with ``skelact.models.metrics.point_f1``, both at
the **decision time** ``t + delay_s`` (when the runtime knew) and at the event's ``t`` (the
back-dated start). Its dict (JSON-ready: undefined values are ``None``):

* ``point_f1``: {window key "-0.5/+0.5", ...: {``f1`` (micro, over all points and events),
  ``macro_f1`` (mean per-class F1 over classes with points), ``precision``, ``recall``,
  ``tp``, ``num_points``, ``num_events``, ``median_offset_s`` (median decision time - point
  time of the matched pairs)}} at decision time
* ``point_f1_at_t``: the same with the events' ``t`` (offset = ``t`` - point time)
* ``point_per_class``: {"<class_id>": {"name", "num_points", "num_events", "f1",
  "precision", "recall", "f1_at_t", "precision_at_t", "recall_at_t"}}, each metric a
  {window key: value} dict; classes with points or events only
* ``point_windows``: [[before_s, after_s], ...]: an event matches a point when
  ``-before_s <= event time - point time <= after_s``
* ``counts``: sequences, sequences_with_points, classes, points, start_events_read,
  start_events (scored), events_outside_sequences, events_other_classes
Sequences: a dataset (or a split) fixes the evaluated set, and predictions on other
sequences are ignored with a warning; a plain labels.csv cannot list sequences without
actions, so predictions on sequences absent from it count as false positives. Bad input
raises :class:`InputError` with a message naming the file and line.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..stream.labels import Interval, intervals_to_frame_matrix
from .metrics import (
    DEFAULT_POINT_WINDOWS,
    detection_ap,
    frame_map,
    point_f1,
    tiou_key,
    video_map,
    window_key,
)

__all__ = [
    "GT_COLUMNS",
    "PRED_COLUMNS",
    "GroundTruth",
    "InputError",
    "evaluate",
    "evaluate_points",
    "format_point_table",
    "format_table",
    "is_events_file",
    "load_gt",
    "load_scores",
    "read_events",
    "read_predictions",
    "read_segments_csv",
    "read_start_events",
    "restrict_gt",
]

GT_COLUMNS = ("sequence", "class_id", "start_frame", "end_frame")
PRED_COLUMNS = GT_COLUMNS + ("score",)


class InputError(Exception):
    """Bad input: the message names the file (and line)."""


@dataclass
class GroundTruth:
    """Ground-truth segments ``(sequence, class_id, start, end)`` (inclusive frames), or
    (``kind == "point"``) action points ``(sequence, class_id, frame, time_s)``, ``time_s``
    the frame's row time in seconds from the sequence's first row.

    ``sequences``: the evaluated set when known (dataset, or a split), else None.
    ``lengths``: frames per sequence when known. ``names``: class id -> name.
    """

    segments: list[tuple[str, int, int, int]]
    sequences: set[str] | None = None
    lengths: dict[str, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    kind: str = "segment"
    points: list[tuple[str, int, int, float]] = field(default_factory=list)


# ----------------------------------------------------------------- parsing helpers
def _int(value: str, col: str, where: str) -> int:
    try:
        f = float(value)
    except ValueError:
        raise InputError(f"{where}: {col} must be an integer, got {value!r}") from None
    if not math.isfinite(f) or not f.is_integer():
        raise InputError(f"{where}: {col} must be an integer, got {value!r}")
    return int(f)


def _float(value: str, col: str, where: str) -> float:
    try:
        f = float(value)
    except ValueError:
        raise InputError(f"{where}: {col} must be a number, got {value!r}") from None
    if not math.isfinite(f):
        raise InputError(f"{where}: {col} must be finite, got {value!r}")
    return f


def read_segments_csv(path: Path, with_score: bool) -> list[tuple]:
    """Rows of a segments CSV: ``(sequence, class_id, start, end[, score])``; frames are
    0-based inclusive. Raises InputError naming the file and line."""
    need = PRED_COLUMNS if with_score else GT_COLUMNS
    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    out: list[tuple] = []
    with f:
        try:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: empty file (expected a header: {','.join(need)})")
            cols = [h.strip() for h in header]
            missing = [c for c in need if c not in cols]
            if missing:
                raise InputError(f"{path}:1: header lacks column(s) {', '.join(missing)} "
                                 f"(expected {','.join(need)}); got {','.join(cols)}")  # fmt: skip
            idx = {c: cols.index(c) for c in need}
            for row in reader:
                where = f"{path}:{reader.line_num}"
                if not row or all(not x.strip() for x in row):
                    continue
                if len(row) < len(cols):
                    raise InputError(f"{where}: {len(row)} fields, the header has {len(cols)}")
                seq = row[idx["sequence"]].strip()
                if not seq:
                    raise InputError(f"{where}: empty sequence id")
                c = _int(row[idx["class_id"]], "class_id", where)
                s = _int(row[idx["start_frame"]], "start_frame", where)
                e = _int(row[idx["end_frame"]], "end_frame", where)
                if s < 0 or e < s:
                    raise InputError(f"{where}: segment [{s}, {e}] is not 0 <= start_frame <= end_frame")
                if with_score:
                    out.append((seq, c, s, e, _float(row[idx["score"]], "score", where)))
                else:
                    out.append((seq, c, s, e))
        except csv.Error as e:
            raise InputError(f"{path}:{reader.line_num}: malformed CSV ({e})") from None
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not UTF-8 text ({e.reason})") from None
    return out


def _json_file(path: Path) -> dict | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def _csv_header(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return [h.strip() for h in next(csv.reader(f), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []  # read_segments_csv says what is wrong


def load_gt(path: Path, split: str | None = None, points: bool = False) -> GroundTruth:
    """Ground truth from a labels CSV or a dataset (folder or file); ``split`` keeps only
    that split's sequences (a CSV needs a ``splits.json`` beside it). A dataset with point
    labels is refused (detection mAP needs extents) unless ``points``: then the result has
    ``kind == "point"`` and timed points (see :class:`GroundTruth`)."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_file() and path.suffix.lower() == ".csv":
        head = _csv_header(path)
        if "frame" in head and "start_frame" not in head:
            raise InputError(f"{path}: holds point labels (sequence,class_id,frame); give the dataset folder "
                             "instead: the points' times come from its per-row times")  # fmt: skip
        gt = GroundTruth(read_segments_csv(path, with_score=False))
        classes = _json_file(path.parent / "classes.json")
        if classes and isinstance(classes.get("classes"), dict):
            gt.names = {int(k): str(v) for k, v in classes["classes"].items() if str(k).lstrip("-").isdigit()}
        if split is not None:
            splits = _json_file(path.parent / "splits.json")
            if not splits or not isinstance(splits.get(split), list):
                raise InputError(f"{path}: --split {split} needs a splits.json with a {split!r} list beside it")
            gt.sequences = {str(s) for s in splits[split]}
            gt.segments = [g for g in gt.segments if g[0] in gt.sequences]
        return gt
    from ..stream.formats import DataError, load_dataset  # lazy: only datasets need the readers

    try:
        ds = load_dataset(path)
        if split is not None:
            ds = ds.split(split)
    except (DataError, KeyError) as e:
        raise InputError(str(e).strip("'\"")) from None
    segs: list[tuple[str, int, int, int]] = []
    pts: list[tuple[str, int, int, float]] = []
    seg_seq = None
    for seq in ds:
        kind = seq.labels.kind
        if kind in ("frame", "interval"):
            segs += [(seq.id, iv.class_id, iv.start, iv.end) for iv in seq.labels.intervals]
            seg_seq = seg_seq or seq.id
        elif kind == "point" and points:
            pts += [(seq.id, p.class_id, p.frame, float(seq.t[p.frame])) for p in seq.labels.points]
        elif kind != "none":
            raise InputError(f"{path}: sequence {seq.id} has {kind}-level labels; "
                             "detection mAP needs frame or interval labels"
                             + (" (skelact eval scores action points with point F1)" if kind == "point" else ""))
        if pts and seg_seq is not None:
            raise InputError(f"{path}: mixes point labels with frame or interval labels (e.g. sequence "
                             f"{seg_seq}); score one kind at a time")  # fmt: skip
    gt = GroundTruth(segs, sequences={s.id for s in ds}, lengths={s.id: s.num_frames for s in ds},
                     names={int(k): str(v) for k, v in ds.classes.items()})  # fmt: skip
    if pts or (points and ds.label_kind == "point"):
        gt.kind, gt.points = "point", pts
    return gt


def restrict_gt(gt: GroundTruth, class_ids) -> GroundTruth:
    """Ground truth of ``class_ids`` only (segments and points of other classes dropped);
    InputError naming ids the ground truth never labels."""
    keep = {int(c) for c in class_ids}
    seen = {g[1] for g in gt.segments} | {p[1] for p in gt.points}
    absent = sorted(keep - seen)
    if absent:
        raise InputError(f"--classes: class id(s) {', '.join(map(str, absent))} have no ground-truth "
                         f"instance here (labelled: {', '.join(map(str, sorted(seen))) or 'none'})")  # fmt: skip
    return GroundTruth([g for g in gt.segments if g[1] in keep], sequences=gt.sequences, lengths=gt.lengths,
                       names=gt.names, kind=gt.kind, points=[p for p in gt.points if p[1] in keep])  # fmt: skip


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def event_lines(path: Path) -> tuple[list[tuple[int, dict]], int]:
    """The JSON objects of an events JSONL as ``(line number, body)``,
    and how many lines of another protocol version were skipped (a subscriber ignores
    those). InputError names the file and line of anything that is not a JSON object."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason})") from None
    out: list[tuple[int, dict]] = []
    ignored_v = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise InputError(f"{where}: not a JSON object ({e})") from None
        if not isinstance(obj, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        if obj.get("v") != 1:
            ignored_v += 1
            continue
        out.append((lineno, obj))
    return out, ignored_v


def read_events(path: Path, fps: float | None = None) -> tuple[list[tuple], list[str]]:
    """Predicted segments ``(sequence, class_id, start, end, score)`` from an events JSONL,
    plus warnings. Frames are ``seq``, or ``round(t * fps)`` with ``fps``."""
    starts: dict[str, tuple[int, dict]] = {}
    out: list[tuple] = []
    last: dict[str, float] = {}  # stream -> last frame position seen on any line
    warnings: list[str] = []
    orphan_ends = 0

    def pos(obj: dict, where: str) -> int:
        """The frame of an event: its seq, or round(t * fps)."""
        if fps is None:
            v = obj.get("seq")
            if not _is_int(v) or v < 0:
                raise InputError(f"{where}: {obj.get('type')} event needs an integer seq >= 0")
            return v
        v = obj.get("t")
        if not _is_num(v):
            raise InputError(f"{where}: {obj.get('type')} event needs a finite number t (seconds) with --fps")
        return int(round(v * fps))

    lines, ignored_v = event_lines(path)  # other protocol versions are skipped, as a subscriber does
    for lineno, obj in lines:
        where = f"{path}:{lineno}"
        stream = obj.get("stream")
        if isinstance(stream, str):
            if fps is None and _is_int(obj.get("seq")):
                last[stream] = max(last.get(stream, -1), obj["seq"])
            elif fps is not None and _is_num(obj.get("t")):
                last[stream] = max(last.get(stream, -1), int(round(obj["t"] * fps)))
        typ = obj.get("type")
        if typ not in ("start", "end"):
            continue
        eid = obj.get("event_id")
        if not isinstance(eid, str) or not eid:
            raise InputError(f"{where}: {typ} event needs a string event_id")
        if not isinstance(stream, str) or not stream:
            raise InputError(f"{where}: {typ} event needs a string stream")
        if not _is_int(obj.get("class_id")):
            raise InputError(f"{where}: {typ} event needs an integer class_id")
        if typ == "start":
            if eid in starts:
                raise InputError(f"{where}: a second start with event_id {eid!r} (first on line {starts[eid][0]})")
            pos(obj, where)  # validate now, so the error names this line
            starts[eid] = (lineno, obj)
            continue
        if eid not in starts:
            orphan_ends += 1
            continue
        s_line, st = starts.pop(eid)
        if st.get("stream") != stream or st.get("class_id") != obj.get("class_id"):
            raise InputError(f"{where}: end of event {eid!r} has another stream or class than its start "
                             f"(line {s_line})")  # fmt: skip
        if not _is_num(obj.get("peak_score")):
            raise InputError(f"{where}: end event needs a finite number peak_score")
        s, e = pos(st, f"{path}:{s_line}"), pos(obj, where)
        if e < s:
            raise InputError(f"{where}: event {eid!r} ends (frame {e}) before it starts (frame {s})")
        out.append((stream, obj["class_id"], s, e, float(obj["peak_score"])))
    for s_line, st in starts.values():
        s = pos(st, f"{path}:{s_line}")
        e = max(int(last.get(st["stream"], s)), s)
        score = float(st["score"]) if _is_num(st.get("score")) else 0.0
        out.append((st["stream"], st["class_id"], s, e, score))
    if starts:
        warnings.append(f"{path}: {len(starts)} start(s) without an end (first: event_id "
                        f"{next(iter(starts))!r}, line {next(iter(starts.values()))[0]}); "
                        "closed at the last frame seen on their stream, scored with the start's score")  # fmt: skip
    if orphan_ends:
        warnings.append(f"{path}: {orphan_ends} end(s) without a start skipped")
    if ignored_v:
        warnings.append(f"{path}: {ignored_v} line(s) without protocol version v=1 skipped")
    return out, warnings


def read_start_events(path: Path) -> tuple[list[tuple[str, int, float, float]], list[str]]:
    """Start events of an events JSONL as ``(stream, class_id, t, decision_t)`` (seconds on
    the stream's source clock; ``decision_t = t + delay_s``, when the runtime knew), plus
    warnings. Other lines (end, status, scores, other protocol versions) are skipped. Raises
    InputError naming the file and line when a start lacks a finite ``t`` or ``delay_s >= 0``."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if not is_events_file(path):
        raise InputError(f"{path}: point-level ground truth is scored from events JSON Lines (start events with "
                         "t and delay_s, skelact detect -o x.jsonl); a segments CSV has no decision times")
    out: list[tuple[str, int, float, float]] = []
    lines, ignored_v = event_lines(path)  # other protocol versions are skipped, as a subscriber does
    for lineno, obj in lines:
        where = f"{path}:{lineno}"
        if obj.get("type") != "start":
            continue
        stream = obj.get("stream")
        if not isinstance(stream, str) or not stream:
            raise InputError(f"{where}: start event needs a string stream")
        if not _is_int(obj.get("class_id")):
            raise InputError(f"{where}: start event needs an integer class_id")
        t, delay = obj.get("t"), obj.get("delay_s")
        if not _is_num(t):
            raise InputError(f"{where}: start event needs a finite number t (seconds since the stream's first frame)")
        if not _is_num(delay) or delay < 0:
            raise InputError(f"{where}: start event needs a number delay_s >= 0 (seconds from t to the decision)")
        out.append((stream, int(obj["class_id"]), float(t), float(t) + float(delay)))
    warnings = [f"{path}: {ignored_v} line(s) without protocol version v=1 skipped"] if ignored_v else []
    return out, warnings


def is_events_file(path: Path) -> bool:
    """True when ``path`` holds events JSON Lines rather than a segments CSV (by suffix,
    else by a first character ``{``)."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return True
    if path.suffix.lower() == ".csv":
        return False
    try:
        with open(path, encoding="utf-8-sig") as f:
            head = f.read(256).lstrip()
    except (OSError, UnicodeDecodeError):
        return False
    return head.startswith("{")


def read_predictions(path: Path, fps: float | None = None) -> tuple[list[tuple], list[str]]:
    """Predicted segments ``(sequence, class_id, start, end, score)`` from a segments CSV
    or an events JSONL (:func:`is_events_file` decides), plus warnings. ``fps``: events
    only, frame = ``round(t * fps)`` instead of ``seq``."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if is_events_file(path):
        return read_events(path, fps)
    warnings = ["--fps applies to events only; the CSV's frames are used as they are"] if fps is not None else []
    return read_segments_csv(path, with_score=True), warnings


def load_scores(path: Path) -> tuple[list[int], dict[str, np.ndarray]]:
    """Frame scores from an npz: ``class_ids`` (K,) and one (T, K) array per sequence id
    (what ``skelact detect --scores-out`` writes)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read as .npz ({e})") from None
    with z:
        if "class_ids" not in z.files:
            raise InputError(f"{path}: lacks the 'class_ids' array (the score columns' class ids)")
        cids = np.asarray(z["class_ids"]).reshape(-1)
        if cids.dtype.kind not in "iu":
            raise InputError(f"{path}: 'class_ids' must be integers, got dtype {cids.dtype}")
        k = len(cids)
        out = {}
        for key in z.files:
            if key == "class_ids":
                continue
            a = np.asarray(z[key], dtype=np.float64)
            if a.ndim != 2 or a.shape[1] != k:
                raise InputError(f"{path}: array {key!r} has shape {a.shape}, expected (T, {k})")
            out[key] = a
    return [int(c) for c in cids], out


# ----------------------------------------------------------------- evaluation
def evaluate(gt: GroundTruth, preds: list[tuple], tious: list[float],
             scores: tuple[list[int], dict[str, np.ndarray]] | None = None) -> tuple[dict, list[str]]:  # fmt: skip
    """All metrics as one dict plus warnings (see the module docstring).

    ``preds``: ``(sequence, class_id, start, end, score)`` with inclusive frames;
    ``tious``: temporal IoU thresholds in (0, 1]; ``scores``: ``(class_ids, {sequence:
    (T, K) frame scores})`` for frame mAP and score-ranked video mAP. Raises InputError
    when the ground truth holds no segments or the scores do not fit the sequences.
    """
    warnings: list[str] = []
    counts: dict[str, int] = {"pred_segments_read": len(preds)}
    if gt.sequences is not None:
        inside = [p for p in preds if p[0] in gt.sequences]
        dropped = len(preds) - len(inside)
        counts["pred_outside_sequences"] = dropped
        if dropped:
            warnings.append(f"{dropped} predicted segment(s) on sequences outside the ground truth's set ignored")
        preds = inside
    else:
        gt_seqs = {g[0] for g in gt.segments}
        stray = {p[0] for p in preds} - gt_seqs
        if stray:
            warnings.append(f"{len(stray)} predicted sequence(s) have no ground-truth segment "
                            f"(e.g. {sorted(stray)[0]!r}); their predictions count as false positives")  # fmt: skip
    if not gt.segments:
        raise InputError("the ground truth holds no segments: detection mAP is undefined")
    per = detection_ap(gt.segments, preds, tious)
    classes = sorted(per)
    n_gt = defaultdict(int)
    n_pred = defaultdict(int)
    for g in gt.segments:
        n_gt[g[1]] += 1
    for p in preds:
        n_pred[p[1]] += 1
    other = sum(v for c, v in n_pred.items() if c not in per)
    counts["pred_other_classes"] = other
    if other:
        warnings.append(f"{other} predicted segment(s) of classes without ground truth ignored")
    mean = np.mean(np.stack([per[c] for c in classes]), axis=0)
    det = {tiou_key(x): float(v) for x, v in zip(tious, mean, strict=True)}
    det["avg"] = float(mean.mean())
    per_class = {}
    for c in classes:
        ap = {tiou_key(x): float(v) for x, v in zip(tious, per[c], strict=True)}
        ap["avg"] = float(per[c].mean())
        per_class[str(c)] = {"name": gt.names.get(c, str(c)), "ap": ap, "num_gt": n_gt[c], "num_pred": n_pred[c]}
    result: dict = {"detection_map": det}

    # Video-level and frame-level ranking metrics over the GT classes.
    gt_by_seq: dict[str, list[tuple]] = defaultdict(list)
    for g in gt.segments:
        gt_by_seq[g[0]].append(g)
    if scores is not None:
        cids, arrays = scores
        col = {c: k for k, c in enumerate(cids)}
        ranked = [c for c in classes if c in col]
        if len(ranked) < len(classes):
            warnings.append(f"class(es) {[c for c in classes if c not in col]} missing from the scores' "
                            "class_ids: left out of video and frame mAP")  # fmt: skip
        seqs = sorted(arrays if gt.sequences is None else set(arrays) & gt.sequences)
        want = set(gt_by_seq) if gt.sequences is None else gt.sequences
        missing = sorted(want - set(arrays))
        if missing:
            warnings.append(f"{len(missing)} evaluated sequence(s) have no frame scores (e.g. {missing[0]!r}): "
                            "video and frame mAP use the others")  # fmt: skip
        for s in seqs:
            if s in gt.lengths and len(arrays[s]) != gt.lengths[s]:
                raise InputError(f"scores for {s!r} have {len(arrays[s])} frames, the sequence has {gt.lengths[s]}")
        if seqs and ranked:
            idx = [col[c] for c in ranked]
            labels, fscores, vlab, vsc = [], [], [], []
            for s in seqs:
                a = arrays[s][:, idx]
                ivs = [Interval(g[2], g[3], g[1]) for g in gt_by_seq.get(s, [])]
                labels.append(intervals_to_frame_matrix(ivs, len(a), ranked))
                fscores.append(a)
                vlab.append([any(g[1] == c for g in gt_by_seq.get(s, [])) for c in ranked])
                k = max(1, len(a) // 8)
                a0 = np.nan_to_num(a, nan=0.0)
                vsc.append(np.sort(a0, axis=0)[-k:].mean(0) if len(a) else np.full(len(ranked), -np.inf))
            try:
                result["frame_map"] = frame_map(labels, fscores)
            except ValueError as e:
                warnings.append(f"frame mAP not computable: {e}")
            try:
                result["video_map"] = video_map(np.array(vlab), np.array(vsc))
            except ValueError as e:
                warnings.append(f"video mAP not computable: {e}")
        counts["scored_sequences"] = len(seqs)
    else:
        seqs = sorted(gt.sequences if gt.sequences is not None else set(gt_by_seq) | {p[0] for p in preds})
        row = {s: i for i, s in enumerate(seqs)}
        ci = {c: k for k, c in enumerate(classes)}
        vsc = np.full((len(seqs), len(classes)), -np.inf)
        vlab = np.zeros((len(seqs), len(classes)), dtype=bool)
        for g in gt.segments:
            vlab[row[g[0]], ci[g[1]]] = True
        for p in preds:
            if p[1] in ci:
                r, k = row[p[0]], ci[p[1]]
                vsc[r, k] = max(vsc[r, k], p[4])
        result["video_map"] = video_map(vlab, vsc)
    counts.update(sequences=len(gt.sequences) if gt.sequences is not None else len(gt_by_seq),
                  classes=len(classes), gt_segments=len(gt.segments), pred_segments=len(preds))  # fmt: skip
    result["per_class"] = per_class
    result["counts"] = counts
    return result, warnings


def format_table(result: dict, tious: list[float]) -> str:
    """The people's view of :func:`evaluate`'s result: AP (%) per class at each tIoU, then
    the mAP row and the video / frame mAP line."""
    keys = [tiou_key(x) for x in tious] + ["avg"]
    pc = result["per_class"]
    names = {c: f"{c} {v['name']}" if v["name"] != c else c for c, v in pc.items()}
    w = max([len("class"), len("mAP")] + [len(n) for n in names.values()])
    w = min(w, 32)
    head = f"{'class':<{w}}" + "".join(f"{'@' + k if k != 'avg' else 'avg':>8}" for k in keys) + f"{'#gt':>7}{'#pred':>7}"
    lines = ["detection AP (%) at temporal IoU thresholds", head, "-" * len(head)]
    for c, v in pc.items():
        lines.append(f"{names[c][:w]:<{w}}" + "".join(f"{100 * v['ap'][k]:8.2f}" for k in keys)
                     + f"{v['num_gt']:7d}{v['num_pred']:7d}")  # fmt: skip
    lines.append("-" * len(head))
    det = result["detection_map"]
    cnt = result["counts"]
    lines.append(f"{'mAP':<{w}}" + "".join(f"{100 * det[k]:8.2f}" for k in keys)
                 + f"{cnt['gt_segments']:7d}{cnt['pred_segments']:7d}")  # fmt: skip
    extra = []
    if "video_map" in result:
        extra.append(f"video mAP {100 * result['video_map']:.2f}%")
    if "frame_map" in result:
        extra.append(f"frame mAP {100 * result['frame_map']:.2f}%")
    extra.append(f"{cnt['sequences']} sequences, {cnt['classes']} classes")
    lines.append("; ".join(extra))
    return "\n".join(lines)


# ----------------------------------------------------------------- action points
def _none_nan(x: float) -> float | None:
    return None if isinstance(x, float) and math.isnan(x) else x


def evaluate_points(gt: GroundTruth, events: list[tuple[str, int, float, float]],
                    windows: list[tuple[float, float]] | None = None) -> tuple[dict, list[str]]:  # fmt: skip
    """Point F1 of start events against point-level ground truth (see the module docstring).

    ``events``: ``(sequence, class_id, t, decision_t)`` (:func:`read_start_events`);
    ``windows``: ``(before_s, after_s)`` pairs (default ``DEFAULT_POINT_WINDOWS``). Events
    on sequences outside ``gt.sequences`` and of class ids the dataset does not name are
    ignored with a warning; events of a named class without points are false positives.
    """
    if gt.kind != "point":
        raise InputError("point F1 needs point-level ground truth")
    wins = [tuple(map(float, w)) for w in (windows or DEFAULT_POINT_WINDOWS)]
    warnings: list[str] = []
    counts: dict[str, int] = {"start_events_read": len(events)}
    if gt.sequences is not None:
        inside = [e for e in events if e[0] in gt.sequences]
        counts["events_outside_sequences"] = len(events) - len(inside)
        if len(inside) < len(events):
            warnings.append(f"{len(events) - len(inside)} start event(s) on sequences outside the ground truth's "
                            "set ignored")  # fmt: skip
        events = inside
    if not gt.points:
        raise InputError("the ground truth holds no action points: point F1 is undefined")
    with_points = {p[1] for p in gt.points}
    classes = sorted(set(gt.names) | with_points) if gt.names else sorted(with_points)
    known = set(classes)
    other = [e for e in events if e[1] not in known]
    counts["events_other_classes"] = len(other)
    if other:
        warnings.append(f"{len(other)} start event(s) of class ids the ground truth does not name "
                        f"({sorted({e[1] for e in other})}) ignored")  # fmt: skip
        events = [e for e in events if e[1] in known]
    pts = [(s, c, t) for s, c, _, t in gt.points]
    try:
        at_dec = point_f1(pts, [(s, c, d) for s, c, _, d in events], wins, classes)
        at_t = point_f1(pts, [(s, c, t) for s, c, t, _ in events], wins, classes)
    except ValueError as e:
        raise InputError(str(e)) from None
    keys = [window_key(w) for w in wins]
    summary = ("f1", "macro_f1", "precision", "recall", "tp", "num_points", "num_events", "median_offset_s")

    def overall(r: dict) -> dict:
        return {k: {m: _none_nan(r[k][m]) for m in summary} for k in keys}

    per_class: dict[str, dict] = {}
    for c in classes:
        first = at_dec[keys[0]]["per_class"][c]
        if not first["num_points"] and not first["num_events"]:
            continue
        row: dict = {"name": gt.names.get(c, str(c)), "num_points": first["num_points"],
                     "num_events": first["num_events"]}  # fmt: skip
        for suffix, r in (("", at_dec), ("_at_t", at_t)):
            for m in ("f1", "precision", "recall"):
                row[m + suffix] = {k: _none_nan(r[k]["per_class"][c][m]) for k in keys}
        per_class[str(c)] = row
    counts.update(sequences=len(gt.sequences) if gt.sequences is not None else len({p[0] for p in gt.points}),
                  sequences_with_points=len({p[0] for p in gt.points}), classes=len(with_points),
                  points=len(gt.points), start_events=len(events))  # fmt: skip
    result = {"point_windows": [list(w) for w in wins], "point_f1": overall(at_dec), "point_f1_at_t": overall(at_t),
              "point_per_class": per_class, "counts": counts}  # fmt: skip
    return result, warnings


def _pct(x: float | None) -> str:
    return f"{'-':>7}" if x is None else f"{100 * x:7.1f}"


def format_point_table(result: dict) -> str:
    """The people's view of :func:`evaluate_points`: per class P / R / F1 (%) at each window,
    one block at decision time (t + delay_s) and one at the events' t, then micro and macro
    F1 and the median offset ('-' = undefined: no events, or no points)."""
    keys = list(result["point_f1"])
    pc = result["point_per_class"]
    names = {c: f"{c} {v['name']}" if v["name"] != c else c for c, v in pc.items()}
    w = min(max([len("micro"), len("macro F1")] + [len(n) for n in names.values()]), 28)
    lines = []
    for title, suffix, block in (("at decision time (t + delay_s)", "", "point_f1"),
                                 ("at the events' t (back-dated start)", "_at_t", "point_f1_at_t")):  # fmt: skip
        top = f"{'':<{w}}" + "".join(f"{k:^21}" for k in keys) + f"{'#pts':>6}{'#ev':>6}"
        head = f"{'class':<{w}}" + "".join(f"{'P':>7}{'R':>7}{'F1':>7}" for _ in keys) + " " * 12
        lines += [f"point detection (%) {title}", top, head, "-" * len(head)]
        for c, v in pc.items():
            cells = "".join(_pct(v["precision" + suffix][k]) + _pct(v["recall" + suffix][k])
                            + _pct(v["f1" + suffix][k]) for k in keys)  # fmt: skip
            lines.append(f"{names[c][:w]:<{w}}{cells}{v['num_points']:6d}{v['num_events']:6d}")
        lines.append("-" * len(head))
        r = result[block]
        first = r[keys[0]]
        lines.append(f"{'micro':<{w}}" + "".join(_pct(r[k]["precision"]) + _pct(r[k]["recall"]) + _pct(r[k]["f1"])
                                                 for k in keys) + f"{first['num_points']:6d}{first['num_events']:6d}")
        lines.append(f"{'macro F1':<{w}}" + "".join(" " * 14 + _pct(r[k]["macro_f1"]) for k in keys))
        med = ", ".join(f"{k}: " + ("-" if r[k]["median_offset_s"] is None else f"{r[k]['median_offset_s']:+.3f} s")
                        for k in keys)  # fmt: skip
        lines.append(f"median offset (event - point) of matches: {med}")
        lines.append("")
    cnt = result["counts"]
    lines.append(f"{cnt['points']} points in {cnt['sequences_with_points']} of {cnt['sequences']} sequences, "
                 f"{cnt['classes']} classes; {cnt['start_events']} start events scored")  # fmt: skip
    return "\n".join(lines)
