"""Out-of-domain false starts of a model on other datasets' test splits and on MediaPipe videos.

    python scripts/ood_report.py MODEL.onnx [--data ../shared/data] [--video ../shared/video] [--json OUT]

Every test-split recording of the other datasets (PKU-MMD, MSRC-12, UTKinect, PRECOG:
those the model was not trained on) is streamed through the model with `skelact detect`
(the runtime's own core and the model's own thresholds); time outside the labelled
instances of the classes that overlap the model's (the overlap lists below, per bundled
model: `--preset`) is out of domain, and every start there is a false start (`skelact eval --ood-overlap` computes
the same from an events file). The MediaPipe poses of the videos are all out of domain.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# Per bundled model: each OOD dataset's classes that overlap the model's; their instances are in domain.
OVERLAPS = {
    # PRECOG's martial-arts moves: kicks, punches, pushes, throws, shooting, changing weapon
    "default": {"pkummd": [18, 19, 26, 27, 41], "msrc12": [3, 6, 8, 10, 12], "utkinect": [6, 7, 8]},
    # MSRC-12's gestures: bows, kicks, throws, pointing, pushes, crouching, waving; PRECOG's punches and kicks
    "gestures": {"pkummd": [1, 18, 19, 24, 25, 27, 33, 41], "utkinect": [2, 6, 7, 9], "precog": [1, 2, 3, 4, 5, 6]},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--video", default="../shared/video")
    ap.add_argument("--split", default="test")
    ap.add_argument("--preset", choices=sorted(OVERLAPS), default="default",
                    help="which overlap lists (the model's classes) to use (default: default)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from skelact.models.ood import ood_report
    from skelact.stream.engine import Engine
    from skelact.stream.formats import load_dataset
    from skelact.stream.offline import detect_sequence

    eng = Engine(args.model, provider="cpu")
    out: dict = {"model": args.model, "split": args.split}
    overlaps = OVERLAPS[args.preset]
    for name, overlap in overlaps.items():
        path = Path(args.data) / name
        if not path.is_dir():
            print(f"{name}: not found at {path}, skipped", file=sys.stderr)
            continue
        ds = load_dataset(path).split(args.split)
        t0 = time.time()
        events = [e for seq in ds for e in detect_sequence(eng, seq) if e.get("type") == "start"]
        r = ood_report(ds, events, overlap)
        r["seconds"] = round(time.time() - t0, 1)
        out[name] = r
        print(f"{name:9s} {r['ood_hours']:.3f} h OOD, {r['ood_false_starts']} false starts = "
              f"{r['ood_false_starts_per_hour']:.1f} per hour ({r['starts_in_domain']} starts in overlapping "
              f"instances)", flush=True)
    videos = sorted(Path(args.video).glob("*.pose.npz"))
    if videos:
        hours, starts, per = 0.0, 0, {}
        for v in videos:
            ds = load_dataset(v)
            ev = [e for seq in ds for e in detect_sequence(eng, seq) if e.get("type") == "start"]
            r = ood_report(ds, ev, [])
            hours += r["ood_hours"]
            starts += r["ood_false_starts"]
            per[v.name] = r["ood_false_starts"]
        out["video"] = {"ood_hours": hours, "ood_false_starts": starts,
                        "ood_false_starts_per_hour": starts / hours if hours else float("nan"), "per_video": per}
        print(f"video     {hours * 3600:.0f} s of MediaPipe poses, {starts} false starts {per}")
    keys = [k for k in overlaps if k in out]
    hours = sum(out[k]["ood_hours"] for k in keys)
    starts = sum(out[k]["ood_false_starts"] for k in keys)
    out["datasets_total"] = {"ood_hours": hours, "ood_false_starts": starts,
                             "ood_false_starts_per_hour": starts / hours if hours else float("nan")}
    print(f"total     {hours:.3f} h, {starts} false starts = {out['datasets_total']['ood_false_starts_per_hour']:.1f} "
          "per hour (datasets)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
