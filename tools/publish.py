"""`skelact publish`: send pose frames to a runtime.

Sources: a recorded file (``--replay``), a video file or webcam through MediaPipe Pose
(``--video``, ``--webcam``; ``--fuse`` = SST-A over several views of each frame), or a
motion-capture system (``--mocap-udp``, ``--mocap-lines``). ``--record`` keeps what was
published as a training-data folder; ``--preview`` / ``--preview-out`` show it. The
sending side (socket, handshake watch, counters, recording, preview) is
``skelact.stream.sources.sender.Publisher``; this module reads the sources and prints.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported lazily below: `skelact --help` imports this module
    from skelact.stream.sources.sender import Publisher

SUMMARY = "publish pose frames: --replay FILE[:SEQ], --video FILE, --webcam N, --mocap-udp PORT"


def build_parser() -> argparse.ArgumentParser:
    from skelact.stream import protocol as P
    from skelact.stream.client import parse_endpoint
    from skelact.stream.sources.sender import LIVE_HWM, REPLAY_HWM

    from .cli import ArgumentParser, number, stream_id, udp_address

    p = ArgumentParser(
        prog="skelact publish",
        description=(
            "Send pose frames (protocol v1) to a runtime's PULL socket, then an eos. --replay sends a "
            "recorded sequence (any format `skelact data info` reads; FILE:SEQ picks one sequence) with "
            "its original timestamps. --video/--webcam run MediaPipe Pose (one person; world landmarks in "
            "metres, layout mediapipe33, visibility as 4th channel; P=0 frames when nobody is detected); "
            "a video is read like a camera at its own fps unless --fast or --fps. Live sources never wait: "
            "frames the estimator cannot keep up with are dropped (oldest first) and messages the socket "
            "cannot take are counted as unsent. Exit status 1 when no runtime completed a ZeroMQ handshake "
            "(nothing was delivered) or the runtime went away mid-stream. See docs/sources.md."
        ),
    )
    src = p.add_argument_group("source (exactly one)").add_mutually_exclusive_group(required=True)
    src.add_argument("--replay", metavar="FILE[:SEQ]", help="recorded file or dataset folder, optionally :SEQUENCE_ID")
    src.add_argument("--video", metavar="FILE", help="video file through MediaPipe Pose")
    src.add_argument("--webcam", metavar="N", type=number(int, ge=0), help="camera N through MediaPipe Pose")
    src.add_argument("--mocap-udp", metavar="[HOST:]PORT", type=udp_address,
                     help="receive mocap frames (JSON or CSV, one per datagram) on this UDP port (host default 127.0.0.1)")
    src.add_argument("--mocap-lines", metavar="FILE|-",
                     help="mocap frames as JSON/CSV text lines from a file (paced by its t) or stdin (-)")
    p.add_argument("--to", default=P.DEFAULT_IN, type=parse_endpoint, help=f"runtime's PULL endpoint (default {P.DEFAULT_IN})")
    p.add_argument("--stream", default=None, type=stream_id,
                   help="stream id (default: sequence id, video file name, webcamN or mocap)")
    p.add_argument("--fps", type=number(float, ge=0), default=None,
                   help="replay: send at this rate instead of the timestamps; video: read at this rate "
                        "(default: its own fps; 0 = as fast as MediaPipe goes, like --fast); webcam: "
                        "request this camera rate and publish at most this many frames per second")
    p.add_argument("--fast", action="store_true",
                   help="as fast as possible: replay sends blocking (nothing lost); a video is read frame "
                        "by frame with no drops")
    p.add_argument("--speed", type=number(float, gt=0), default=1.0,
                   help="replay speed factor, > 0 (default 1.0 = real time; --fast = as fast as possible)")
    p.add_argument("--max-frames", type=number(int, ge=1), default=None, metavar="N", help="stop after N frames")
    p.add_argument("--hwm", type=number(int, ge=1), default=None,
                   help=f"send high-water mark in messages (default {LIVE_HWM} for live sources, {REPLAY_HWM} for replay)")
    p.add_argument("--record", metavar="FILE.npz",
                   help="also save the published frames as a dataset folder (FILE.npz -> folder FILE/; "
                        "added to it if it exists); `skelact data info` and training read it")
    p.add_argument("--progress", type=number(float, ge=0), default=5.0, metavar="S",
                   help="print progress every S seconds (0 = never; default 5)")
    p.add_argument("--json", metavar="OUT", help="write the run's counters and timings as a JSON object")
    p.add_argument("--curve-server-key", default=None, help="runtime's public key file (CURVE)")
    p.add_argument("--curve-key", default=None, help="this client's secret key file (CURVE)")

    mp = p.add_argument_group("MediaPipe (--video, --webcam)")
    mp.add_argument("--model-complexity", type=int, choices=(0, 1, 2), default=1,
                    help="MediaPipe Pose model (default 1; only 1 is bundled with mediapipe 0.10.21)")
    mp.add_argument("--min-detection-confidence", type=number(float, ge=0, le=1), default=0.5)
    mp.add_argument("--min-tracking-confidence", type=number(float, ge=0, le=1), default=0.5)
    mp.add_argument("--no-smooth", action="store_true", help="turn MediaPipe's landmark smoothing off")
    mp.add_argument("--fuse", metavar="VIEWS", default=None,
                    help="SST-A fusion of MediaPipe run on several views of each frame: 'mirror' "
                         "(= orig,mirror) or a list of orig,mirror,pad")
    mp.add_argument("--gamma", type=number(float, ge=0, le=1), default=0.18,
                    help="SST-A confidence threshold: fused frames below it are discarded (default 0.18)")
    mp.add_argument("--width", type=number(int, ge=1), default=None, help="webcam: requested width (pixels)")
    mp.add_argument("--height", type=number(int, ge=1), default=None, help="webcam: requested height (pixels)")

    pv = p.add_argument_group("preview")
    pv.add_argument("--preview", action="store_true", help="show an OpenCV window (image, skeleton, actions)")
    pv.add_argument("--preview-out", metavar="FILE.mp4", help="write the preview frames to a video (headless)")
    pv.add_argument("--preview-from", metavar="ENDPOINT", type=parse_endpoint,
                    help="runtime's PUB endpoint: show its top actions (run it with --scores) and events")

    mo = p.add_argument_group("mocap (--mocap-udp, --mocap-lines)")
    mo.add_argument("--layout", default=None, help="joint layout of the mocap frames (e.g. kinect20, ntu25)")
    mo.add_argument("--mocap-scale", type=number(float), default=1.0,
                    help="multiply coordinates by this to get metres (0.001 for millimetres)")
    mo.add_argument("--idle-timeout", type=number(float, gt=0), default=None, metavar="S",
                    help="--mocap-udp: end after S seconds without datagrams (default: run until eos or Ctrl-C)")
    return p


def _stream_id(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.:-]", "_", text)[:64]
    return s or "stream"


def _say(text: str) -> None:
    print(f"skelact publish: {text}", file=sys.stderr, flush=True)


def _report(line: str) -> None:
    print(line, flush=True)


def _publisher(args: argparse.Namespace, stream: str, layout: str, live: bool, fps: float | None) -> Publisher:
    """The sending side for one stream, as the options say (PublishError when it cannot start)."""
    from skelact.stream.client import Curve
    from skelact.stream.sources.sender import Publisher, PublisherOptions

    opts = PublisherOptions(endpoint=args.to, hwm=args.hwm, curve=Curve.from_args(args.curve_server_key, args.curve_key),
                            record=args.record, preview=args.preview, preview_out=args.preview_out,
                            preview_from=args.preview_from, progress_s=args.progress)  # fmt: skip
    return Publisher(opts, stream, layout, live=live, fps=fps, say=_say, report=_report)


def _delivery(stats: dict, endpoint: str) -> str:
    """The summary's verdict: was anything delivered to a runtime?"""
    if stats.get("delivered"):
        return "yes (a runtime completed the ZeroMQ handshake)"
    if not stats.get("runtime_handshakes"):
        return f"NO: no runtime completed a ZeroMQ handshake at {endpoint}; nothing was delivered"
    return (f"PARTLY: the runtime at {endpoint} disconnected {stats.get('runtime_disconnects')} time(s) "
            "mid-stream; frames may have been lost")  # fmt: skip


def _print_summary(stats: dict, endpoint: str = "") -> None:
    keys = ["frames_captured", "frames_out", "frames_published", "frames_detected", "frames_dropped", "frames_unsent",
            "fusion_discarded", "out_of_order", "publish_fps", "estimator_ms_p50", "estimator_ms_p90",
            "elapsed_s", "record_folder"]  # fmt: skip
    print("summary:")
    for k in keys:
        if k in stats:
            v = stats[k]
            print(f"  {k:<18} {v:.2f}" if isinstance(v, float) else f"  {k:<18} {v}")
    if "delivered" in stats:
        print(f"  {'delivered':<18} {_delivery(stats, endpoint)}")


# ----------------------------------------------------------------------------- sources


def _run_replay(args: argparse.Namespace) -> int:
    from skelact.stream.formats import DataError, load_sequence
    from skelact.stream.sources.replay import pace, sequence_messages

    try:
        seq = load_sequence(args.replay)
    except (DataError, KeyError) as e:
        print(f"skelact publish: {e}", file=sys.stderr)
        return 2
    stream = args.stream or _stream_id(seq.id)
    pub = _publisher(args, stream, seq.layout, live=False, fps=seq.fps)
    pub.extra["source"] = f"replay:{args.replay}"
    print(f"publishing {seq.id} ({seq.num_frames} frames, {seq.duration_s:.1f} s, {seq.layout}) "
          f"as stream {stream!r} to {args.to}", flush=True)  # fmt: skip
    joints = np.ascontiguousarray(seq.joints, dtype=np.float32)
    tracks = list(range(joints.shape[1]))
    try:
        items = sequence_messages(seq, stream, eos=False)
        for i, (t, parts) in enumerate(pace(items, speed=None if args.fast else args.speed, fps=args.fps)):
            if args.max_frames is not None and i >= args.max_frames:
                break
            pub.sender.send(parts)  # a recorded file may wait: nothing is dropped
            pub.frames += 1
            pub.detected += bool(np.isfinite(joints[i]).any())  # somebody in the frame
            if pub.recorder is not None:
                pub.recorder.add(i, t, joints[i], tracks)
            pub.show(None, i, t, joints=joints[i])
            pub.progress()
            if pub.stopped_by_user:
                break
    except KeyboardInterrupt:
        pass
    return _end(args, pub)


@contextmanager
def _opencv_quiet():
    """Silence OpenCV's own log while a camera is opened.

    Probing a missing camera makes OpenCV print a line per backend it tried ("can't open
    camera by index", ...) that say no more than our one-line error; a level the user
    chose (OPENCV_LOG_LEVEL) is kept.
    """
    cv2 = None
    if not os.environ.get("OPENCV_LOG_LEVEL"):
        try:
            import cv2
        except ImportError:
            pass
    prev = None
    if cv2 is not None and hasattr(cv2, "setLogLevel"):
        prev = cv2.setLogLevel(0)  # 0 = silent; returns the previous level
    try:
        yield
    finally:
        if prev is not None:
            cv2.setLogLevel(prev)


def _estimator(args: argparse.Namespace):
    from skelact.stream.sources.mediapipe_source import PoseEstimator, PoseOptions, parse_views

    views = parse_views(args.fuse) if args.fuse else ("orig",)
    opts = PoseOptions(model_complexity=args.model_complexity, min_detection_confidence=args.min_detection_confidence,
                       min_tracking_confidence=args.min_tracking_confidence, smooth_landmarks=not args.no_smooth)  # fmt: skip
    return PoseEstimator(opts, views=views, gamma=args.gamma)


def _run_mediapipe(args: argparse.Namespace) -> int:
    from skelact.stream.sources.capture import CaptureError, open_camera, open_video
    from skelact.stream.sources.mediapipe_source import (
        LAYOUT,
        ModelUnavailableError,
        check_model_available,
        parse_views,
    )

    throttle = None
    try:  # cheap checks first: the MediaPipe graph is built last
        check_model_available(args.model_complexity)
        if args.fuse:
            parse_views(args.fuse)
        if args.video is not None:
            fast = args.fast or args.fps == 0
            grabber, info = open_video(args.video, pace_fps=None if fast else args.fps, realtime=not fast,
                                       max_frames=args.max_frames)  # fmt: skip
            stream = args.stream or _stream_id(Path(args.video).stem)
            source, fps = f"video:{args.video}", info.fps
            mode = "every frame, as fast as possible" if fast else f"paced at {grabber.pace_fps:g} fps, drop-oldest"
        else:
            with _opencv_quiet():
                grabber, info = open_camera(args.webcam, fps=args.fps, width=args.width, height=args.height,
                                            max_frames=args.max_frames)  # fmt: skip
            stream = args.stream or f"webcam{args.webcam}"
            source, fps = f"webcam:{args.webcam}", args.fps or info.fps or 30.0
            throttle = 1.0 / args.fps if args.fps else None
            mode = "live, drop-oldest" + (f", at most {args.fps:g} fps" if args.fps else "")
    except (CaptureError, ModelUnavailableError, ValueError) as e:
        print(f"skelact publish: {e}", file=sys.stderr)
        return 2
    try:
        pub = _publisher(args, stream, LAYOUT, live=True, fps=fps)
    except BaseException:
        grabber.stop()
        raise
    try:
        est = _estimator(args)
    except (ModelUnavailableError, ValueError) as e:
        grabber.stop()
        pub.abort()
        print(f"skelact publish: {e}", file=sys.stderr)
        return 2
    pub.extra["source"] = source
    views = ",".join(est.views)
    print(f"publishing {source} ({info.width}x{info.height}, {info.fps:g} fps; {mode}; MediaPipe "
          f"complexity {args.model_complexity}{'; SST-A over ' + views if len(est.views) > 1 else ''}) "
          f"as stream {stream!r} to {args.to}", flush=True)  # fmt: skip
    pub.restart_clock()  # MediaPipe is loaded: the clock starts
    next_due = pub.start
    try:
        with grabber:
            while True:
                if throttle is not None:
                    wait = next_due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)  # the grabber keeps only the newest frame meanwhile
                    next_due = max(next_due + throttle, time.monotonic())
                frame = grabber.get()
                if frame is None:
                    break
                lp = est.process(frame.image)
                pub.est_ms.append(lp.ms)
                pub.extra["frames_dropped"] = grabber.dropped
                pub.publish(frame.index, frame.t, lp.joints, lp.tracks)
                pub.show(frame.image, frame.index, frame.t, landmarks=lp.image,
                         note="" if lp.confidence is None else f"C {lp.confidence:.2f}")  # fmt: skip
                pub.progress()
                if pub.stopped_by_user:
                    break
            if grabber.error is not None:
                print(f"skelact publish: capture failed: {grabber.error}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        grabber.stop()
        est.close()
    pub.extra.update(frames_captured=grabber.captured, frames_dropped=grabber.dropped)
    if est.fusion is not None:
        pub.extra.update(fusion_discarded=est.discarded, fusion_views=views)
    return _end(args, pub)


def _run_mocap(args: argparse.Namespace) -> int:
    from skelact.stream.layouts import get_layout
    from skelact.stream.sources.mocap import (
        MocapFormatError,
        MocapSequencer,
        UdpMocapSource,
        iter_lines,
    )

    if args.layout is not None:
        try:
            get_layout(args.layout)
        except KeyError as e:
            print(f"skelact publish: {e.args[0]}", file=sys.stderr)
            return 2
    stream = args.stream or "mocap"
    udp = None
    paced = False
    if args.mocap_udp is not None:
        host, _, port = args.mocap_udp.rpartition(":")
        try:
            udp = UdpMocapSource(int(port), host or "127.0.0.1", args.layout, args.mocap_scale, args.idle_timeout)
        except (ValueError, OSError, OverflowError) as e:
            print(f"skelact publish: cannot listen on udp {args.mocap_udp}: {e}", file=sys.stderr)
            return 2
        frames, source = iter(udp), f"udp://{host or '127.0.0.1'}:{udp.port}"
        print(f"listening for mocap frames on {source}", flush=True)
    else:
        if args.mocap_lines == "-":
            fh, source = sys.stdin, "stdin"
        else:
            try:
                fh = open(args.mocap_lines, encoding="utf-8")  # noqa: SIM115 - closed at exit
            except OSError as e:
                print(f"skelact publish: {e}", file=sys.stderr)
                return 2
            source, paced = args.mocap_lines, not args.fast
        frames = iter_lines(fh, args.layout, args.mocap_scale)
    live = udp is not None or args.mocap_lines == "-"
    pub = None
    seqr = MocapSequencer()
    t0 = start = None
    try:
        for fr in frames:
            if fr.eos:
                break
            acc = seqr.accept(fr)
            if acc is None:
                continue
            seq, t = acc
            if pub is None:
                pub = _publisher(args, stream, fr.layout, live=live, fps=None)
                pub.extra["source"] = f"mocap:{source}"
                print(f"publishing mocap frames ({fr.layout}) as stream {stream!r} to {args.to}", flush=True)
                t0, start = t, time.monotonic()
            if paced:
                delay = start + (t - t0) / (args.speed or 1.0) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            tracks = fr.tracks if fr.tracks is not None else list(range(fr.joints.shape[0]))
            try:
                pub.publish(seq, t, fr.joints, tracks, layout=fr.layout)
            except ValueError as e:
                print(f"skelact publish: frame {seq} not sent: {e}", file=sys.stderr)
                continue
            pub.show(None, seq, t, joints=fr.joints, layout=fr.layout)
            pub.progress()
            if pub.stopped_by_user or (args.max_frames is not None and pub.frames >= args.max_frames):
                break
    except MocapFormatError as e:
        print(f"skelact publish: {source}: {e}", file=sys.stderr)
        if pub is not None:
            _end(args, pub)
        return 2
    except KeyboardInterrupt:
        pass
    if pub is None:
        print("skelact publish: no mocap frame received, nothing published", file=sys.stderr)
        return 1
    pub.extra["out_of_order"] = seqr.out_of_order
    if udp is not None:
        pub.extra.update(datagrams=udp.received, bad_datagrams=udp.bad)
    return _end(args, pub)


def _end(args: argparse.Namespace, pub: Publisher) -> int:
    """Finish, print the summary; exit status 1 unless a runtime got the frames (see PeerWatch)."""
    stats = pub.finish()
    _print_summary(stats, args.to)
    if args.json:
        Path(args.json).write_text(json.dumps(stats, indent=1) + "\n")
    return 0 if stats["delivered"] else 1


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.fuse and args.video is None and args.webcam is None:
        print("skelact publish: --fuse needs --video or --webcam", file=sys.stderr)
        return 2
    if args.preview_from and not (args.preview or args.preview_out):
        print("skelact publish: --preview-from needs --preview or --preview-out", file=sys.stderr)
        return 2
    if args.curve_key and not args.curve_server_key:
        print("skelact publish: --curve-key needs --curve-server-key (the runtime's public key)", file=sys.stderr)
        return 2
    from skelact.stream.preview import PreviewError
    from skelact.stream.sources.sender import PublishError

    old_handler = None
    if threading.current_thread() is threading.main_thread():
        old_handler = signal.signal(signal.SIGTERM, _sigterm)  # end cleanly: eos, record, summary
    try:
        if args.replay is not None:
            return _run_replay(args)
        if args.video is not None or args.webcam is not None:
            return _run_mediapipe(args)
        return _run_mocap(args)
    except (PreviewError, PublishError) as e:
        print(f"skelact publish: {e}", file=sys.stderr)
        return 2
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)


def _sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
