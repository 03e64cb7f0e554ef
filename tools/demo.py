"""`skelact demo`: the main job end to end on the bundled default model and data.

Starts the streaming runtime (step mode) on loopback, replays held-back PRECOG
sequences into it in real time through the same publisher as `skelact publish`, and
prints the events as they arrive beside the ground truth.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

SUMMARY = "the main job: serve the bundled model, replay held-back PRECOG data, print live events"

DEFAULT_SEQUENCES = ("Seq3_11", "Seq5_12")


def build_parser() -> argparse.ArgumentParser:
    from .cli import ArgumentParser, number
    from .common import add_detector_args

    p = ArgumentParser(
        prog="skelact demo",
        description=(
            "Serve the bundled default model (a causal model trained on PRECOG, step mode), replay "
            "held-back PRECOG test sequences into it over ZeroMQ in real time, and print each action "
            "start/end event as it arrives beside the ground truth. Takes about half a minute."
        ),
    )
    p.add_argument("--sequences", nargs="+", default=list(DEFAULT_SEQUENCES),
                   help=f"PRECOG test sequence ids to replay (default: {' '.join(DEFAULT_SEQUENCES)})")
    p.add_argument("--model", default=None, help="ONNX model (default: the bundled step model)")
    p.add_argument("--speed", type=number(float, gt=0), default=1.0,
                   help="replay speed factor, > 0 (default 1 = real time)")
    p.add_argument("--webcam", type=number(int, ge=0), default=None, metavar="N",
                   help="use webcam N through MediaPipe instead of the recorded data")
    add_detector_args(p)
    return p


def _gt_at(seq, row: int, classes: dict[int, str]) -> str:
    lab = seq.labels.frame
    if lab is None:
        return "-"
    c = int(lab[min(row, len(lab) - 1)])
    return classes.get(c, str(c)) if c != 0 else "none"


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    import logging

    import zmq

    from skelact.stream import protocol as P
    from skelact.stream.assets import default_model_path, precog_path
    from skelact.stream.engine import Engine
    from skelact.stream.formats import load_dataset
    from skelact.stream.metadata import ModelError
    from skelact.stream.runtime import Runtime, RuntimeConfig
    from skelact.stream.sources.replay import pace, sequence_messages

    from .common import detector_config
    from .subscribe import format_event

    logging.getLogger("skelact.stream.engine").setLevel(logging.WARNING)  # the model line below says it
    try:
        engine = Engine(args.model or default_model_path("step"))
        # the replay must not lose frames (its events are compared with the labels); a live
        # camera keeps the runtime's age budget
        cfg = RuntimeConfig(in_endpoint="tcp://127.0.0.1:*", out_endpoint="tcp://127.0.0.1:*",
                            detector=detector_config(args),
                            **({} if args.webcam is not None else {"max_age_ms": 0.0}))  # fmt: skip
        ds = load_dataset(precog_path())
        seqs = [ds[s] for s in args.sequences]
    except (ModelError, KeyError, ValueError) as e:
        print(f"skelact demo: {e}", file=sys.stderr)
        return 2
    m = engine.meta
    print(f"model {m.name}: {m.mode} mode, {m.num_classes} classes, {m.fps:g} fps ({', '.join(engine.providers)})")
    rt = Runtime(engine, cfg).start()
    print(f"runtime {rt.runtime_id} listening on {rt.in_endpoint}, publishing on {rt.out_endpoint}")
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt_string(zmq.SUBSCRIBE, "event/")
    sub.connect(rt.out_endpoint)
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 1000)
    push.connect(rt.in_endpoint)
    time.sleep(0.3)  # let the SUB subscription reach the PUB socket

    by_id = {s.id: s for s in seqs}
    names = {c: n for c, n in ds.classes.items()}
    done = threading.Event()
    starts = ends = 0
    source_rc: list[int] = []  # the webcam publisher's exit status (no camera: non-zero)

    def webcam_publisher() -> None:
        from . import publish

        print(f"\n--- webcam {args.webcam} through MediaPipe (one person); Ctrl-C stops")
        try:
            source_rc.append(publish.main(["--webcam", str(args.webcam), "--to", rt.in_endpoint,
                                           "--stream", f"webcam{args.webcam}"]))  # fmt: skip
        except BaseException:
            source_rc.append(1)
            raise
        finally:
            done.set()

    def publisher() -> None:
        for s in seqs:
            print(f"\n--- replaying {s.id} ({s.num_frames} frames, {s.duration_s:.1f} s); ground truth: "
                  + ", ".join(f"{names[iv.class_id]} {iv.start}-{iv.end}" for iv in s.labels.intervals))  # fmt: skip
            for _t, parts in pace(sequence_messages(s, s.id), speed=args.speed):
                push.send_multipart(parts)
            time.sleep(0.5)
        done.set()

    th = threading.Thread(target=webcam_publisher if args.webcam is not None else publisher, daemon=True)
    th.start()
    deadline = None
    try:
        while True:
            if done.is_set() and deadline is None:
                deadline = time.monotonic() + 1.5
            if deadline is not None and time.monotonic() > deadline:
                break
            if not sub.poll(100):
                continue
            topic, body = P.decode_pub(sub.recv_multipart())
            seq = by_id.get(body.get("stream"))
            gt = _gt_at(seq, body["seq"], names) if seq is not None else "-"
            starts += body["type"] == "start"
            ends += body["type"] == "end"
            print(f"  {format_event(body)}   | ground truth at seq {body['seq']}: {gt}", flush=True)
    except KeyboardInterrupt:
        pass
    rt.stop()
    sub.close()
    push.close(linger=0)
    if source_rc and source_rc[0] != 0:
        return source_rc[0]  # publish has said why (one line on stderr): no summary of nothing
    c = rt.counters
    print(f"\n{c['frames_in']} frames in, {c['frames_rejected']} rejected, {starts} starts, {ends} ends; "
          f"inference p50 {rt.status()['infer_ms_p50']:.2f} ms/frame")  # fmt: skip
    return 0 if starts == ends else 1
