"""`skelact data`: inspect skeleton datasets (`skelact data info PATH`).

``info`` loads any path ``load_dataset`` accepts (a shared npz dataset folder or an
original-format file/folder) and prints, per dataset, a summary table (sequences,
frames, duration, fps nominal and measured, layout, persons, labels, splits) and a
per-class table (id, name, instances). ``--json OUT`` writes the same numbers as a
flat dictionary (see ``summarize``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from skelact.stream.sequence import Dataset

SUMMARY = "describe a dataset: sequences, frames, fps, layout, classes, splits"

_FORMATS_HELP = """\
formats (recognised from the path):
  npz        shared npz dataset folder (sequences.npz, labels.csv, classes.json, ...)
  precog     PRECOG csv file or folder (SeqA_B.csv: 'x y z;...;class' rows)
  pkummd     PKU-MMD skeleton txt, PKU_Skeleton_Renew/ or its parent (labels from
             the sibling Train_Label_PKU_final/)
  ntu        NTU RGB+D .skeleton file or folder
  msrc12     MSRC-12 csv (+ .tagstream) file or folder
  utkinect   UTKinect joints_sXX_eYY.txt file or folder (+ actionLabel.txt)
  mediapipe  MediaPipe .pose.npz file or folder
"""

_JSON_DOC = """\
--json OUT writes one flat dictionary per dataset (a list of them for several PATHs):
  dataset, path, format, sequences, frames, duration_s, frames_min/median/max,
  fps_nominal (median of the sequences' nominal fps), fps_nominal_min/max,
  fps_measured_median (1 / median positive frame step), fps_note, layout, joints,
  persons_max (most persons present in one frame), persons_slots (array P),
  label_kind, background_id, num_classes, classes_present, labelled_instances,
  classes {id: name}, instances {id: count}, splits {name: count}, excluded (count of
  sequences left out for having no skeleton data)
Instances count intervals (frame labels: runs of the same class), action points
(point labels) or sequences containing the class (video labels).
"""


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="skelact data",
        description="Inspect skeleton action datasets.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_FORMATS_HELP,
    )
    sub = ap.add_subparsers(dest="action", metavar="{info}")
    info = sub.add_parser(
        "info",
        help="describe a dataset (sequences, frames, fps, layout, classes, splits)",
        description="Load PATH (any supported format) and print a summary of it.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_FORMATS_HELP + "\n" + _JSON_DOC,
    )
    info.add_argument("paths", nargs="+", metavar="PATH", help="dataset folder or file")
    info.add_argument("--json", metavar="OUT", help="also write the numbers as JSON to OUT")
    info.add_argument("--sequences", action="store_true",
                      help="also list every sequence (id, frames, seconds, persons, labels)")  # fmt: skip
    return ap


def _instances(ds: Dataset) -> dict[int, int]:
    counts: dict[int, int] = {}
    for s in ds:
        lab = s.labels
        if lab.kind in ("frame", "interval"):
            ids = [iv.class_id for iv in lab.intervals]
        elif lab.kind == "point":
            ids = [p.class_id for p in lab.points]
        elif lab.kind == "video":
            ids = list(lab.video)
        else:
            ids = []
        for c in ids:
            counts[c] = counts.get(c, 0) + 1
    return counts


def summarize(ds: Dataset, fmt: str | None = None) -> dict:
    """The numbers `data info` prints, as a flat JSON-able dict (fps in frames/s,
    durations in seconds)."""
    seqs = list(ds)
    lengths = np.array([s.num_frames for s in seqs], dtype=np.int64)
    steps = [np.diff(s.t) for s in seqs if s.num_frames > 1]
    dt = np.concatenate(steps) if steps else np.zeros(0)
    dt = dt[dt > 0]
    # Sequence.fps is each sequence's nominal rate (UTKinect: its mean row rate).
    rates = np.array([s.fps for s in seqs], dtype=np.float64)
    inst = _instances(ds)
    return {
        "dataset": ds.name,
        "path": str(ds.meta.get("path", "")),
        "format": fmt or ds.meta.get("format") or "npz",
        "sequences": len(seqs),
        "frames": int(lengths.sum()),
        "duration_s": round(float(sum(s.duration_s for s in seqs)), 3),
        "frames_min": int(lengths.min()) if len(seqs) else 0,
        "frames_median": float(np.median(lengths)) if len(seqs) else 0.0,
        "frames_max": int(lengths.max()) if len(seqs) else 0,
        "fps_nominal": round(float(np.median(rates)), 3) if len(seqs) else None,
        "fps_nominal_min": round(float(rates.min()), 3) if len(seqs) else None,
        "fps_nominal_max": round(float(rates.max()), 3) if len(seqs) else None,
        "fps_measured_median": round(float(1.0 / np.median(dt)), 3) if dt.size else None,
        "fps_note": ds.meta.get("fps_note", ""),
        "layout": ds.layout if seqs else None,
        "joints": int(seqs[0].joints.shape[2]) if seqs else 0,
        "persons_max": max((s.persons_present() for s in seqs), default=0),
        "persons_slots": max((s.num_persons for s in seqs), default=0),
        "label_kind": ds.label_kind,
        "background_id": ds.background_id,
        "num_classes": len(ds.class_ids),
        "classes_present": sum(1 for c in ds.class_ids if inst.get(c)),
        "labelled_instances": int(sum(inst.values())),
        "classes": {str(k): v for k, v in sorted(ds.classes.items())},
        "instances": {str(k): inst.get(k, 0) for k in sorted(set(ds.classes) | set(inst))
                      if k != ds.background_id},  # fmt: skip
        "splits": {k: len(v) for k, v in ds.splits.items()},
        "excluded": len(ds.meta.get("excluded", [])),
    }


def _table(rows: list[list[str]], header: list[str] | None, right: set[int] = frozenset()) -> str:
    """Plain-text table; columns in ``right`` are right-aligned; no header when None."""
    ncol = len(header or rows[0])
    widths = [max(len(str(r[i])) for r in ([header] if header else []) + rows) for i in range(ncol)]

    def fmt(r: list) -> str:
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]  # fmt: skip
        return "  ".join(cells).rstrip()

    head = [fmt(header), fmt(["-" * w for w in widths])] if header else []
    return "\n".join([*head, *map(fmt, rows)])


def _fmt_num(x: float | int | None) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.2f}"
    return f"{int(x):,}"


def _print_info(ds: Dataset, info: dict, with_sequences: bool) -> None:
    kind = info["label_kind"]
    unit = {"frame": "intervals (runs of frame labels)", "interval": "intervals",
            "point": "action points", "video": "labelled sequences"}.get(kind, "")  # fmt: skip
    fps_line = f"{_fmt_num(info['fps_nominal'])} nominal"
    if info["fps_nominal_min"] != info["fps_nominal_max"]:
        fps_line += (f" (median; per sequence {_fmt_num(info['fps_nominal_min'])}"
                     f"..{_fmt_num(info['fps_nominal_max'])})")  # fmt: skip
    fps_line += f", {_fmt_num(info['fps_measured_median'])} measured (1 / median frame step)"
    rows = [
        ["dataset", info["dataset"]],
        ["path", info["path"]],
        ["format", info["format"]],
        ["sequences", _fmt_num(info["sequences"])],
        ["frames", f"{_fmt_num(info['frames'])} (per sequence min {info['frames_min']:,}, "
                   f"median {_fmt_num(info['frames_median'])}, max {info['frames_max']:,})"],
        ["duration", f"{info['duration_s']:.1f} s" if info["duration_s"] < 120
                     else f"{info['duration_s'] / 60:,.1f} min"],
        ["fps", fps_line],
        ["layout", f"{info['layout']} ({info['joints']} joints)"],
        ["persons", f"{info['persons_max']} max present ({info['persons_slots']} slot(s) per frame)"],
        ["labels", f"{kind}" + (f": {info['labelled_instances']:,} {unit}" if unit else "")],
        ["classes", f"{info['num_classes']} ({info['classes_present']} with instances)"
                    + ("" if info["background_id"] is None else f" + background id {info['background_id']}")],
        ["splits", ", ".join(f"{k} {v:,}" for k, v in info["splits"].items()) or "-"],
    ]  # fmt: skip
    if info["excluded"]:
        rows.append(["excluded", f"{info['excluded']} sequence(s) without skeleton data"])
    print(_table(rows, None))
    if info["fps_note"]:
        print(textwrap.fill(f"fps note: {info['fps_note']}", width=100, subsequent_indent="  "))
    if ds.classes:
        crow = []
        for k, name in sorted(ds.classes.items()):
            n = "(background)" if k == ds.background_id else f"{info['instances'].get(str(k), 0):,}"
            crow.append([str(k), name, n])
        print()
        print(_table(crow, ["id", "name", "instances"], right={0, 2}))
    if with_sequences:
        srows = []
        for s in ds:
            lab = s.labels
            n = len(lab.points) if lab.kind == "point" else len(lab.intervals) or len(lab.video)
            srows.append([s.id, f"{s.num_frames:,}", f"{s.duration_s:.1f}", str(s.persons_present()),
                          f"{lab.kind} {n}" if lab.kind != "none" else "-"])  # fmt: skip
        print()
        print(_table(srows, ["sequence", "frames", "seconds", "persons", "labels"], right={1, 2, 3}))


def _info(args: argparse.Namespace) -> int:
    from skelact.stream.formats import load_dataset
    from skelact.stream.formats.registry import sniff_format
    from skelact.stream.sequence import DataError

    results = []
    for i, path in enumerate(args.paths):
        try:
            ds = load_dataset(path)
        except (DataError, OSError, ValueError, KeyError) as e:
            print(f"skelact data info: error: {e}", file=sys.stderr)
            return 2
        info = summarize(ds, sniff_format(Path(path)))
        if i:
            print()
        _print_info(ds, info, args.sequences)
        results.append(info)
    if args.json:
        doc = results[0] if len(results) == 1 else results
        try:
            Path(args.json).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        except OSError as e:
            print(f"skelact data info: error: cannot write {args.json}: {e}", file=sys.stderr)
            return 2
    return 0


def main(argv: list[str]) -> int:
    """Entry point of `skelact data`; returns the exit code (2 on errors)."""
    ap = _parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2)
        return int(e.code or 0)
    if args.action is None:
        ap.print_help(sys.stderr)
        return 2
    try:
        return _info(args)
    except BrokenPipeError:  # e.g. `skelact data info X | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
