"""`skelact bench`: per-frame compute and end-to-end streaming latency, as a table and JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

SUMMARY = "benchmark latency and throughput (in-process compute and end-to-end over ZeroMQ)"


def build_parser() -> argparse.ArgumentParser:
    from skelact.stream.assets import model_help
    from skelact.stream.runtime import RuntimeConfig

    from .cli import ArgumentParser, number

    p = ArgumentParser(
        prog="skelact bench",
        description=(
            "Measure (a) in-process compute per frame (p50/p99/max ms, frames/s) and (b) end-to-end "
            "latency over real ZeroMQ loopback: publisher processes -> runtime -> subscriber, from "
            "frame send to the per-frame score decision. With no --model, both bundled graphs run "
            "and the window-recompute/step compute ratio is printed. --search finds the largest "
            "number of 30-fps streams held with e2e p99 < 33 ms and no drops. --workers N runs the "
            "runtime as `serve --workers N` does (a front and N Ray workers); --workers 1,2 with --search "
            "searches each count and reports the speedup and scaling efficiency."
        ),
    )
    p.add_argument("--model", default=None,
                   help=f"{model_help()} (default: the default model's step and window graphs)")
    p.add_argument("--mode", choices=["step", "window"], default=None,
                   help="only this graph of the bundled model (with no --model or a bundled name; default step)")
    p.add_argument("--baseline", default=None, help="a window-mode model to compare against (window recompute)")
    p.add_argument("--streams", type=number(int, ge=1), default=1, help="concurrent streams for the end-to-end run (default 1)")
    p.add_argument("--fps", type=number(float, gt=0), default=30.0, help="frames per second per stream (default 30)")
    p.add_argument("--duration", type=number(float, ge=0.1), default=5.0, help="seconds per measurement (default 5)")
    p.add_argument("--provider", default="cpu", choices=["auto", "cpu", "cuda", "tensorrt"])
    p.add_argument("--publishers", type=number(int, ge=1), default=1, help="publisher processes (default 1)")
    p.add_argument("--batch-wait-ms", type=number(float, ge=0), default=RuntimeConfig.batch_wait_ms,
                   help=f"the runtime's batching wait, as serve --batch-wait-ms (default {RuntimeConfig.batch_wait_ms:g})")
    p.add_argument("--no-e2e", action="store_true", help="skip the end-to-end run")
    p.add_argument("--search", action="store_true", help="search the max number of streams at --fps")
    p.add_argument("--workers", type=worker_counts, default=[1], metavar="N[,N...]",
                   help="detection workers of the runtime, as serve --workers (1 = one process, no Ray; N > 1 = "
                        "N Ray actors; auto = one per core). A list (1,2) searches each count (needs --search) "
                        "and reports max_streams_by_workers, speedup and scaling_efficiency (default 1)")
    p.add_argument("--search-max", type=number(int, ge=1), default=512, help="upper bound for --search (default 512)")
    p.add_argument("--json", default=None, help="write the results as a flat JSON dict")
    return p


def worker_counts(text: str) -> list[int]:
    """``--workers``: one count or a comma-separated list (each an integer >= 1 or ``auto``,
    as ``serve --workers``), ascending without repeats."""
    from .serve import _workers

    counts = sorted({_workers(t.strip()) for t in text.split(",")})
    if not counts:
        raise argparse.ArgumentTypeError(f"expected N or N,M,..., got {text!r}")
    return counts


def scaling(max_by_workers: dict[int, int]) -> dict:
    """Speedup and scaling efficiency of the searched stream counts against the smallest
    worker count ``b``: speedup(N) = max_streams(N) / max_streams(b), efficiency(N) =
    speedup(N) / (N / b) (1.0 = linear; with b = 1, max_streams(N) / max_streams(1) / N).
    The scalar keys are those of the largest N; None where max_streams(b) is 0."""
    counts = sorted(max_by_workers)
    if len(counts) < 2:
        return {}
    b = counts[0]
    base = max_by_workers[b]
    speed = {n: (max_by_workers[n] / base if base else None) for n in counts[1:]}
    eff = {n: (v / (n / b) if v is not None else None) for n, v in speed.items()}
    return {"speedup_by_workers": {str(n): v for n, v in speed.items()},
            "scaling_efficiency_by_workers": {str(n): v for n, v in eff.items()},
            "speedup": speed[counts[-1]], "scaling_efficiency": eff[counts[-1]]}  # fmt: skip


def _cpu_line(r: dict) -> str:
    """CPU by process over the load window, as shares of one core."""
    d = r["duration_s"]
    return ", ".join(f"{k} {v / d:.0%}" for k, v in r["cpu_s_by_process"].items())


def compute_bench(model: str, provider: str, duration: float, batch: int = 1) -> dict:
    """Per-frame inference latency of one model, in process, batch ``batch`` tracks."""
    from skelact.stream.engine import Engine
    from skelact.stream.state import StateBank

    eng = Engine(model, provider=provider)
    m = eng.meta
    rng = np.random.default_rng(0)
    shape = eng.input_shape_tail
    if m.mode == "step":
        x = rng.normal(size=(batch, *shape)).astype(np.float32)
        bank = StateBank(eng, capacity=batch)
        slots = [bank.allocate() for _ in range(batch)]

        def once():
            bank.step(x, slots)
    else:
        x = rng.normal(size=(batch, m.window, *shape)).astype(np.float32)

        def once():
            eng.run_window(x)

    for _ in range(20):
        once()
    times = []
    end = time.perf_counter() + duration
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        once()
        times.append((time.perf_counter() - t0) * 1000.0)
    a = np.asarray(times)
    return {
        "model": os.path.basename(model), "mode": m.mode, "window": m.window if m.mode == "window" else 1,
        "receptive_field": m.receptive_field, "batch": batch, "providers": eng.providers,
        "compute_ms_p50": float(np.percentile(a, 50)), "compute_ms_p99": float(np.percentile(a, 99)),
        "compute_ms_max": float(a.max()), "frames_per_s": float(batch * len(a) / a.sum() * 1000.0),
        "iterations": len(a),
        "state": ", ".join(sorted({s.kind for s in m.state})) + f" ({sum(int(np.prod(s.shape)) for s in m.state)} "
                 "floats in per step)" if m.state else "none",
    }  # fmt: skip


def search_streams(model: str, args, workers: int = 1) -> tuple[int, list[dict]]:
    """Largest stream count with e2e p99 < 1000/fps ms and zero drops (doubling, then
    bisection), the runtime running ``workers`` workers."""
    from .bench_load import run_e2e

    budget = 1000.0 / args.fps
    trials: list[dict] = []

    def ok(n: int) -> bool:
        r = run_e2e(model, n, args.fps, min(args.duration, 5.0), args.provider, args.publishers, args.batch_wait_ms,
                    workers)  # fmt: skip
        r["pass"] = r["e2e_ms_p99"] < budget and r["frames_dropped"] == 0
        trials.append(r)
        print(f"  {n:>4} streams: p50 {r['e2e_ms_p50']:.1f} ms, p99 {r['e2e_ms_p99']:.1f} ms, drops "
              f"{r['frames_dropped']}; CPU {_cpu_line(r)} -> {'ok' if r['pass'] else 'fail'}", flush=True)  # fmt: skip
        return r["pass"]

    lo, hi = 0, 8
    while hi <= args.search_max and ok(hi):
        lo, hi = hi, hi * 2
    hi = min(hi, args.search_max + 1)
    while hi - lo > max(2, lo // 16):
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo, trials


def _versions() -> dict:
    import onnxruntime
    import zmq

    return {"python": platform.python_version(), "numpy": np.__version__, "onnxruntime": onnxruntime.__version__,
            "pyzmq": zmq.__version__, "libzmq": zmq.zmq_version()}  # fmt: skip


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    import logging

    counts = args.workers
    if len(counts) > 1 and not args.search:
        print("skelact bench: a list of --workers counts needs --search (one count for a single run)",
              file=sys.stderr)  # fmt: skip
        return 2
    if counts[-1] > 1:
        from skelact.stream.cluster import ClusterError, require_ray

        try:
            require_ray()
        except ClusterError as e:
            print(f"skelact bench: {e}", file=sys.stderr)
            return 2

    from skelact.stream.assets import default_model_path, resolve_model
    from skelact.stream.metadata import ModelError

    logging.getLogger("skelact").setLevel(logging.WARNING)
    if args.model is not None:
        try:
            models = [str(resolve_model(args.model, args.mode or "step"))]
        except ValueError as e:
            print(f"skelact bench: {e}", file=sys.stderr)
            return 2
    elif args.mode:
        models = [str(default_model_path(args.mode))]
    else:
        models = [str(default_model_path("step")), str(default_model_path("window"))]
    if args.baseline:
        models.append(args.baseline)
    out: dict = {
        "machine": platform.machine(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
        **{f"version_{k}": v for k, v in _versions().items()},
        "streams": args.streams, "fps": args.fps, "duration_s": args.duration, "provider": args.provider,
        "workers": counts[0] if len(counts) == 1 else counts,
    }  # fmt: skip
    results = {}
    try:
        for mpath in models:
            print(f"compute: {mpath}", flush=True)
            results[mpath] = compute_bench(mpath, args.provider, args.duration)
    except ModelError as e:
        print(f"skelact bench: {e}", file=sys.stderr)
        return 2
    first = results[models[0]]
    out.update({"model": first["model"], "mode": first["mode"], "compute_ms_p50": first["compute_ms_p50"],
                "compute_ms_p99": first["compute_ms_p99"], "compute_ms_max": first["compute_ms_max"],
                "frames_per_s": first["frames_per_s"]})  # fmt: skip
    print(f"\n{'model':<28} {'mode':<7} {'frames in':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'frames/s':>10}")
    for r in results.values():
        print(f"{r['model']:<28} {r['mode']:<7} {r['window']:>9} {r['compute_ms_p50']:>8.3f} "
              f"{r['compute_ms_p99']:>8.3f} {r['compute_ms_max']:>8.3f} {r['frames_per_s']:>10.0f}")  # fmt: skip
    steps = [r for r in results.values() if r["mode"] == "step"]
    wins = [r for r in results.values() if r["mode"] == "window"]
    if steps and wins:
        ratio = wins[-1]["compute_ms_p50"] / steps[0]["compute_ms_p50"]
        out.update({"window_over_step": ratio, "window_frames": wins[-1]["window"],
                    "window_compute_ms_p50": wins[-1]["compute_ms_p50"],
                    "step_compute_ms_p50": steps[0]["compute_ms_p50"]})  # fmt: skip
        print(f"\nwindow recompute ({wins[-1]['window']} frames) / step: {ratio:.1f}x compute per frame")
    if steps:  # cross-stream batching: one graph call for 32 tracks
        b32 = compute_bench(next(m for m in models if results[m]["mode"] == "step"), args.provider,
                            min(args.duration, 2.0), batch=32)  # fmt: skip
        out["step_batch32_ms_per_frame"] = b32["compute_ms_p50"] / 32
        out["step_state"] = steps[0]["state"]
        print(f"step graph, batch of 32 tracks: {b32['compute_ms_p50'] / 32:.3f} ms per frame "
              f"(state: {steps[0]['state']})")
    e2e_model = models[0]
    if not args.no_e2e and len(counts) > 1:
        print("\nend-to-end run skipped: --workers is a list (each count's trials are in search_trials)")
    elif not args.no_e2e:
        from .bench_load import run_e2e

        n = counts[0]
        print(f"\nend-to-end: {args.streams} stream(s) at {args.fps:g} fps for {args.duration:g} s"
              + (f", {n} workers" if n > 1 else "") + " ...", flush=True)  # fmt: skip
        try:
            r = run_e2e(e2e_model, args.streams, args.fps, args.duration, args.provider, args.publishers,
                        args.batch_wait_ms, n)  # fmt: skip
        except RuntimeError as e:
            print(f"skelact bench: {e}", file=sys.stderr)
            return 2
        out.update({k: r[k] for k in ("e2e_ms_p50", "e2e_ms_p99", "e2e_ms_max", "frames_dropped", "frames_sent",
                                      "runtime_cpu_share", "load_generator_cpu_share", "subscriber_cpu_share",
                                      "runtime_cpu_ms_per_frame", "cpu_s_by_process")})  # fmt: skip
        if n > 1:
            out.update({k: r[k] for k in ("scores_received", "frames_by_worker", "worker_restarts")})
        print(f"e2e latency p50 {r['e2e_ms_p50']:.2f} ms, p99 {r['e2e_ms_p99']:.2f} ms, max {r['e2e_ms_max']:.2f} ms; "
              f"{r['frames_sent']} frames, {r['frames_dropped']} dropped; CPU share: runtime "
              f"{r['runtime_cpu_share']:.0%}, load generator {r['load_generator_cpu_share']:.0%}, "
              f"subscriber {r['subscriber_cpu_share']:.0%}; runtime CPU {r['runtime_cpu_ms_per_frame']:.3f} ms "
              "per frame")  # fmt: skip
        if n > 1:
            print(f"CPU by process: {_cpu_line(r)}; frames by worker {r['frames_by_worker']}")
    if args.search:
        best_by: dict[int, int] = {}
        trials: list[dict] = []
        for n in counts:
            print(f"\nsearching the largest number of {args.fps:g}-fps streams with p99 < {1000 / args.fps:.0f} ms "
                  f"and no drops, {n} worker(s) ...", flush=True)  # fmt: skip
            try:
                best_by[n], tr = search_streams(e2e_model, args, n)
            except RuntimeError as e:
                print(f"skelact bench: {e}", file=sys.stderr)
                return 2
            trials += tr
            print(f"max streams with {n} worker(s): {best_by[n]}")
        if len(counts) == 1:
            out["max_streams_30fps" if args.fps == 30 else f"max_streams_{args.fps:g}fps"] = best_by[counts[0]]
        out["max_streams_by_workers"] = {str(n): v for n, v in best_by.items()}
        out.update(scaling(best_by))
        keys = ("workers", "streams", "e2e_ms_p50", "e2e_ms_p99", "frames_dropped", "runtime_cpu_share",
                "load_generator_cpu_share", "runtime_cpu_ms_per_frame", "cpu_s_by_process", "frames_by_worker",
                "pass")  # fmt: skip
        out["search_trials"] = json.dumps([{k: t[k] for k in keys} for t in trials])
        if len(counts) > 1:
            sc = scaling(best_by)
            print(f"\n{'workers':>7} {'max streams':>11} {'speedup':>8} {'efficiency':>10}")
            for n in counts:
                sp, ef = sc["speedup_by_workers"].get(str(n)), sc["scaling_efficiency_by_workers"].get(str(n))
                print(f"{n:>7} {best_by[n]:>11} {'' if sp is None else f'{sp:.2f}x':>8} "
                      f"{'' if ef is None else f'{ef:.0%}':>10}")  # fmt: skip
            for n in counts:  # where the time goes at each count's largest passing trial
                ok = [t for t in trials if t["workers"] == n and t["pass"]]
                if ok:
                    t = max(ok, key=lambda t: t["streams"])
                    print(f"{n} worker(s), {t['streams']} streams: CPU {_cpu_line(t)}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1, allow_nan=False, default=float)
        print(f"wrote {args.json}")
    return 0
