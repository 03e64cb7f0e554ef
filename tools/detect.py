"""`skelact detect`: run a model over recorded files (streaming core, or --offline)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

SUMMARY = "detect actions in recorded files: the runtime's streaming core, or --offline (the papers' way)"


def build_parser() -> argparse.ArgumentParser:
    from .cli import ArgumentParser
    from .common import add_detector_args

    p = ArgumentParser(
        prog="skelact detect",
        description=(
            "Run a model over a recorded file or dataset. By default this is the streaming core of "
            "`skelact serve` (same events as replaying the file into a runtime, causal, frame by "
            "frame). --offline is the papers' whole-sequence inference (non-causal, for evaluation): "
            "the window graph over the whole sequence, classes with video score < 0.1 rejected, "
            "multi-threshold proposals and NMS. Output by extension: .jsonl = event bodies, "
            ".csv = segments (sequence,class_id,start_frame,end_frame,score)."
        ),
    )
    p.add_argument("input", help="file or dataset folder (any format `skelact data info` reads), optionally :SEQ")
    p.add_argument("--model", default=None, help="ONNX model (default: the bundled default model)")
    p.add_argument("-o", "--out", required=True, help="events .jsonl or segments .csv")
    p.add_argument("--split", default=None, help="only this split of a dataset (e.g. test)")
    p.add_argument("--offline", action="store_true", help="whole-sequence, non-causal inference (window graph)")
    p.add_argument("--scores-out", default=None, help="also write per-frame scores (.npz) for `skelact eval --scores`")
    p.add_argument("--provider", default="auto", choices=["auto", "cpu", "cuda", "tensorrt"])
    add_detector_args(p)
    return p


def _sequences(args):

    from skelact.stream.formats import load_dataset, load_sequence

    if not Path(args.input).exists() and ":" in args.input:
        return [load_sequence(args.input)]
    ds = load_dataset(args.input)
    if args.split:
        ds = ds.split(args.split)
    return list(ds)


def _frame_scores_at_rows(seq, grid_t: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(T_rows, K): each source row takes the grid frame nearest in time."""
    k = np.searchsorted(grid_t, seq.t)
    k = np.clip(k, 0, len(grid_t) - 1)
    prev = np.clip(k - 1, 0, len(grid_t) - 1)
    nearer = np.where(np.abs(grid_t[prev] - seq.t) <= np.abs(grid_t[k] - seq.t), prev, k)
    return scores[nearer]


def _offline(engine, seq):
    """(segments [(class_id, start_row, end_row, score)], per-row scores (T, K))."""
    from skelact.models.proposals import ProposalConfig, propose
    from skelact.stream.prepare import prepare_sequence

    m = engine.meta
    prep = prepare_sequence(seq, m.norm, m.fps)
    probs = engine.run_window(prep.x[None])[0][:, m.action_indices]  # (T, K)
    k = max(1, len(probs) // 8)
    video = np.sort(probs, axis=0)[-k:].mean(0)  # top-k mean, as in MIL-based WTAL
    segs = propose(probs, video, ProposalConfig())
    out = [(m.classes[c][0], int(prep.src[s]), int(prep.src[e]), float(sc)) for c, s, e, sc in segs]
    return out, _frame_scores_at_rows(seq, prep.t, probs)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from skelact.stream.assets import default_model_path
    from skelact.stream.engine import Engine
    from skelact.stream.formats import DataError
    from skelact.stream.metadata import ModelError
    from skelact.stream.offline import detect_sequence

    from .common import detector_config

    # Everything about the outputs is checked before the (long) inference, not after it.
    if not args.out.endswith((".jsonl", ".csv")):
        print("skelact detect: -o must end in .jsonl (events) or .csv (segments)", file=sys.stderr)
        return 2
    if args.offline and args.out.endswith(".jsonl"):
        print("skelact detect: --offline writes segments, not events: use a .csv output", file=sys.stderr)
        return 2
    for path in (args.out, args.scores_out):
        if path and not Path(path).resolve().parent.is_dir():
            print(f"skelact detect: cannot write {path}: no folder {Path(path).resolve().parent}", file=sys.stderr)
            return 2
    try:  # the data first: a wrong path or an empty split is found before the model loads
        dcfg = detector_config(args, scores=bool(args.scores_out))
        seqs = _sequences(args)
        if not seqs:
            where = f"split {args.split!r} of {args.input}" if args.split else args.input
            raise DataError(f"no sequences in {where}: nothing to detect")
        model = args.model or default_model_path("window" if args.offline else "step")
        engine = Engine(model, provider=args.provider)
        if args.offline and engine.meta.mode != "window":
            raise ModelError(f"{model}: --offline needs a window-mode model (this one is {engine.meta.mode})")
    except (DataError, ModelError, KeyError, ValueError) as e:
        print(f"skelact detect: {e.args[0] if isinstance(e, KeyError) and e.args else e}", file=sys.stderr)
        return 2
    start = time.monotonic()
    rows: list[list] = []
    events: list[dict] = []
    frame_scores: dict[str, np.ndarray] = {}
    for i, seq in enumerate(seqs, 1):
        if args.offline:
            segs, fs = _offline(engine, seq)
            rows += [[seq.id, c, s, e, sc] for c, s, e, sc in segs]
            frame_scores[seq.id] = fs
        else:
            bodies = detect_sequence(engine, seq, dcfg)
            evs = [b for b in bodies if b["type"] in ("start", "end")]
            events += evs
            if args.scores_out:
                sc = [b for b in bodies if b["type"] == "scores"]
                if sc:
                    per_seq = np.zeros((seq.num_frames, engine.meta.num_classes), np.float32)
                    for b in sc:
                        per_seq[b["seq"]] = b["scores"]
                    frame_scores[seq.id] = per_seq
            starts = {e["event_id"]: e for e in evs if e["type"] == "start"}
            for e in evs:
                if e["type"] == "end" and e["event_id"] in starts:
                    rows.append([seq.id, e["class_id"], starts[e["event_id"]]["seq"], e["seq"], e["peak_score"]])
        print(f"[{i}/{len(seqs)}] {seq.id}: {seq.num_frames} frames", file=sys.stderr, flush=True)
    if args.out.endswith(".jsonl"):
        with open(args.out, "w", encoding="utf-8") as f:
            for e in events:
                f.write(json.dumps(e, allow_nan=False) + "\n")
    else:
        with open(args.out, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["sequence", "class_id", "start_frame", "end_frame", "score"])
            w.writerows(rows)
    if args.scores_out:
        np.savez_compressed(args.scores_out, class_ids=np.array([c for c, _ in engine.meta.classes]), **frame_scores)
    n = len(rows)
    print(f"{len(seqs)} sequences, {n} detections in {time.monotonic() - start:.1f} s -> {args.out}", flush=True)
    return 0
