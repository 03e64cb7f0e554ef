"""`skelact serve`: the streaming runtime (PULL pose frames in, PUB events out)."""

from __future__ import annotations

import argparse
import logging
import math
import sys

SUMMARY = "run the streaming runtime: pose frames in (PULL), action start/end events out (PUB)"


def _number(kind, ok, what):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return v

    return parse


_positive = _number(float, lambda v: math.isfinite(v) and v > 0, "a number > 0")
_nonneg = _number(float, lambda v: math.isfinite(v) and v >= 0, "a number >= 0")
_positive_int = _number(int, lambda v: v >= 1, "an integer >= 1")


def build_parser() -> argparse.ArgumentParser:
    from skelact.stream import protocol as P
    from skelact.stream.assets import model_help
    from skelact.stream.detector import DetectorConfig
    from skelact.stream.runtime import RuntimeConfig

    from .common import add_detector_args

    p = argparse.ArgumentParser(
        prog="skelact serve",
        description=(
            "Serve a model over ZeroMQ (protocol v1, docs/protocol.md). Producers PUSH pose frames to "
            "--in; subscribers SUB to --out for event/<stream>, status, error/<stream> and, with "
            "--scores, scores/<stream>. Step or window mode comes from the model's metadata. "
            "Stop with Ctrl-C/SIGTERM: every open action gets its end (reason shutdown)."
        ),
    )
    p.add_argument("--model", default=None, help=f"{model_help()} (default: default; its step graph)")
    p.add_argument("--in", dest="in_endpoint", default=P.DEFAULT_IN, help=f"PULL bind endpoint (default {P.DEFAULT_IN})")
    p.add_argument("--out", dest="out_endpoint", default=P.DEFAULT_OUT, help=f"PUB bind endpoint (default {P.DEFAULT_OUT})")
    p.add_argument("--scores", action="store_true", help="also publish smoothed per-frame scores on scores/<stream>")
    p.add_argument("--provider", default="auto", choices=["auto", "cpu", "cuda", "tensorrt"],
                   help="ONNX Runtime provider (auto: GPU only when its driver loads)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default 1)")
    p.add_argument("--batch-wait-ms", type=float, default=0.0,
                   help="wait up to this long to batch frames of several streams (default 0)")
    p.add_argument("--publish-every", type=int, default=32,
                   help="run queued frames through the model in chunks of this many and publish each "
                        "chunk's results before the next (lower latency under bursts; 0 = all at once; default 32)")
    rc, dc = RuntimeConfig(), DetectorConfig()
    g = p.add_argument_group("limits and overload (docs/runtime.md, 'Overload and gaps')")
    g.add_argument("--max-age-ms", type=_nonneg, default=rc.max_age_ms,
                   help=f"drop a frame (before accepting it, counted in frames_dropped) that waited longer "
                        f"than this since it was received; the model then skips the dropped time. 0 = off: "
                        f"every frame runs, for replays and tests that need them all (default {rc.max_age_ms:g})")
    g.add_argument("--max-streams", type=_positive_int, default=dc.max_streams,
                   help=f"streams open at once; more are rejected as too_many_streams (default {dc.max_streams})")
    g.add_argument("--max-tracks", type=_positive_int, default=dc.max_tracks,
                   help=f"tracks (person ids) per stream; more are rejected as too_many_tracks "
                        f"(default {dc.max_tracks})")
    g.add_argument("--max-state-mb", type=_positive, default=dc.max_state_mb,
                   help=f"model state of all tracks together, MiB; a new track beyond it is rejected as "
                        f"too_many_tracks (default {dc.max_state_mb:g})")
    g.add_argument("--max-backlog", type=_positive_int, default=rc.max_backlog,
                   help=f"received frames waiting to be run, all streams (default {rc.max_backlog})")
    p.add_argument("--max-persons", type=int, default=16, help="largest P accepted in a frame (default 16)")
    p.add_argument("--max-message-bytes", type=int, default=1 << 20, help="size limit per message (default 1 MiB)")
    p.add_argument("--curve-secret", default=None,
                   help="runtime's CURVE secret key file: with --curve-clients, required to bind a "
                        "non-loopback address")
    p.add_argument("--curve-clients", default=None,
                   help="directory of allowed client public keys (CURVE); a stream id belongs to the key "
                        "that first used it until the stream ends")
    p.add_argument("--allow-insecure", action="store_true",
                   help="bind a non-loopback address without CURVE authentication (not recommended)")
    add_detector_args(p)
    return p


def _is_loopback(endpoint: str) -> bool:
    host = endpoint.split("://", 1)[-1].rsplit(":", 1)[0]
    return endpoint.startswith(("ipc://", "inproc://")) or host in ("127.0.0.1", "localhost", "[::1]", "::1")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from dataclasses import replace

    from skelact.stream import protocol as P
    from skelact.stream.assets import resolve_model
    from skelact.stream.engine import Engine
    from skelact.stream.metadata import ModelError
    from skelact.stream.runtime import Runtime, RuntimeConfig

    from .common import detector_config

    log = logging.getLogger("skelact.serve")
    exposed = [e for e in (args.in_endpoint, args.out_endpoint) if not _is_loopback(e)]
    if exposed and not args.allow_insecure and not (args.curve_secret and args.curve_clients):
        what = ("--curve-secret alone lets any key pair in: add --curve-clients DIR (allowed client keys)"
                if args.curve_secret else "pass --curve-secret KEY --curve-clients DIR")
        print(f"skelact serve: {', '.join(exposed)} is not loopback: {what} (see docs/protocol.md, 'Security'), "
              "or --allow-insecure", file=sys.stderr)  # fmt: skip
        return 2
    try:
        dcfg = detector_config(args, scores=args.scores)
        engine = Engine(resolve_model(args.model, "step"), provider=args.provider, threads=args.threads)
        limits = replace(P.Limits(), max_persons=args.max_persons, max_message_bytes=args.max_message_bytes)
        cfg = RuntimeConfig(in_endpoint=args.in_endpoint, out_endpoint=args.out_endpoint, limits=limits,
                            detector=dcfg, batch_wait_ms=args.batch_wait_ms, publish_every=max(0, args.publish_every),
                            max_age_ms=args.max_age_ms, max_backlog=args.max_backlog,
                            curve_secret_file=args.curve_secret, curve_clients_dir=args.curve_clients)  # fmt: skip
        rt = Runtime(engine, cfg)
        rt.bind()
    except (ModelError, ValueError, OSError) as e:
        print(f"skelact serve: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # zmq.ZMQError on bind (address in use, bad endpoint)
        print(f"skelact serve: cannot bind: {e}", file=sys.stderr)
        return 2
    m = engine.meta
    log.info("model %s: %s mode, %d classes, %g fps, lookahead %.2f s, providers %s",
             m.name, m.mode, m.num_classes, m.fps, m.lookahead_s, ",".join(engine.providers))  # fmt: skip
    print(f"serving on {rt.in_endpoint} (frames in) -> {rt.out_endpoint} (events out); Ctrl-C stops", flush=True)
    rt.install_signal_handlers()
    rt.run()
    c = rt.counters
    print(f"stopped: {c['frames_in']} frames in, {c['frames_rejected']} rejected, "
          f"{c['frames_dropped']} dropped, {c['events_out']} events out", flush=True)  # fmt: skip
    return 0
