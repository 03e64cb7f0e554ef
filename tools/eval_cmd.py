"""`skelact eval`: detection mAP (plus video and frame mAP) of predictions against ground truth.

The reading and scoring live in ``skelact.models.evaluation`` (inputs, pairing of events
into segments, which sequences count); this module parses the options, prints the table
and writes ``--json OUT``: the result of ``evaluate`` (``detection_map``, ``video_map``,
``frame_map`` with ``--scores``, ``per_class``, ``counts``; fractions in [0, 1]) plus the
inputs ``gt``, ``pred``, ``scores``, ``split``, ``fps`` and ``tiou_thresholds``. Bad
input exits with status 2 and one line naming the file and line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SUMMARY = "score predicted segments or recorded events against ground truth (detection, video, frame mAP)"


def build_parser() -> argparse.ArgumentParser:
    from .cli import ArgumentParser, number

    p = ArgumentParser(
        prog="skelact eval",
        description=(
            "Score predicted action segments against ground truth: detection mAP at temporal-IoU\n"
            "thresholds (ActivityNet protocol: greedy matching by score, interpolated AP; segments\n"
            "are inclusive frame intervals), video-level mAP and, with --scores, frame-level mAP.\n"
            "Prints a table (AP in %); --json writes the numbers as fractions in [0, 1]."
        ),
        epilog=(
            "examples:\n"
            "  skelact eval --gt stream/assets/precog --split test --pred events.jsonl\n"
            "  skelact eval --gt labels.csv --pred segments.csv --scores scores.npz --json result.json\n"
            "  skelact eval --gt labels.csv --pred events.jsonl --fps 30 --tiou 0.3 0.5 0.7"
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
    p.add_argument("--tiou", type=number(float, gt=0, le=1), nargs="+", default=[0.1, 0.2, 0.3, 0.4, 0.5],
                   metavar="X", help="temporal IoU thresholds in (0, 1] (default 0.1 0.2 0.3 0.4 0.5)")
    p.add_argument("--json", default=None, metavar="OUT", help="write the results as a JSON dictionary")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from skelact.models.evaluation import (
        InputError,
        evaluate,
        format_table,
        load_gt,
        load_scores,
        read_predictions,
    )

    tious = [float(x) for x in args.tiou]
    try:
        gt = load_gt(Path(args.gt), args.split)
        preds, warnings = read_predictions(Path(args.pred), args.fps)
        scores = load_scores(Path(args.scores)) if args.scores else None
        result, more = evaluate(gt, preds, tious, scores)
    except InputError as e:
        print(f"skelact eval: {e}", file=sys.stderr)
        return 2
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
    return 0
