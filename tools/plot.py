"""`skelact plot`: one sequence's detection timeline as an image.

Reads what the other commands write: events JSON Lines (`skelact detect -o x.jsonl`,
`skelact subscribe --jsonl`) or a segments CSV (`skelact detect -o x.csv`), optional
per-frame scores (`skelact detect --scores-out S.npz`) and optional ground truth (a
`labels.csv` or a dataset, as `skelact eval --gt`), and draws one panel per class:
the score curve, the on/off thresholds, the detections with their start and end, and
the ground truth as shaded bands. Frames are source frames (an event's `seq`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SUMMARY = "draw a timeline: per-class scores, on/off thresholds, start/end events, ground truth (matplotlib)"


def build_parser() -> argparse.ArgumentParser:
    from skelact.stream.assets import model_help
    from skelact.stream.events import EventConfig

    from .cli import ArgumentParser, number
    from .detect import PLOT_SUFFIXES, suffix_type

    e = EventConfig()
    p = ArgumentParser(
        prog="skelact plot",
        description=(
            "Draw one sequence's timeline: one panel per class with its score over source frames (from "
            "--scores, what `skelact detect --scores-out` writes), the on/off thresholds, the detected "
            "segments with their start and end, and the ground truth (--gt) as shaded bands. Classes shown: "
            "those with a detection or ground truth, then those whose score reaches --off. Needs matplotlib "
            "(pip install 'skelact[plot]')."
        ),
    )
    p.add_argument("events", help="events .jsonl (detect, subscribe --jsonl) or segments .csv (detect -o x.csv)")
    p.add_argument("-o", "--out", required=True, type=suffix_type(*PLOT_SUFFIXES), metavar="OUT.png",
                   help="image to write (.png, .svg or .pdf)")
    p.add_argument("--scores", metavar="S.npz", default=None,
                   help="per-frame scores: class_ids (K,) and one (T, K) array per sequence (detect --scores-out)")
    p.add_argument("--gt", metavar="LABELS", default=None,
                   help="ground truth: labels.csv (sequence,class_id,start_frame,end_frame) or a dataset")
    p.add_argument("--sequence", metavar="ID", default=None,
                   help="the sequence (event stream) to draw; needed when the inputs hold several")
    p.add_argument("--model", metavar="MODEL", default=None,
                   help="the model that made the scores: draw its (calibrated, per-class) thresholds and class names "
                        f"({model_help()})")
    p.add_argument("--on", type=number(float, ge=0, le=1), default=None,
                   help=f"start threshold drawn for every class (default: --model's, else {e.on})")
    p.add_argument("--off", type=number(float, ge=0, le=1), default=None,
                   help=f"end threshold drawn for every class (default: --model's, else {e.off})")
    p.add_argument("--no-thresholds", action="store_true", help="do not draw the on/off lines (e.g. --offline scores)")
    p.add_argument("--fps", type=number(float, gt=0), default=None,
                   help="source frames per second: adds a seconds axis (default: read from the events)")
    p.add_argument("--classes", type=number(int), nargs="+", default=None, metavar="ID",
                   help="only these class ids, in this order")
    p.add_argument("--max-classes", type=number(int, ge=1), default=12, metavar="N",
                   help="at most N panels (default 12)")
    return p


def _event_info(path: Path) -> tuple[dict[int, str], dict[str, float]]:
    """Class names (``action``) and, per stream, the source fps implied by the events'
    ``seq`` and ``t`` (frames over seconds between the first and the last event) found in
    an events JSONL."""
    names: dict[int, str] = {}
    marks: dict[str, list[tuple[int, float]]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return names, {}
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict) or obj.get("type") not in ("start", "end"):
            continue
        if isinstance(obj.get("class_id"), int) and isinstance(obj.get("action"), str):
            names[obj["class_id"]] = obj["action"]
        seq, t = obj.get("seq"), obj.get("t")
        if isinstance(seq, int) and isinstance(t, (int, float)) and not isinstance(t, bool):
            marks.setdefault(str(obj.get("stream")), []).append((seq, float(t)))
    fps: dict[str, float] = {}
    for stream, m in marks.items():
        (s0, t0), (s1, t1) = min(m), max(m)
        if s1 > s0 and t1 > t0:
            fps[stream] = (s1 - s0) / (t1 - t0)
    return names, fps


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from skelact.models.evaluation import (
        InputError,
        is_events_file,
        load_gt,
        load_scores,
        read_predictions,
    )
    from skelact.stream.events import EventConfig
    from skelact.stream.timeline import PlotUnavailable, Timeline, plot_timeline, require_matplotlib

    def fail(text: str) -> int:
        print(f"skelact plot: {text}", file=sys.stderr)
        return 2

    try:
        require_matplotlib()
    except PlotUnavailable as e:
        return fail(str(e))
    if not Path(args.out).resolve().parent.is_dir():
        return fail(f"cannot write {args.out}: no folder {Path(args.out).resolve().parent}")
    events = Path(args.events)
    on: float | dict[int, float] = args.on if args.on is not None else EventConfig().on
    off: float | dict[int, float] = args.off if args.off is not None else EventConfig().off
    model_names: dict[int, str] = {}
    if args.model:
        from skelact.stream.assets import resolve_model
        from skelact.stream.engine import read_meta
        from skelact.stream.metadata import ModelError

        try:
            meta = read_meta(resolve_model(args.model))
            ev = meta.event_config(**{k: v for k, v in (("on", args.on), ("off", args.off)) if v is not None})
        except (ModelError, ValueError, OSError) as e:
            return fail(f"--model: {e}")
        ids = [int(c) for c, _ in meta.classes]
        on, off = dict(zip(ids, ev.ons(len(ids)).tolist())), dict(zip(ids, ev.offs(len(ids)).tolist()))
        model_names = {int(c): str(n) for c, n in meta.classes}
    try:
        preds, warnings = read_predictions(events)
        cids, arrays = load_scores(Path(args.scores)) if args.scores else ([], {})
        gt = load_gt(Path(args.gt)) if args.gt else None
    except InputError as e:
        return fail(str(e))
    names, fps_seen = _event_info(events) if is_events_file(events) else ({}, {})
    names = {**(gt.names if gt is not None else {}), **model_names, **names}
    in_events = sorted({p[0] for p in preds})
    candidates = in_events or sorted(arrays)  # the events file leads; scores alone when it has none
    if args.sequence is not None:
        known = set(in_events) | set(arrays) | ({g[0] for g in gt.segments} | (gt.sequences or set()) if gt else set())
        if args.sequence not in known:
            return fail(f"sequence {args.sequence!r} is in none of the inputs"
                        + (f" (they hold {_listing(candidates)})" if candidates else ""))  # fmt: skip
        sid = args.sequence
    elif len(candidates) == 1:
        sid = candidates[0]
    elif not candidates:
        gt_seqs = sorted({g[0] for g in gt.segments}) if gt else []
        if len(gt_seqs) != 1:
            return fail(f"{events}: no detections and no scores to draw" + (
                f"; pick a ground-truth sequence with --sequence ({_listing(gt_seqs)})" if gt_seqs else ""))
        sid = gt_seqs[0]
    else:
        return fail(f"the inputs hold {len(candidates)} sequences ({_listing(candidates)}): pick one with --sequence")
    for w in warnings:
        print(f"skelact plot: warning: {w}", file=sys.stderr)
    scores = arrays.get(sid)
    if args.scores and scores is None:
        print(f"skelact plot: warning: {args.scores} has no scores for {sid!r}", file=sys.stderr)
    thresholds = scores is not None and not args.no_thresholds
    tl = Timeline(
        sid, classes=[(c, names.get(c, str(c))) for c in cids], scores=scores,
        segments=[(int(c), int(s), int(e), float(sc)) for q, c, s, e, sc in preds if q == sid],
        gt=[(int(c), int(s), int(e)) for q, c, s, e in (gt.segments if gt else []) if q == sid],
        on=on if thresholds else None, off=off if thresholds else None,
        fps=args.fps or fps_seen.get(sid), names=names,
        num_frames=len(scores) if scores is not None else (gt.lengths.get(sid) if gt else None),
        title=f"{sid}  ({events.name}" + (f", {Path(args.scores).name}" if args.scores else "")
              + (f", ground truth {Path(args.gt).name}" if args.gt else "") + ")",
    )  # fmt: skip
    try:
        path = plot_timeline(tl, args.out, only=args.classes, max_classes=args.max_classes)
    except (OSError, ValueError) as e:
        return fail(f"cannot write {args.out}: {e}")
    shown = tl.shown_classes(args.classes, args.max_classes)
    print(f"{sid}: {len(shown)} classes, {len(tl.segments)} detections, {len(tl.gt)} ground-truth segments "
          f"-> {path}")  # fmt: skip
    return 0


def _listing(items: list[str], most: int = 5) -> str:
    return ", ".join(items[:most]) + (f", ... ({len(items) - most} more)" if len(items) > most else "")
