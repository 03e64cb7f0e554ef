"""Shared CLI option groups (detector settings) so serve, detect and demo agree."""

from __future__ import annotations

import argparse

from skelact.stream.detector import DetectorConfig
from skelact.stream.events import EventConfig
from skelact.stream.smoothing import SmoothingConfig


def add_detector_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("decisions (smoothing and event state machine)")
    d, e, s = DetectorConfig(), EventConfig(), SmoothingConfig()
    g.add_argument("--smoothing", choices=["ema", "mean", "none"], default=s.kind,
                   help=f"causal smoothing of class scores (default {s.kind})")
    g.add_argument("--alpha", type=float, default=s.alpha, help=f"EMA weight of the new frame (default {s.alpha})")
    g.add_argument("--smooth-window", type=int, default=s.window,
                   help=f"frames of the causal moving average (default {s.window})")
    g.add_argument("--on", type=float, default=None,
                   help=f"score that starts an action, every class (default: the model's calibrated per-class "
                        f"thresholds, `skelact model info`; {e.on} for a model without them)")
    g.add_argument("--off", type=float, default=None,
                   help=f"score below which an action ends, every class (default: the model's, else {e.off})")
    g.add_argument("--min-frames", type=int, default=None,
                   help=f"model frames above --on before a start (default: the model's, else {e.min_frames})")
    g.add_argument("--min-gap", type=int, default=None,
                   help=f"model frames below --off before an end (default: the model's, else {e.min_gap})")
    g.add_argument("--silence-timeout", type=float, default=d.silence_timeout_s,
                   help=f"seconds of silence that close a stream or track (default {d.silence_timeout_s})")
    g.add_argument("--max-gap-s", type=float, default=d.max_gap_s,
                   help=f"a stream whose t jumps further (or a person away longer) starts afresh: open actions "
                        f"end with reason reset, and a time_gap error says why; gaps up to this are bridged "
                        f"(default {d.max_gap_s:g} s)")


def detector_config(args: argparse.Namespace, scores: bool = False) -> DetectorConfig:
    """Build the DetectorConfig from parsed args; ValueError explains a bad combination
    (thresholds are checked against the model when the detection core is built).
    The caps (``--max-streams`` etc.) are taken when the parser has them (serve)."""
    caps = {k: getattr(args, k) for k in ("max_streams", "max_tracks", "max_state_mb") if hasattr(args, k)}
    return DetectorConfig(
        smoothing=SmoothingConfig(kind=args.smoothing, alpha=args.alpha, window=args.smooth_window),
        event_overrides=tuple((k, v) for k, v in (("on", args.on), ("off", args.off), ("min_frames", args.min_frames),
                                                  ("min_gap", args.min_gap)) if v is not None),
        silence_timeout_s=args.silence_timeout,
        max_gap_s=args.max_gap_s,
        scores=scores,
        **caps,
    )
