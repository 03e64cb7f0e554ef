"""`skelact export CKPT -o OUT.onnx`: a checkpoint to a self-describing ONNX graph."""

from __future__ import annotations

import argparse
import importlib.util
import sys

SUMMARY = "export a checkpoint to ONNX (window or step graph) with metadata and a parity check"


def build_parser() -> argparse.ArgumentParser:
    from .cli import ArgumentParser, number

    p = ArgumentParser(
        prog="skelact export",
        description=(
            "Export a training checkpoint to ONNX, one graph per file. The window graph takes "
            "x (N, T, M, V, C) and returns probs (N, T, K+1); the step graph (causal models only) "
            "takes one frame x (N, M, V, C) plus state tensors and returns probs (N, K+1) plus the "
            "state outputs (ring state: the runtime keeps each layer's history and feeds only the "
            "past inputs the dilated kernels read; carry state: the graph moves the whole history "
            "in and out). The file carries a 'skelact' metadata entry (see `skelact model info`). "
            "The export fails (and writes nothing) unless ONNX Runtime matches the float32 torch model "
            "within 1e-4 (fp32) or 5e-3 (fp16) on random and real input."
        ),
    )
    p.add_argument("checkpoint", help="checkpoint file written by `skelact train`")
    p.add_argument("-o", "--out", required=True, help="output .onnx path")
    p.add_argument("--mode", choices=["window", "step"], default="window",
                   help="window: recompute over a window each frame; step: one frame + cached state (default: window)")
    p.add_argument("--state", choices=["ring", "carry"], default="ring",
                   help="step graphs: ring = history kept by the runtime, only the taps cross the graph "
                        "boundary (fast, default); carry = the whole history in and out each step")
    p.add_argument("--window", type=number(int, ge=1), default=None,
                   help="frames the runtime feeds a window graph (default: max(64, receptive field))")
    p.add_argument("--fp16", action="store_true", help="export in float16 (tolerance 5e-3)")
    p.add_argument("--tolerance", type=number(float, gt=0), default=None,
                   help="largest accepted |torch fp32 - onnxruntime| on probabilities "
                        "(default 1e-4, with --fp16 5e-3)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--parity-data", default=None,
                   help="dataset for the real-input parity check (default: the bundled PRECOG)")
    p.add_argument("--name", default=None, help="model name stored in the metadata")
    return p


_NEEDS_TRAIN = "needs the training extra: pip install 'skelact[train]'"

# What an export needs beyond the runtime install (imported lazily, inside export_checkpoint).
_TRAIN_MODULES = ("torch",)


def _missing_train_module() -> str | None:
    """The first module of the training extra that is not installed, or None."""
    for name in _TRAIN_MODULES:
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except (ImportError, ValueError):
            return name
    return None


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    missing = _missing_train_module()  # before any work: a runtime-only install has no torch
    if missing is not None:
        print(f"skelact export: {_NEEDS_TRAIN} ({missing} is not installed)", file=sys.stderr)
        return 2
    try:
        from skelact.export.onnx_export import ExportError, export_checkpoint
    except ImportError as e:
        print(f"skelact export: {_NEEDS_TRAIN} ({e})", file=sys.stderr)
        return 2
    try:
        res = export_checkpoint(args.checkpoint, args.out, mode=args.mode, window=args.window,
                                fp16=args.fp16, opset=args.opset, parity_data=args.parity_data,
                                name=args.name, state=args.state,
                                tolerance=args.tolerance)  # fmt: skip
    except ExportError as e:
        print(f"skelact export: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:  # an optional dependency imported lazily by the exporter
        print(f"skelact export: {_NEEDS_TRAIN} ({e})", file=sys.stderr)
        return 2
    m = res.meta
    print(f"wrote {res.path} ({res.size_bytes / 1024:.0f} KiB): {m.mode} graph, {m.num_classes} classes, "
          f"{m.fps:g} fps, receptive field {m.receptive_field} frames, lookahead {m.lookahead}")  # fmt: skip
    print(f"parity: max |torch - onnxruntime| = {res.max_abs_diff:.2e} (tolerance {res.tolerance:.0e})")
    return 0
