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


def _workers(text: str) -> int:
    """``--workers``: an integer >= 1, or ``auto`` = one per core this process may use."""
    if text == "auto":
        import os

        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return _positive_int(text)


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
    p.add_argument("--batch-wait-ms", type=_nonneg, default=RuntimeConfig.batch_wait_ms,
                   help="when some live streams have no frame waiting, wait up to this long for theirs so that "
                        "frames sent together run in one model call (less CPU per frame; a lone stream never "
                        f"waits; 0 = run what is queued at once; default {RuntimeConfig.batch_wait_ms:g})")
    p.add_argument("--publish-every", type=int, default=None,
                   help="run queued frames through the model in chunks of this many and publish each "
                        "chunk's results before the next (lower latency under bursts; 0 = all at once; default "
                        "32, and 0 with --workers > 1, where chunks run asynchronously anyway)")
    w = p.add_argument_group("workers (docs/scaling.md; needs skelact[cluster] beyond one worker)")
    w.add_argument("--workers", type=_workers, default=1,
                   help="detection workers; streams are sharded across them by a stable hash of their id. "
                        "1 (default) = this process, no Ray; N > 1 = N Ray actors; auto = one per core")
    w.add_argument("--ray-address", default=None,
                   help="join this Ray cluster (host:port, ray://..., or auto) and spread the workers over its "
                        "nodes; default: a private local Ray with --workers CPUs")
    w.add_argument("--worker-gpus", type=_nonneg, default=0.0,
                   help="GPUs each worker asks Ray for; workers then run ONNX Runtime with CUDA (untested)")
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


def _pool(args, engine, dcfg):
    """A WorkerPool on Ray for --workers > 1 (or a Ray address / GPUs asked for), else None:
    the single-worker runtime imports nothing of Ray."""
    if args.workers == 1 and not args.ray_address and not args.worker_gpus:
        return None
    from skelact.stream.cluster import ClusterConfig, RayBackend
    from skelact.stream.workers import WorkerPool, WorkerSpec

    spec = WorkerSpec(str(engine.path), dcfg, provider=args.provider, threads=args.threads)
    cc = ClusterConfig(workers=args.workers, address=args.ray_address, gpus_per_worker=args.worker_gpus)
    return WorkerPool(RayBackend(spec, cc), dcfg)


def _is_loopback(endpoint: str) -> bool:
    host = endpoint.split("://", 1)[-1].rsplit(":", 1)[0]
    return endpoint.startswith(("ipc://", "inproc://")) or host in ("127.0.0.1", "localhost", "[::1]", "::1")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from dataclasses import replace

    from skelact.stream import protocol as P
    from skelact.stream.assets import resolve_model
    from skelact.stream.cluster import ClusterError  # imports no Ray: that waits for a pool
    from skelact.stream.engine import Engine
    from skelact.stream.metadata import ModelError
    from skelact.stream.runtime import Runtime, RuntimeConfig

    from .common import detector_config

    pool = None
    if args.workers > 1 or args.ray_address or args.worker_gpus:
        from skelact.stream.cluster import require_ray

        try:
            require_ray()  # before anything is loaded: one line and exit 2 without skelact[cluster]
        except ClusterError as e:
            print(f"skelact serve: {e}", file=sys.stderr)
            return 2
    if args.publish_every is None:
        args.publish_every = 0 if args.workers > 1 else 32
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
        pool = _pool(args, engine, dcfg)
        rt = Runtime(engine, cfg, core=pool)
        rt.bind()
    except (ModelError, ValueError, OSError, ClusterError) as e:
        if pool is not None:
            pool.close()
        print(f"skelact serve: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # zmq.ZMQError on bind (address in use, bad endpoint)
        if pool is not None:
            pool.close()
        print(f"skelact serve: cannot bind: {e}", file=sys.stderr)
        return 2
    m = engine.meta
    log.info("model %s: %s mode, %d classes, %g fps, lookahead %.2f s, providers %s",
             m.name, m.mode, m.num_classes, m.fps, m.lookahead_s, ",".join(engine.providers))  # fmt: skip
    print(f"serving on {rt.in_endpoint} (frames in) -> {rt.out_endpoint} (events out); Ctrl-C stops", flush=True)
    if pool is not None:
        print(f"{args.workers} worker(s) on Ray: " + ", ".join(
            f"{w}: node {d.get('node', '?')[:8]} pid {d.get('pid')}" for w, d in enumerate(pool.backend.placement)),
            flush=True)  # fmt: skip
    rt.install_signal_handlers()
    try:
        rt.run()
    finally:
        if pool is not None:
            pool.close()  # the actors go (and a local Ray this process started)
    c = rt.counters
    print(f"stopped: {c['frames_in']} frames in, {c['frames_rejected']} rejected, "
          f"{c['frames_dropped']} dropped, {c['events_out']} events out", flush=True)  # fmt: skip
    return 0
