"""`skelact publish`: send pose frames to a runtime.

Sources: a recorded file (``--replay``), a video file or webcam through MediaPipe Pose
(``--video``, ``--webcam``; ``--fuse`` = SST-A over several views of each frame), or a
motion-capture system (``--mocap-udp``, ``--mocap-lines``). ``--record`` keeps what was
published as a training-data folder; ``--preview`` / ``--preview-out`` show it.
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

import numpy as np

SUMMARY = "publish pose frames: --replay FILE[:SEQ], --video FILE, --webcam N, --mocap-udp PORT"

_LIVE_HWM = 100  # frames queued in the PUSH socket before a live source starts dropping
ANSWER_WITHIN_S = 3.0  # seconds a runtime has to complete the ZeroMQ handshake before we warn


def build_parser() -> argparse.ArgumentParser:
    from skelact.stream import protocol as P

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
    p.add_argument("--to", default=P.DEFAULT_IN, help=f"runtime's PULL endpoint (default {P.DEFAULT_IN})")
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
                   help=f"send high-water mark in messages (default {_LIVE_HWM} for live sources, 10000 for replay)")
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
    pv.add_argument("--preview-from", metavar="ENDPOINT",
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


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


class PublishError(Exception):
    """A publisher cannot start (the message says why); the CLI prints it as one line."""


class PeerWatch:
    """Is a runtime really there? Reads the PUSH socket's ZeroMQ monitor in a thread.

    A PUSH socket that connect()s queues messages whether or not anybody listens, so a
    send that "worked" proves nothing. ``EVENT_HANDSHAKE_SUCCEEDED`` does: a peer that
    speaks ZMTP (with CURVE, one that accepted our keys) is at the other end and gets what
    was queued. The thread (the only user of the monitor socket) prints one warning line
    on stderr when no peer has answered within ``warn_after_s`` seconds, when a handshake
    fails, and when the runtime disconnects; ``verdict`` gives the answer at exit.
    """

    def __init__(self, sock, endpoint: str, warn_after_s: float = ANSWER_WITHIN_S,
                 frames=lambda: 0) -> None:  # fmt: skip
        import zmq

        self.zmq = zmq
        self.endpoint = endpoint
        self.warn_after_s = warn_after_s
        self._frames = frames  # how many frames were sent so far (for the messages)
        events = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                  | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                  | zmq.EVENT_MONITOR_STOPPED)  # fmt: skip
        self._sock = sock
        self._mon = sock.get_monitor_socket(events)  # before connect(): no event is missed
        self.start_t = time.monotonic()
        self.handshakes = 0
        self.disconnects = 0
        self.connected = False
        self.failures: list[str] = []
        self.warned = False
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="skelact-publish-monitor", daemon=True)
        self._thread.start()

    def _say(self, text: str) -> None:
        print(f"skelact publish: {text}", file=sys.stderr, flush=True)

    def _warn_no_answer(self) -> None:
        with self._cond:
            if self.warned or self.handshakes:
                return
            self.warned = True
        why = f" (handshake failed: {self.failures[-1]})" if self.failures else ""
        self._say(f"warning: no runtime has answered at {self.endpoint} within {self.warn_after_s:g} s{why}; "
                  f"is `skelact serve --in {self.endpoint}` running? {self._frames()} frames queued, none delivered")

    def _run(self) -> None:
        from zmq.utils.monitor import recv_monitor_message

        zmq = self.zmq
        deadline = self.start_t + self.warn_after_s
        try:
            while not self._stop.is_set():
                if not self._mon.poll(100):
                    if time.monotonic() >= deadline:
                        self._warn_no_answer()
                    continue
                event = recv_monitor_message(self._mon)["event"]
                if event == zmq.EVENT_MONITOR_STOPPED:
                    break
                self._on_event(event)
        finally:
            self._mon.close(0)

    def _on_event(self, event: int) -> None:
        zmq = self.zmq
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            with self._cond:
                self.handshakes += 1
                back, self.connected = self.disconnects > 0, True
                self._cond.notify_all()
            if back:
                self._say(f"the runtime at {self.endpoint} is back after {self._frames()} frames "
                          "(frames sent meanwhile may be lost)")  # fmt: skip
        elif event == zmq.EVENT_DISCONNECTED:
            with self._cond:
                if not self.connected:
                    return  # a TCP connection that never completed a handshake
                self.connected = False
                self.disconnects += 1
            self._say(f"warning: the runtime at {self.endpoint} went away (disconnected) after "
                      f"{self._frames()} frames; frames sent from now on may be lost")  # fmt: skip
        else:  # a failed handshake: wrong CURVE keys, or something that is not a ZeroMQ runtime
            kind = {zmq.EVENT_HANDSHAKE_FAILED_AUTH: "authentication (CURVE keys?)",
                    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "protocol error (not a ZeroMQ runtime?)"}.get(
                        event, "no detail")  # fmt: skip
            with self._cond:
                self.failures.append(kind)
                say = len(self.failures) == 1 and not self.handshakes and not self.warned
                self.warned = self.warned or say
            if say:
                self._say(f"warning: the handshake with {self.endpoint} failed: {kind}; nothing is delivered")

    def verdict(self) -> dict:
        """Wait (up to ``warn_after_s`` from the start) for a first handshake, then stop watching.

        A --fast replay may be done before the runtime has even answered; it still gets its
        few seconds. Returns ``delivered`` (a peer completed the handshake and never went
        away), ``runtime_handshakes``, ``runtime_disconnects``.
        """
        with self._cond:
            self._cond.wait_for(lambda: self.handshakes > 0,
                                timeout=max(0.0, self.start_t + self.warn_after_s - time.monotonic()))  # fmt: skip
        self.close()
        self._warn_no_answer()  # no-op when a runtime answered or the thread already said so
        return {"delivered": self.handshakes > 0 and self.disconnects == 0,
                "runtime_handshakes": self.handshakes, "runtime_disconnects": self.disconnects}  # fmt: skip

    def close(self) -> None:
        """Stop the monitor and its thread (before the PUSH socket is closed).

        Order matters: libzmq sends MONITOR_STOPPED to the monitor socket when monitoring
        is disabled, and that send blocks if nobody reads it, so the thread must still be
        reading then (it ends on that event).
        """
        if self._thread.is_alive():
            try:
                self._sock.disable_monitor()
            except self.zmq.ZMQError:
                pass
            self._thread.join(2)
        if self._thread.is_alive():  # no MONITOR_STOPPED came: stop the thread ourselves
            self._stop.set()
            self._thread.join(2)


class Publisher:
    """Socket, counters, recording, preview and progress shared by every source."""

    def __init__(self, args: argparse.Namespace, stream: str, layout: str, live: bool, fps: float | None) -> None:
        import zmq

        from skelact.stream import protocol as P
        from skelact.stream.sources.capture import LiveSender

        self.P = P
        self.args = args
        self.stream = stream
        self.layout = layout
        self.live = live
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.PUSH)
        sock.setsockopt(zmq.LINGER, 1000 if live else 2000)
        sock.setsockopt(zmq.SNDHWM, args.hwm or (_LIVE_HWM if live else 10000))
        if args.curve_server_key:
            from skelact.stream.security import configure_client

            configure_client(sock, args.curve_server_key, args.curve_key)
        self.frames = 0
        self.watch = PeerWatch(sock, args.to, frames=lambda: self.frames)
        try:
            sock.connect(args.to)
        except zmq.ZMQError as e:  # e.g. a malformed --to endpoint
            self.watch.close()
            sock.close(0)
            raise PublishError(f"cannot connect to {args.to}: {e}") from None
        self.sock = sock
        self.sender = LiveSender(sock, blocking=not live)
        self.recorder = None
        if args.record:
            from skelact.stream.sources.recorder import Recorder

            self.recorder = Recorder(stream, layout, fps=fps)
        self.preview = None
        self.feed = None
        if args.preview or args.preview_out:
            from skelact.stream.preview import Preview, PubFeed

            self.preview = Preview(window=args.preview, out_path=args.preview_out, fps=fps or 30.0,
                                   title=f"skelact {stream}")  # fmt: skip
            if args.preview_from:
                self.feed = PubFeed(args.preview_from, stream)
        self.start = time.monotonic()
        self._last_progress = self.start
        self.detected = 0
        self.est_ms: list[float] = []
        self.stopped_by_user = False
        self.extra: dict = {}

    # -- per frame
    def publish(self, seq: int, t: float, joints: np.ndarray, tracks: list[int] | None,
                units: str = "m", layout: str | None = None) -> None:  # fmt: skip
        parts = self.P.encode_pose(self.stream, seq, t, layout or self.layout, joints, tracks=tracks, units=units)
        self.sender.send(parts)
        self.frames += 1
        self.detected += joints.shape[0] > 0
        if self.recorder is not None and (layout is None or layout == self.layout):
            self.recorder.add(seq, t, joints, tracks)

    def show(self, image: np.ndarray | None, seq: int, t: float, landmarks: np.ndarray | None = None,
             joints: np.ndarray | None = None, layout: str | None = None, note: str = "") -> None:  # fmt: skip
        if self.preview is None:
            return
        from skelact.stream.preview import render_frame

        if self.feed is not None:
            self.feed.poll()
        info = f"{self.stream} seq {seq} t {t:.2f}s {self.rate():.1f} fps"
        dropped = self.extra.get("frames_dropped")
        if dropped:
            info += f" dropped {dropped}"
        if note:
            info += f" {note}"
        frame = render_frame(image, layout or self.layout, landmarks=landmarks, joints=joints,
                             overlay=self.feed.overlay if self.feed else None, info=info)  # fmt: skip
        if not self.preview.show(frame):
            self.stopped_by_user = True

    def rate(self) -> float:
        el = time.monotonic() - self.start
        return self.frames / el if el > 0 else 0.0

    def progress(self, force: bool = False) -> None:
        every = self.args.progress
        now = time.monotonic()
        if not force and (not every or now - self._last_progress < every):
            return
        self._last_progress = now
        line = (f"[{now - self.start:6.1f} s] frames {self.frames}  {self.rate():.1f} fps  "
                f"unsent {self.sender.unsent}")  # fmt: skip
        if "frames_dropped" in self.extra:
            line += f"  dropped {self.extra['frames_dropped']}"
        if self.est_ms:
            recent = self.est_ms[-200:]
            line += f"  mediapipe {np.median(recent):.1f} ms (p90 {np.percentile(recent, 90):.1f})"
        print(line, flush=True)

    # -- end
    def abort(self) -> None:
        """Close without sending anything more (nothing was published)."""
        self.watch.close()
        self.sock.close(0)
        if self.preview is not None:
            self.preview.close()
        if self.feed is not None:
            self.feed.close()

    def finish(self) -> dict:
        self._unsent_frames = self.sender.unsent
        eos_ok = self.sender.send_final(self.P.encode_eos(self.stream))
        elapsed = time.monotonic() - self.start
        peer = self.watch.verdict()  # waits for a late first handshake (a --fast replay)
        self.sock.close()
        stats = {
            "source": self.extra.pop("source", ""),
            "stream": self.stream,
            "elapsed_s": round(elapsed, 3),
            "frames_out": self.frames,
            "frames_published": self.frames - self._unsent_frames,
            "frames_unsent": self._unsent_frames,
            "frames_detected": self.detected,
            "eos_sent": eos_ok,
            "publish_fps": round(self.frames / elapsed, 3) if elapsed > 0 else 0.0,
            **peer,
            **self.extra,
        }
        if self.est_ms:
            ms = self.est_ms[1:] or self.est_ms  # the first call includes warm-up
            stats.update(estimator_ms_p50=round(_pct(ms, 50), 3), estimator_ms_p90=round(_pct(ms, 90), 3),
                         estimator_ms_first=round(self.est_ms[0], 3))  # fmt: skip
        if self.recorder is not None:
            if len(self.recorder):
                folder, sid = self.recorder.save(self.args.record)
                stats.update(record_folder=str(folder), record_sequence=sid)
            else:
                print("skelact publish: nothing published, nothing recorded", file=sys.stderr)
        if self.preview is not None:
            self.preview.close()
            stats["preview_frames"] = self.preview.frames
        if self.feed is not None:
            time.sleep(0.1)  # the runtime's reply to the last frames
            self.feed.poll()
            stats.update(preview_feed_messages=self.feed.received,
                         preview_classes=",".join(self.feed.overlay.names))  # fmt: skip
            self.feed.close()
        return stats


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
    pub = Publisher(args, stream, seq.layout, live=False, fps=seq.fps)
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
        pub = Publisher(args, stream, LAYOUT, live=True, fps=fps)
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
    next_due = pub.start = pub._last_progress = time.monotonic()  # MediaPipe is loaded: the clock starts
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
                pub = Publisher(args, stream, fr.layout, live=live, fps=None)
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
    from skelact.stream.preview import PreviewError

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
