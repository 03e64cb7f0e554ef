"""`skelact model list | info`: the bundled models, and what one model file says about itself."""

from __future__ import annotations

import argparse
import json
import re
import sys

SUMMARY = "list the bundled models (`model list`) or print a model's metadata (`model info NAME|M.onnx`)"

# Licences under which a dataset (and a model trained on it) may be used and shipped freely.
_PERMISSIVE = re.compile(r"\s*(MIT|Apache|BSD|ISC|CC0|Unlicense|zlib)\b", re.IGNORECASE)


def build_parser() -> argparse.ArgumentParser:
    from skelact.stream.assets import model_help

    from .cli import ArgumentParser

    p = ArgumentParser(prog="skelact model", description="List the bundled models; inspect skelact ONNX models.")
    sub = p.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="the bundled models: classes, graph files and sizes, data licence")
    ls.add_argument("--json", action="store_true", help="print JSON (one object per bundled model)")
    info = sub.add_parser("info", help="print the model's metadata (classes, mode, fps, state, ...)")
    info.add_argument("model", nargs="?", default=None,
                      help=f"{model_help('an .onnx file')} (default: default)")  # fmt: skip
    info.add_argument("--mode", choices=["step", "window"], default="step",
                      help="with a bundled name: which graph (default step)")  # fmt: skip
    info.add_argument("--json", action="store_true", help="print the raw metadata JSON")
    return p


def licence_summary(data: list[dict] | tuple[dict, ...]) -> str:
    """One phrase for the licences of a model's training data (metadata ``data``, format 2).

    The permissive licence name(s) (e.g. "MIT" for PRECOG alone) when every dataset is under
    an MIT/Apache/BSD-like licence; "research use" as soon as one is not (or states none);
    "not stated" when the model records no data (format 1).
    """
    if not data:
        return "not stated"
    names: list[str] = []
    for d in data:
        m = _PERMISSIVE.match(str(d.get("licence") or ""))
        if not m:
            return "research use"
        names.append(m.group(1))
    return ", ".join(dict.fromkeys(names))


def _shorten(names: list[str], width: int = 48) -> str:
    out = ""
    for i, n in enumerate(names):
        nxt = f"{out}, {n}" if out else n
        if len(nxt) > width and i:
            return f"{out}, ... (+{len(names) - i})"
        out = nxt
    return out


def _model_row(name: str) -> dict:
    from skelact.stream.assets import bundled_model_files
    from skelact.stream.engine import read_meta
    from skelact.stream.metadata import ModelError

    files = bundled_model_files(name)
    row: dict = {"name": name, "files": {k: {"path": str(p), "bytes": p.stat().st_size} for k, p in files.items()}}
    graph = files.get("step") or files.get("window")
    try:
        meta = read_meta(graph)  # type: ignore[arg-type]  # bundled_models() lists names that have a graph
    except ModelError as e:
        row["error"] = str(e)
        return row
    row.update({"model_name": meta.name, "num_classes": meta.num_classes, "fps": meta.fps,
                "classes": [{"id": int(c), "name": str(n)} for c, n in meta.classes],
                "licence": licence_summary(meta.data),
                "data": [{k: d.get(k) for k in ("dataset", "use", "licence")} for d in meta.data]})  # fmt: skip
    return row


def _list(args: argparse.Namespace) -> int:
    from skelact.stream.assets import MODELS_DIR, bundled_models

    rows = [_model_row(n) for n in bundled_models()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        table = [("name", "classes", "files (KiB)", "data licence")]
        for r in rows:
            sizes = ", ".join(f"{k} {round(f['bytes'] / 1024)}" for k, f in r["files"].items())
            if "error" in r:
                table.append((r["name"], "unreadable", sizes, "?"))
                continue
            classes = f"{r['num_classes']}: {_shorten([c['name'] for c in r['classes']])}"
            table.append((r["name"], classes, sizes, r["licence"]))
        widths = [max(len(t[i]) for t in table) for i in range(3)]
        for t in table:
            print("  ".join(c.ljust(w) for c, w in zip(t, widths)) + "  " + t[3])
        print(f"\nfiles: {MODELS_DIR}/<name>_{{step,window}}.onnx, <name>.ckpt" if rows else "no bundled models")
        print("any --model flag takes one of these names; `skelact model info NAME` prints one in full")
    bad = [r for r in rows if "error" in r]
    for r in bad:
        print(f"skelact model list: {r['error']}", file=sys.stderr)
    return 1 if bad else 0


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd == "list":
        return _list(args)
    from skelact.stream.assets import resolve_model
    from skelact.stream.engine import read_meta
    from skelact.stream.metadata import ModelError

    try:
        path = resolve_model(args.model, args.mode)
        meta = read_meta(path)
    except (ModelError, ValueError) as e:
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
