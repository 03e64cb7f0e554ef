"""`skelact eval`: detection mAP (plus video and frame mAP) of predictions against ground truth.

The reading and scoring live in ``skelact.models.evaluation`` (inputs, pairing of events
into segments, which sequences count); this module parses the options, prints the table
and writes ``--json OUT``: the result of ``evaluate`` (``detection_map``, ``video_map``,
``frame_map`` with ``--scores``, ``per_class``, ``counts``; fractions in [0, 1]) plus the
inputs ``gt``, ``pred``, ``scores``, ``split``, ``fps`` and ``tiou_thresholds``. Bad
input exits with status 2 and one line naming the file and line. ``--plot OUT.png`` also
draws the per-class AP bar chart (``skelact.stream.evalplot``); without matplotlib it
stops before any work, with one line naming the ``plot`` extra.

Point-level ground truth (a dataset whose labels are action points, such as MSRC-12) is
detected and scored instead with point F1 (``skelact.models.evaluation.evaluate_points``):
the start events of an events JSONL against the points, within each ``--window BEFORE
AFTER`` (seconds before / after the point; default 0.5 0.5 and 0.5 1.0), at the decision
time ``t + delay_s`` and at ``t``. ``--json`` then holds ``point_f1``, ``point_f1_at_t``,
``point_per_class``, ``point_windows`` and ``counts`` (fractions in [0, 1]; null where
undefined) plus the inputs ``gt``, ``pred`` and ``split``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

SUMMARY = ("score predicted segments or recorded events against ground truth (detection, video, frame mAP; "
           "point F1 for action-point labels)")


def build_parser() -> argparse.ArgumentParser:
    from .cli import ArgumentParser, class_ids, number
    from .detect import PLOT_SUFFIXES, suffix_type

    p = ArgumentParser(
        prog="skelact eval",
        description=(
            "Score predicted action segments against ground truth: detection mAP at temporal-IoU\n"
            "thresholds (ActivityNet protocol: greedy matching by score, interpolated AP; segments\n"
            "are inclusive frame intervals), video-level mAP and, with --scores, frame-level mAP.\n"
            "Prints a table (AP in %); --json writes the numbers as fractions in [0, 1].\n\n"
            "Ground truth with action points instead of extents (MSRC-12) is scored with point F1:\n"
            "each start event (events JSONL) matches at most one point of its sequence and class\n"
            "when event time - point time lies in [-BEFORE, +AFTER] seconds (--window; greedy by the\n"
            "smallest |offset|), timed at the decision (t + delay_s, when the runtime knew) and at t.\n"
            "Points are timed by their rows' own timestamps, events by their t on the same clock."
        ),
        epilog=(
            "examples:\n"
            "  skelact eval --gt stream/assets/precog --split test --pred events.jsonl\n"
            "  skelact eval --gt labels.csv --pred segments.csv --scores scores.npz --json result.json\n"
            "  skelact eval --gt labels.csv --pred events.jsonl --fps 30 --tiou 0.3 0.5 0.7\n"
            "  skelact eval --gt stream/assets/precog --split test --pred events.jsonl --plot ap.png\n"
            "  skelact eval --gt ../shared/data/pkummd --split test --pred pku_events.jsonl --ood-overlap 18,19,26,27,41\n"
            "  skelact eval --gt ../shared/data/msrc12 --split test --pred msrc_events.jsonl --window 0.5 0.5 "
            "--window 0.5 1.0"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--gt", required=True, metavar="GT",
                   help="ground truth: labels.csv (sequence,class_id,start_frame,end_frame; 0-based inclusive "
                        "frames; extra columns ignored) or a dataset folder such as stream/assets/precog")  # fmt: skip
    p.add_argument("--pred", required=True, metavar="PRED",
                   help="predictions: CSV with the GT columns plus score, or events JSONL (start/end paired "
                        "by event_id; stream = sequence; segment = [start seq, end seq]; score = peak_score)")  # fmt: skip
    p.add_argument("--split", default=None, metavar="NAME",
                   help="evaluate only this split's sequences (e.g. test); for a CSV, from splits.json beside it")
    p.add_argument("--fps", type=number(float, gt=0), default=None, metavar="F",
                   help="events: frame = round(t * F) from the event times (seconds) instead of seq")
    p.add_argument("--scores", default=None, metavar="FILE.npz",
                   help="per-sequence (T, K) frame scores plus a class_ids array (skelact detect --scores-out): "
                        "enables frame mAP and ranks videos by top-k mean frame score")  # fmt: skip
    p.add_argument("--tiou", type=number(float, gt=0, le=1), nargs="+", default=None,
                   metavar="X", help="temporal IoU thresholds in (0, 1] (default 0.1 0.2 0.3 0.4 0.5)")
    p.add_argument("--window", type=_seconds, nargs=2, action="append", default=None, metavar=("BEFORE", "AFTER"),
                   help="point-level ground truth: a start event matches a point when event time - point time "
                        "is in [-BEFORE, +AFTER] seconds (both >= 0); repeat for several windows "
                        "(default: --window 0.5 0.5 --window 0.5 1.0)")  # fmt: skip
    p.add_argument("--ood-overlap", type=_id_list, default=None, metavar="IDS",
                   help="out-of-domain mode: GT is a recording of OTHER activities (a dataset folder or file) "
                        "and PRED the events a model made on it; IDS are the GT dataset's class ids that "
                        "overlap the model's classes (comma-separated, or 'none'). Time outside their "
                        "labelled instances is out of domain, and a start there is a false start: prints "
                        "false starts per stream-hour instead of mAP (points count 2 s before to 0.5 s after)")
    p.add_argument("--classes", type=class_ids, default=None, metavar="IDS",
                   help="score only these ground-truth class ids (comma-separated), e.g. the classes a "
                        "model trained with `skelact train --classes` knows; the others' instances and "
                        "predictions are left out")
    p.add_argument("--json", default=None, metavar="OUT", help="write the results as a JSON dictionary")
    p.add_argument("--plot", default=None, type=suffix_type(*PLOT_SUFFIXES), metavar="OUT.png",
                   help="also draw per-class detection AP as a bar chart (.png, .svg or .pdf): one bar per "
                        "tIoU threshold (the mean over them beyond 6), an mAP group and the mAP line; "
                        "needs matplotlib (pip install 'skelact[plot]'); not with --ood-overlap")  # fmt: skip
    return p


def _seconds(text: str) -> float:
    """A ``--window`` bound: finite seconds >= 0 (BEFORE counts back from the point)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"expected finite seconds >= 0, got {text} (BEFORE counts back from the point: "
            "--window 0.5 1.0 is [-0.5 s, +1.0 s])")
    return value


def _windows(parser: argparse.ArgumentParser, pairs: list[list[float]] | None) -> list[tuple[float, float]]:
    """The ``--window`` pairs, checked (not both 0) and without repeats; the defaults without any."""
    from skelact.models.metrics import DEFAULT_POINT_WINDOWS, point_window

    out: list[tuple[float, float]] = []
    for b, a in pairs or DEFAULT_POINT_WINDOWS:
        try:
            w = point_window(b, a)
        except ValueError as e:
            parser.error(f"argument --window: {b:g} {a:g}: {e}")
        if w not in out:
            out.append(w)
    return out


def _id_list(text: str) -> list[int]:
    if text.strip().lower() in ("", "none"):
        return []
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated class ids or 'none', got {text!r}") from None
    return ids


def _ood(args) -> int:
    """``--ood-overlap``: false starts per hour of out-of-domain time."""
    from skelact.models.evaluation import InputError
    from skelact.models.ood import ood_report
    from skelact.stream.formats import DataError, load_dataset

    try:
        ds = load_dataset(args.gt)
        if args.split is not None:
            ds = ds.split(args.split)
        events = []
        with open(args.pred, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        events.append(json.loads(line))
                    except json.JSONDecodeError:
                        raise InputError(f"{args.pred}:{n}: not a JSON line (events from skelact detect)") from None
    except (DataError, KeyError, OSError, InputError) as e:
        print(f"skelact eval: {str(e).strip(chr(39) + chr(34))}", file=sys.stderr)
        return 2
    r = ood_report(ds, [e for e in events if isinstance(e, dict)], args.ood_overlap)
    print(f"out-of-domain: {r['ood_hours'] * 60:.1f} min over {r['streams']} streams (overlapping classes "
          f"{r['overlap_class_ids'] or 'none'} excluded), {r['ood_false_starts']} false starts = "
          f"{r['ood_false_starts_per_hour']:.1f} per stream-hour; {r['starts_in_domain']} starts inside "
          "overlapping instances")  # fmt: skip
    for cid, n in r["per_class"].items():
        print(f"  class {cid}: {n} false starts")
    if args.json:
        out = {"gt": str(args.gt), "pred": str(args.pred), "split": args.split,
               "ood": {**r, "per_class": {str(k): v for k, v in r["per_class"].items()}}}  # fmt: skip
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


def _plot_ready(path: str) -> str | None:
    """Why ``--plot path`` cannot be drawn (no matplotlib, no such folder), else None:
    checked before any work."""
    from skelact.stream.timeline import PlotUnavailable, require_matplotlib

    try:
        require_matplotlib()
    except PlotUnavailable as e:
        return f"--plot: {e}"
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        return f"--plot: cannot write {path}: no folder {folder}"
    return None


def _draw(result: dict, args) -> int:
    """``--plot``: the per-class AP chart of ``result``; 0, or 2 with one line on stderr."""
    from skelact.stream.evalplot import plot_eval

    title = f"detection AP per class: {Path(args.pred).name} against {Path(args.gt).name}"
    if args.split:
        title += f" ({args.split} split)"
    try:
        path = plot_eval(result, args.plot, title=title)
    except (OSError, ValueError) as e:
        print(f"skelact eval: cannot write {args.plot}: {e}", file=sys.stderr)
        return 2
    print(f"plot -> {path}")
    return 0


def _points(args, gt, windows: list[tuple[float, float]]) -> int:
    """Point-level ground truth: point F1 of the start events (table, --json)."""
    from skelact.models.evaluation import (
        InputError,
        evaluate_points,
        format_point_table,
        read_start_events,
    )

    ignored = [flag for flag, on in (("--scores", args.scores), ("--fps", args.fps is not None),
                                     ("--tiou", args.tiou is not None)) if on]  # fmt: skip
    try:
        events, warnings = read_start_events(Path(args.pred))
        result, more = evaluate_points(gt, events, windows)
    except InputError as e:
        print(f"skelact eval: {e}", file=sys.stderr)
        return 2
    if ignored:
        warnings.insert(0, f"{', '.join(ignored)} ignored: point-level ground truth is scored from the events' "
                           "t and delay_s (seconds)")  # fmt: skip
    for w in warnings + more:
        print(f"skelact eval: warning: {w}", file=sys.stderr)
    print(format_point_table(result))
    if args.json:
        out = {"gt": str(args.gt), "pred": str(args.pred), "split": args.split, **result}
        try:
            Path(args.json).write_text(json.dumps(out, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        except OSError as e:
            print(f"skelact eval: {args.json}: cannot write ({e.strerror or e})", file=sys.stderr)
            return 2
    return 0


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    windows = _windows(parser, args.window)
    if args.plot is not None:
        if args.ood_overlap is not None:
            parser.error("--plot draws detection AP per class, which --ood-overlap does not compute")
        why = _plot_ready(args.plot)
        if why:
            print(f"skelact eval: {why}", file=sys.stderr)
            return 2
    if args.ood_overlap is not None:
        return _ood(args)
    from skelact.models.evaluation import (
        InputError,
        evaluate,
        format_table,
        load_gt,
        load_scores,
        read_predictions,
        restrict_gt,
    )

    tious = [float(x) for x in (args.tiou or [0.1, 0.2, 0.3, 0.4, 0.5])]
    try:
        gt = load_gt(Path(args.gt), args.split, points=True)
        if args.classes is not None:
            gt = restrict_gt(gt, args.classes)
    except InputError as e:
        print(f"skelact eval: {e}", file=sys.stderr)
        return 2
    if gt.kind == "point":
        if args.plot is not None:
            print(f"skelact eval: --plot draws detection AP per class; {args.gt} has point labels (no extents), "
                  "scored with point F1", file=sys.stderr)  # fmt: skip
            return 2
        return _points(args, gt, windows)
    try:
        preds, warnings = read_predictions(Path(args.pred), args.fps)
        scores = load_scores(Path(args.scores)) if args.scores else None
        result, more = evaluate(gt, preds, tious, scores)
    except InputError as e:
        print(f"skelact eval: {e}", file=sys.stderr)
        return 2
    if args.window is not None:
        warnings.insert(0, "--window ignored: it applies to point-level ground truth")
    for w in warnings + more:
        print(f"skelact eval: warning: {w}", file=sys.stderr)
    print(format_table(result, tious))
    if args.json:
        out = {"gt": str(args.gt), "pred": str(args.pred), "scores": args.scores, "split": args.split,
               "fps": args.fps, "tiou_thresholds": tious, **result}  # fmt: skip
        try:
            Path(args.json).write_text(json.dumps(out, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        except OSError as e:
            print(f"skelact eval: {args.json}: cannot write ({e.strerror or e})", file=sys.stderr)
            return 2
    if args.plot is not None:
        return _draw(result, args)
    return 0
