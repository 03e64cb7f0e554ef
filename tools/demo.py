"""`skelact demo`: the main job end to end on the bundled default model and data.

Starts the streaming runtime (step mode) on loopback, replays held-back PRECOG
sequences into it in real time through the same publisher as `skelact publish`, and
prints the events as they arrive beside the ground truth. ``--webcam N`` and ``--video
FILE`` publish MediaPipe Pose from a camera or a video file (read at its own frame rate,
like a camera) instead, through `skelact publish` itself.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

SUMMARY = "the main job: serve the bundled model, replay held-back PRECOG data, print live events"

DEFAULT_SEQUENCES = ("Seq3_11", "Seq5_12")


def build_parser() -> argparse.ArgumentParser:
    from skelact.stream.assets import model_help

    from .cli import ArgumentParser, number
    from .common import add_detector_args
    from .detect import suffix_type

    p = ArgumentParser(
        prog="skelact demo",
        description=(
            "Serve the bundled default model (a causal model trained on PRECOG, step mode), replay "
            "held-back PRECOG test sequences into it over ZeroMQ in real time, and print each action "
            "start/end event as it arrives beside the ground truth. Takes about half a minute."
        ),
    )
    p.add_argument("--sequences", nargs="+", default=None,
                   help=f"sequence ids to replay (default: {' '.join(DEFAULT_SEQUENCES)} of the bundled PRECOG "
                        "copy; for --model gestures the first two MSRC-12 test sequences)")
    p.add_argument("--data", default=None, metavar="PATH",
                   help="dataset to replay (default: the bundled PRECOG copy; for --model gestures "
                        "../shared/data/msrc12, research data that is not bundled)")
    p.add_argument("--model", default=None, help=f"{model_help()} (default: default; a name means its step graph)")
    p.add_argument("--speed", type=number(float, gt=0), default=1.0,
                   help="replay speed factor, > 0 (default 1 = real time)")
    live = p.add_mutually_exclusive_group()
    live.add_argument("--webcam", type=number(int, ge=0), default=None, metavar="N",
                      help="use webcam N through MediaPipe instead of the recorded data")
    live.add_argument("--video", type=_video_file, default=None, metavar="FILE",
                      help="use a video file through MediaPipe instead, read at its own fps like a camera")
    p.add_argument("--max-frames", type=number(int, ge=1), default=None, metavar="N",
                   help="--video/--webcam: stop after N frames")
    p.add_argument("--preview-out", type=suffix_type(".mp4", ".avi"), default=None, metavar="FILE.mp4",
                   help="--video/--webcam: also write the frames with the skeleton, the runtime's top scores "
                        "and its events drawn")  # fmt: skip
    add_detector_args(p)
    return p


def _video_file(text: str) -> str:
    """An argparse ``type``: an existing file (the video is opened later, by publish)."""
    from pathlib import Path

    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"no such video file: {text!r}")
    return text


def _replay_data(args, precog, load_dataset):
    """(dataset, sequence ids) the demo replays: --data, else the data the model knows."""
    from pathlib import Path

    data = args.data
    if data is None and args.model == "gestures":
        data = Path(precog).parents[2].parent / "shared" / "data" / "msrc12"
        if not Path(data).is_dir():
            raise ValueError(f"--model gestures replays MSRC-12 from {data}, which is not here (research data, "
                             "not bundled): pass --data PATH, --video FILE or --webcam N")  # fmt: skip
    ds = load_dataset(data or precog)
    if args.sequences:
        return ds, args.sequences
    if data is None:
        return ds, list(DEFAULT_SEQUENCES)
    pool = ds.split("test") if "test" in ds.splits else ds
    return ds, [s.id for s in pool][:2]


def _gt_at(seq, row: int, classes: dict[int, str]) -> str:
    lab = seq.labels.frame
    if lab is None:
        return "-"
    c = int(lab[min(row, len(lab) - 1)])
    return classes.get(c, str(c)) if c != 0 else "none"


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    live = args.webcam is not None or args.video is not None
    if (args.max_frames is not None or args.preview_out is not None) and not live:
        print("skelact demo: --max-frames and --preview-out need --video or --webcam", file=sys.stderr)
        return 2
    import logging

    import zmq

    from skelact.stream import protocol as P
    from skelact.stream.assets import precog_path, resolve_model
    from skelact.stream.client import push_socket, sub_socket
    from skelact.stream.engine import Engine
    from skelact.stream.formats import DataError, load_dataset
    from skelact.stream.metadata import ModelError
    from skelact.stream.runtime import Runtime, RuntimeConfig
    from skelact.stream.sources.replay import pace, sequence_messages

    from .common import detector_config
    from .subscribe import format_event

    logging.getLogger("skelact.stream.engine").setLevel(logging.WARNING)  # the model line below says it
    try:
        engine = Engine(resolve_model(args.model, "step"))
        # the replay must not lose frames (its events are compared with the labels); a live
        # camera keeps the runtime's age budget
        cfg = RuntimeConfig(in_endpoint="tcp://127.0.0.1:*", out_endpoint="tcp://127.0.0.1:*",
                            detector=detector_config(args, scores=args.preview_out is not None),
                            **({} if live else {"max_age_ms": 0.0}))  # fmt: skip
        ds, names = _replay_data(args, precog_path(), load_dataset)
        seqs = [ds[s] for s in names]
    except (ModelError, KeyError, ValueError, DataError) as e:
        print(f"skelact demo: {e}", file=sys.stderr)
        return 2
    m = engine.meta
    print(f"model {m.name}: {m.mode} mode, {m.num_classes} classes, {m.fps:g} fps ({', '.join(engine.providers)})")
    rt = Runtime(engine, cfg).start()
    print(f"runtime {rt.runtime_id} listening on {rt.in_endpoint}, publishing on {rt.out_endpoint}")
    ctx = zmq.Context.instance()
    sub = sub_socket(ctx, rt.out_endpoint, ["event/"], linger_ms=0)
    push = push_socket(ctx, rt.in_endpoint, hwm=1000, linger_ms=1000)
    time.sleep(0.3)  # let the SUB subscription reach the PUB socket

    by_id = {s.id: s for s in seqs}
    names = {c: n for c, n in ds.classes.items()}
    done = threading.Event()
    starts = ends = 0
    source_rc: list[int] = []  # the live publisher's exit status (no camera: non-zero)

    def live_publisher() -> None:
        from . import publish

        if args.webcam is not None:
            what, argv = f"webcam {args.webcam}", ["--webcam", str(args.webcam), "--stream", f"webcam{args.webcam}"]
        else:
            what, argv = f"video {args.video}", ["--video", args.video]
        argv += ["--to", rt.in_endpoint]
        if args.max_frames is not None:
            argv += ["--max-frames", str(args.max_frames)]
        if args.preview_out is not None:
            argv += ["--preview-out", args.preview_out, "--preview-from", rt.out_endpoint]
        print(f"\n--- {what} through MediaPipe (one person); Ctrl-C stops", flush=True)
        try:
            source_rc.append(publish.main(argv))
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

    th = threading.Thread(target=live_publisher if live else publisher, daemon=True)
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
            starts += body["type"] == "start"
            ends += body["type"] == "end"
            if live:  # no ground truth for a camera or a video
                print(f"  {format_event(body)}", flush=True)
                continue
            gt = _gt_at(seq, body["seq"], names) if seq is not None else "-"
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
