"""Senders: how pose frames leave a source for a runtime's PULL socket.

* :class:`LiveSender` sends multipart messages without ever blocking (a live source
  never waits for the runtime) and counts what the socket could not take.
* :class:`PeerWatch` tells whether a runtime is really at the other end: a PUSH socket
  queues messages whether or not anybody listens, so only a completed ZeroMQ handshake
  proves delivery.
* :class:`Publisher` is one stream's sending side as ``skelact publish`` runs it for
  every source (recorded file, video, webcam, mocap): the socket, the counters, the
  optional recording and preview, progress lines, and the run's summary counters.

The socket is made by :func:`skelact.stream.client.push_socket`. Messages for people
(warnings, progress) go to the ``say`` / ``report`` callables given to the classes
(default: this module's logger), so the command line decides where they are printed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..client import ClientError, Curve, connect, push_socket
from ..protocol import DEFAULT_IN

__all__ = [
    "ANSWER_WITHIN_S",
    "LIVE_HWM",
    "REPLAY_HWM",
    "LiveSender",
    "PeerWatch",
    "PublishError",
    "Publisher",
    "PublisherOptions",
]

log = logging.getLogger(__name__)

LIVE_HWM = 100  # frames queued in the PUSH socket before a live source starts dropping
REPLAY_HWM = 10000  # a recorded file waits instead of dropping: a deep queue keeps it moving
ANSWER_WITHIN_S = 3.0  # seconds a runtime has to complete the ZeroMQ handshake before we warn


class PublishError(Exception):
    """A publisher cannot start (the message says why, in one line)."""


class LiveSender:
    """Sends multipart messages without ever blocking.

    ``sock``: a connected PUSH socket (set ``SNDHWM`` before connecting: it bounds the
    queue). ``send`` uses ``NOBLOCK``; a message the socket cannot take now (queue full
    or no peer yet) is not sent and counted in ``unsent``. ``send_final`` (for the eos)
    waits up to ``timeout_s`` seconds for room, since ending the stream matters more than
    one frame. ``blocking=True`` makes ``send`` wait instead (recorded files: nothing lost).
    """

    def __init__(self, sock, blocking: bool = False) -> None:
        self.sock = sock
        self.blocking = blocking
        self.sent = 0
        self.unsent = 0

    def send(self, parts: list[bytes]) -> bool:
        import zmq

        try:
            self.sock.send_multipart(parts, flags=0 if self.blocking else zmq.NOBLOCK, copy=False)
        except zmq.Again:
            self.unsent += 1
            return False
        self.sent += 1
        return True

    def send_final(self, parts: list[bytes], timeout_s: float = 1.0) -> bool:
        import zmq

        if self.sock.poll(int(timeout_s * 1000), zmq.POLLOUT):
            try:
                self.sock.send_multipart(parts, flags=zmq.NOBLOCK)
                self.sent += 1
                return True
            except zmq.Again:
                pass
        self.unsent += 1
        log.warning("could not send the final message within %.1f s", timeout_s)
        return False


class PeerWatch:
    """Is a runtime really there? Reads the PUSH socket's ZeroMQ monitor in a thread.

    A PUSH socket that connect()s queues messages whether or not anybody listens, so a
    send that "worked" proves nothing. ``EVENT_HANDSHAKE_SUCCEEDED`` does: a peer that
    speaks ZMTP (with CURVE, one that accepted our keys) is at the other end and gets what
    was queued. The thread (the only user of the monitor socket) gives ``say`` one line
    when no peer has answered within ``warn_after_s`` seconds, when a handshake fails, and
    when the runtime disconnects or comes back; ``verdict`` gives the answer at exit.
    Create it before the socket connects, so no event is missed.
    """

    def __init__(self, sock, endpoint: str, warn_after_s: float = ANSWER_WITHIN_S,
                 frames: Callable[[], int] = lambda: 0,
                 say: Callable[[str], None] | None = None) -> None:  # fmt: skip
        import zmq

        self.zmq = zmq
        self.endpoint = endpoint
        self.warn_after_s = warn_after_s
        self._frames = frames  # how many frames were sent so far (for the messages)
        self._say_to = say or log.warning
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
        self._say_to(text)

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


@dataclass(frozen=True)
class PublisherOptions:
    """How a :class:`Publisher` sends, records and shows one stream.

    ``endpoint``: the runtime's PULL endpoint. ``hwm``: the PUSH socket's send high-water
    mark in messages (None: ``LIVE_HWM`` for a live source, ``REPLAY_HWM`` for a recorded
    one). ``curve``: CURVE client keys, or None. ``record``: also save the published
    frames as a dataset folder (``FILE.npz`` -> folder ``FILE/``). ``preview`` (a window)
    / ``preview_out`` (a video file) show the frames; ``preview_from``: a runtime's PUB
    endpoint whose actions the preview overlays. ``progress_s``: seconds between
    progress lines (0 = none). ``answer_within_s``: seconds a runtime has to complete the
    handshake before ``say`` warns.
    """

    endpoint: str = DEFAULT_IN
    hwm: int | None = None
    curve: Curve | None = None
    record: str | None = None
    preview: bool = False
    preview_out: str | None = None
    preview_from: str | None = None
    progress_s: float = 5.0
    answer_within_s: float = ANSWER_WITHIN_S


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


class Publisher:
    """One stream's sending side: socket, counters, recording, preview and progress.

    ``live``: a camera-like source that must never wait (non-blocking sends, drops
    counted, a short queue); otherwise a recorded file whose sends block so nothing is
    lost. ``fps``: the source's frame rate, for the recording and the preview (None:
    unknown). ``say`` receives one-line warnings and notices, ``report`` the progress
    lines (both default to this module's logger). Raises PublishError when the socket
    cannot be made (bad endpoint, unusable CURVE keys) and PreviewError when the preview
    cannot open.

    Per frame call :meth:`publish` (or send through ``sender`` and bump ``frames``
    yourself), :meth:`show` and :meth:`progress`; at the end :meth:`finish`, which sends
    the eos and returns the run's counters, or :meth:`abort` when nothing was published.
    ``extra`` holds source-specific counters that :meth:`finish` adds to its result.
    """

    def __init__(self, opts: PublisherOptions, stream: str, layout: str, live: bool, fps: float | None,
                 say: Callable[[str], None] | None = None,
                 report: Callable[[str], None] | None = None) -> None:  # fmt: skip
        import zmq

        from .. import protocol as P

        self.P = P
        self.opts = opts
        self.stream = stream
        self.layout = layout
        self.live = live
        self._say = say or log.warning
        self._report = report or log.info
        try:
            sock = push_socket(zmq.Context.instance(), None, hwm=opts.hwm or (LIVE_HWM if live else REPLAY_HWM),
                               linger_ms=1000 if live else 2000, curve=opts.curve)  # fmt: skip
        except ClientError as e:
            raise PublishError(str(e)) from None
        self.frames = 0
        self.watch = PeerWatch(sock, opts.endpoint, opts.answer_within_s, frames=lambda: self.frames, say=self._say)
        try:
            connect(sock, opts.endpoint)
        except ClientError as e:  # e.g. a malformed endpoint
            self.watch.close()
            sock.close(0)
            raise PublishError(str(e)) from None
        self.sock = sock
        self.sender = LiveSender(sock, blocking=not live)
        self.recorder = None
        if opts.record:
            from .recorder import Recorder

            self.recorder = Recorder(stream, layout, fps=fps)
        self.preview = None
        self.feed = None
        try:
            if opts.preview or opts.preview_out:
                from ..preview import Preview, PubFeed

                self.preview = Preview(window=opts.preview, out_path=opts.preview_out, fps=fps or 30.0,
                                       title=f"skelact {stream}")  # fmt: skip
                if opts.preview_from:
                    self.feed = PubFeed(opts.preview_from, stream)
        except zmq.ZMQError as e:  # PubFeed could not connect
            self.abort()
            raise PublishError(f"preview: cannot connect to {opts.preview_from}: {e}") from None
        except ClientError as e:  # the same, once PubFeed makes its socket with stream.client
            self.abort()
            raise PublishError(f"preview: {e}") from None
        except BaseException:
            self.abort()
            raise
        self.detected = 0
        self.est_ms: list[float] = []
        self.stopped_by_user = False
        self.extra: dict = {}
        self.restart_clock()

    def restart_clock(self) -> None:
        """Start timing now (rate, progress, elapsed): call it once a slow source is ready."""
        self.start = time.monotonic()
        self._last_progress = self.start

    # -- per frame
    def publish(self, seq: int, t: float, joints: np.ndarray, tracks: list[int] | None,
                units: str = "m", layout: str | None = None) -> None:  # fmt: skip
        """Encode and send one pose frame ``(P, J, C)``; ``t`` in seconds of source time.
        Raises ValueError for a frame the protocol refuses (nothing is sent)."""
        parts = self.P.encode_pose(self.stream, seq, t, layout or self.layout, joints, tracks=tracks, units=units)
        self.sender.send(parts)
        self.frames += 1
        self.detected += joints.shape[0] > 0
        if self.recorder is not None and (layout is None or layout == self.layout):
            self.recorder.add(seq, t, joints, tracks)

    def show(self, image: np.ndarray | None, seq: int, t: float, landmarks: np.ndarray | None = None,
             joints: np.ndarray | None = None, layout: str | None = None, note: str = "") -> None:  # fmt: skip
        """Draw one frame in the preview, if there is one (sets ``stopped_by_user`` when
        the window was closed)."""
        if self.preview is None:
            return
        from ..preview import render_frame

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
        """Frames handed to the socket per second since the clock started."""
        el = time.monotonic() - self.start
        return self.frames / el if el > 0 else 0.0

    def progress(self, force: bool = False) -> None:
        """Give ``report`` a progress line every ``progress_s`` seconds (or now, ``force``)."""
        every = self.opts.progress_s
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
        self._report(line)

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
        """Send the eos, wait for the runtime's verdict, save the recording, close; returns
        the run's counters (``delivered``: a runtime completed the handshake and never went
        away, so it got the frames)."""
        self._unsent_frames = self.sender.unsent
        eos_ok = self.sender.send_final(self.P.encode_eos(self.stream))
        elapsed = time.monotonic() - self.start
        peer = self.watch.verdict()  # waits for a late first handshake (a fast replay)
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
                folder, sid = self.recorder.save(self.opts.record)
                stats.update(record_folder=str(folder), record_sequence=sid)
            else:
                self._say("nothing published, nothing recorded")
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
