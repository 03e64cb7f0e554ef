"""The shared npz dataset format (one folder: sequences.npz, labels.csv, classes.json, ...).

See ``docs/data.md``. ``sequences.npz`` holds one ``(T, P, J, 3)`` array per sequence
id (metres; float16 is cast to float32) plus per-frame extras under ``<seq>__<name>``:
``frame_labels`` (class per frame), ``frame_ids`` (image frame id, UTKinect: about
30 ids per second) and ``time_ms`` (milliseconds since the first frame, MSRC-12).
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np

from ..labels import Interval, Labels, Point
from ..sequence import DataError, Dataset, Sequence

__all__ = ["is_npz_dataset", "load_npz_dataset", "save_npz_dataset"]

# UTKinect's image frame ids tick at about 30 per second (see its meta.json).
UTKINECT_ID_RATE = 30.0


def is_npz_dataset(path: Path) -> bool:
    return path.is_dir() and (path / "sequences.npz").is_file()


def _read_json(path: Path, required: bool = True) -> dict:
    if not path.is_file():
        if required:
            raise DataError(f"{path}: missing (every npz dataset folder needs it)")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object")
    return data


def _int_field(row: dict, key: str, path: Path, line: int) -> int:
    try:
        return int(row[key])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path}:{line}: column {key!r} must be an integer, got {row.get(key)!r}") from None


def _read_labels(path: Path) -> tuple[str, dict[str, list]]:
    """labels.csv -> (kind, {seq: [Interval|Point]})."""
    if not path.is_file():
        return "none", {}
    out: dict[str, list] = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or [])
        if {"sequence", "class_id", "start_frame", "end_frame"} <= cols:
            kind = "interval"
        elif {"sequence", "class_id", "frame"} <= cols:
            kind = "point"
        else:
            raise DataError(
                f"{path}:1: header must hold sequence,class_id,start_frame,end_frame "
                f"or sequence,class_id,frame; got {reader.fieldnames}"
            )
        for line, row in enumerate(reader, start=2):
            if None in row or any(v is None for v in row.values()):
                raise DataError(f"{path}:{line}: wrong number of columns")
            c = _int_field(row, "class_id", path, line)
            if kind == "interval":
                s, e = _int_field(row, "start_frame", path, line), _int_field(row, "end_frame", path, line)
                if e < s or s < 0:
                    raise DataError(f"{path}:{line}: bad interval {s}..{e}")
                item = Interval(s, e, c, float(row.get("confidence") or 1.0))
            else:
                fr = _int_field(row, "frame", path, line)
                if fr < 0:
                    raise DataError(f"{path}:{line}: negative frame {fr}")
                item = Point(fr, c)
            out.setdefault(row["sequence"], []).append(item)
    return kind, out


def load_npz_dataset(path: str | Path, only: list[str] | None = None) -> Dataset:
    """Load a shared-format dataset folder. ``only`` restricts to these sequence ids."""
    root = Path(path)
    npz_path = root / "sequences.npz"
    if not npz_path.is_file():
        raise DataError(f"{root}: not an npz dataset folder (no sequences.npz)")
    classes_doc = _read_json(root / "classes.json")
    try:
        classes = {int(k): str(v) for k, v in classes_doc["classes"].items()}
    except (KeyError, AttributeError, ValueError):
        raise DataError(f"{root / 'classes.json'}: needs a 'classes' object of id -> name") from None
    background = classes_doc.get("background_id")
    layout_doc = _read_json(root / "layout.json")
    layout = layout_doc.get("skeleton")
    if not layout:
        raise DataError(f"{root / 'layout.json'}: needs a 'skeleton' layout name")
    meta = _read_json(root / "meta.json", required=False)
    splits_doc = _read_json(root / "splits.json", required=False)
    splits = {k: list(v) for k, v in splits_doc.items() if k in ("train", "test", "val") and isinstance(v, list)}
    fps = float(meta.get("fps") or 30.0)
    kind, labels = _read_labels(root / "labels.csv")
    bg = 0 if background is None else int(background)

    try:
        z = np.load(npz_path, allow_pickle=False)
        files = z.files
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise DataError(f"{npz_path}: not a readable npz archive ({e})") from None
    seq_ids = [k for k in files if "__" not in k]
    if only is not None:
        missing = sorted(set(only) - set(seq_ids))
        if missing:
            raise DataError(f"{npz_path}: no sequence(s) {', '.join(missing[:5])}")
        seq_ids = [s for s in seq_ids if s in set(only)]
    extras = {k for k in files if "__" in k}
    sequences: dict[str, Sequence] = {}
    has_frame_labels = False
    for sid in seq_ids:
        try:
            arr = z[sid]
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise DataError(f"{npz_path}: array {sid!r} is corrupt ({e})") from None
        if arr.ndim != 4 or arr.shape[-1] != 3:
            raise DataError(f"{npz_path}: array {sid!r} has shape {arr.shape}, expected (T, P, J, 3)")
        joints = arr.astype(np.float32)
        T = len(joints)
        t = np.arange(T, dtype=np.float64) / fps
        seq_fps = fps
        if f"{sid}__time_ms" in extras:
            t = z[f"{sid}__time_ms"].astype(np.float64) / 1000.0
        elif f"{sid}__frame_ids" in extras:
            ids = z[f"{sid}__frame_ids"].astype(np.float64)
            t = (ids - ids[0]) / UTKINECT_ID_RATE
            # Repeated image ids are distinct samples; keep time non-decreasing.
            seq_fps = (T - 1) / t[-1] if T > 1 and t[-1] > 0 else fps
        if f"{sid}__frame_labels" in extras:
            fl = z[f"{sid}__frame_labels"].astype(np.int64)
            if fl.shape != (T,):
                raise DataError(f"{npz_path}: {sid}__frame_labels has shape {fl.shape}, expected ({T},)")
            lab = Labels.from_frames(fl, background=bg)
            if kind == "interval" and sid in labels:
                # labels.csv may merge runs split by a few background frames (PRECOG):
                # those curated intervals are the ground truth; keep the raw frame labels too.
                ivs = tuple(sorted(labels[sid]))
                lab = Labels("frame", intervals=ivs, video=lab.video, frame=fl, background=bg)
            has_frame_labels = True
        elif kind == "interval":
            items = labels.get(sid, [])
            _check_range(items, T, root / "labels.csv", sid)
            lab = Labels.from_intervals(items, background=bg)
        elif kind == "point":
            items = labels.get(sid, [])
            _check_range(items, T, root / "labels.csv", sid)
            lab = Labels.from_points(items, background=bg)
        else:
            lab = Labels("none")
        sequences[sid] = Sequence(sid, joints, layout, seq_fps, t, lab)
    return Dataset(
        name=str(meta.get("dataset") or root.name),
        sequences=sequences,
        classes=classes,
        background_id=None if background is None else int(background),
        label_kind="frame" if has_frame_labels else kind,
        splits=splits,
        meta={"path": str(root), "fps": fps, "fps_note": meta.get("fps_note", ""),
              **({"license": lic} if (lic := meta.get("license") or meta.get("licence")) else {})},
    )


def _check_range(items: list, T: int, path: Path, sid: str) -> None:
    for it in items:
        last = it.end if isinstance(it, Interval) else it.frame
        if last >= T:
            raise DataError(f"{path}: sequence {sid!r} label {it} beyond its {T} frames")


def save_npz_dataset(ds: Dataset, path: str | Path, extra_meta: dict | None = None) -> Path:
    """Write ``ds`` in the shared npz format (used by ``publish --record`` and the bundle)."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    rows: list[list] = []
    kind = ds.label_kind
    for s in ds:
        arrays[s.id] = s.joints[..., :3].astype(np.float32)
        arrays[f"{s.id}__time_ms"] = np.rint((s.t - s.t[0]) * 1000).astype(np.int32)
        if s.labels.frame is not None:
            arrays[f"{s.id}__frame_labels"] = s.labels.frame.astype(np.int8)
        if s.labels.kind in ("frame", "interval"):
            rows += [[s.id, iv.class_id, iv.start, iv.end] for iv in s.labels.intervals]
        elif s.labels.kind == "point":
            rows += [[s.id, p.class_id, p.frame] for p in s.labels.points]
    np.savez_compressed(root / "sequences.npz", **arrays)
    with (root / "labels.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["sequence", "class_id", "frame"] if kind == "point"
                   else ["sequence", "class_id", "start_frame", "end_frame"])  # fmt: skip
        w.writerows(rows)
    (root / "classes.json").write_text(json.dumps({
        "background_id": ds.background_id,
        "classes": {str(k): v for k, v in sorted(ds.classes.items())},
    }, indent=1))  # fmt: skip
    (root / "layout.json").write_text(json.dumps({"skeleton": ds.layout}, indent=1))
    (root / "splits.json").write_text(json.dumps(ds.splits, indent=1))
    fps = ds.meta.get("fps") or (next(iter(ds)).fps if len(ds) else 30.0)
    (root / "meta.json").write_text(json.dumps({"dataset": ds.name, "fps": fps, **(extra_meta or {})}, indent=1))
    return root
