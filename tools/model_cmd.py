"""`skelact model info M.onnx`: print a model's skelact metadata."""

from __future__ import annotations

import argparse
import json
import sys

SUMMARY = "inspect a model: `skelact model info M.onnx` prints its metadata"


def build_parser() -> argparse.ArgumentParser:
    from .cli import ArgumentParser

    p = ArgumentParser(prog="skelact model", description="Inspect skelact ONNX models.")
    sub = p.add_subparsers(dest="cmd", required=True)
    info = sub.add_parser("info", help="print the model's metadata (classes, mode, fps, state, ...)")
    info.add_argument("model", nargs="?", default=None,
                      help="an .onnx file (default: the bundled default step model)")  # fmt: skip
    info.add_argument("--json", action="store_true", help="print the raw metadata JSON")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from skelact.stream.assets import default_model_path
    from skelact.stream.engine import read_meta
    from skelact.stream.metadata import ModelError

    path = args.model or default_model_path("step")
    try:
        meta = read_meta(path)
    except ModelError as e:
        print(f"skelact model info: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(json.loads(meta.to_json()), indent=2))
        return 0
    print(f"model      {meta.name}  ({path})")
    print(f"mode       {meta.mode}" + (f"  (window {meta.window} frames)" if meta.mode == "window" else ""))
    print(f"fps        {meta.fps:g}")
    print(f"input      x (N, {'T, ' if meta.mode == 'window' else ''}{meta.persons}, {meta.norm.num_joints}, "
          f"{meta.norm.channels}) from layout {meta.layout} (trained on {meta.trained_on_layout})")  # fmt: skip
    print(f"receptive  {meta.receptive_field} frames ({meta.receptive_field / meta.fps:.2f} s), "
          f"lookahead {meta.lookahead} frames ({meta.lookahead_s:.2f} s)")  # fmt: skip
    print(f"norm       {meta.norm.to_dict()}")
    for s in meta.state:
        extra = f" offsets {list(s.offsets)}" if s.kind == "ring" else ""
        print(f"state      {s.name} {list(s.shape)} {s.kind}{extra}")
    print(f"classes    {meta.num_classes} (+ background at output {meta.background_index})")
    ev = meta.event_config()
    k = meta.num_classes
    ons, offs, mfs = ev.ons(k), ev.offs(k), ev.min_frames_per_class(k)
    source = "calibrated per class at training time" if meta.decision else "defaults (no calibrated thresholds)"
    print(f"decision   {source}; --on/--off/--min-frames override; min_gap {ev.min_gap} frames")
    print(f"  {'id':>4}  {'class':<24} {'on':>5} {'off':>5} {'min_frames':>10}")
    for c, (cid, name) in enumerate(meta.classes):
        print(f"  {cid:>4}  {name:<24} {ons[c]:>5.2f} {offs[c]:>5.2f} {mfs[c]:>10d}")
    for d in meta.data:
        lic = str(d.get("licence", "not stated"))
        print(f"data       {d.get('dataset', '?')} ({d.get('use', '?')}): {lic[:100]}{'...' if len(lic) > 100 else ''}")
    return 0
