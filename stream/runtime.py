"""The streaming runtime behind `skelact serve`: PULL pose frames in, PUB events out.

One thread owns both sockets and the ``DetectorCore``. Each turn it

1. **receives** what the PULL socket holds (bounded), stamping each message with its
   receive time, decoding and validating it (rejects go to ``error/<stream>``,
   rate-limited) and queueing it per stream;
2. **takes** frames round-robin across streams (one per stream per round, so a flooding
   stream cannot starve the others). A frame older than ``max_age_ms`` when its turn
   comes is dropped before acceptance and counted in ``frames_dropped``; the model
   then skips the dropped time of that stream rather than interpolating it;
3. **runs** the taken frames through the core in chunks of ``publish_every`` and
   publishes each chunk's events and scores before the next chunk, receiving again in
   between so receive times stay honest.

About once a second it expires silent streams, gives unused state memory back and
publishes ``status``. It never blocks on a subscriber (PUB drops at its high-water
mark). With CURVE, a stream id belongs to the client key that first used it until the
stream ends or times out (``not_owner`` for the others).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import zmq

from . import protocol as P
from .detector import DetectorConfig, DetectorCore, Input, Outgoing
from .engine import Engine
from .layouts import layout_names

__all__ = ["Runtime", "RuntimeConfig"]

log = logging.getLogger(__name__)

_NOBLOCK_MORE = zmq.NOBLOCK | zmq.SNDMORE


@dataclass(frozen=True)
class RuntimeConfig:
    """Sockets, limits, overload policy and timing of the runtime (the model brings
    its own metadata).

    ``max_age_ms``: a frame that has waited longer than this since it was received is
    dropped before acceptance (0 = never drop: every frame is run, and a full backlog
    pushes back on the producers instead). ``max_backlog``: received frames waiting to
    be accepted, all streams together; ``max_stream_backlog``: the same per stream. When
    either is full (with ``max_age_ms`` > 0) the oldest waiting frame of that stream, or
    of the longest queue, is dropped. ``recv_batch``: messages read (and decoded) at most
    between two model chunks, so a flood cannot hold the loop in decoding while other
    streams' frames age. ``max_batch``: frames accepted per turn.
    ``publish_every``: frames per model chunk; each chunk's results are published before
    the next chunk runs (0 = one chunk per turn). ``batch_wait_ms``: when a turn starts
    and some live streams have no frame waiting yet, wait at most this long for theirs,
    so that frames sent at about the same time run in one model call (0 = batch only what
    is already queued). Nothing waits for a lone stream, or once every live stream has a
    frame waiting; a stream that has gone quiet costs the others at most this much
    latency per turn until it times out.
    """

    in_endpoint: str = P.DEFAULT_IN
    out_endpoint: str = P.DEFAULT_OUT
    limits: P.Limits = field(default_factory=P.Limits)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    max_age_ms: float = 150.0
    batch_wait_ms: float = 2.0
    max_batch: int = 512
    max_backlog: int = 4096
    max_stream_backlog: int = 256
    recv_batch: int = 256
    publish_every: int = 32
    status_interval_s: float = 1.0
    rcvhwm: int = 10000
    sndhwm: int = 10000
    shutdown_linger_s: float = 1.0
    curve_secret_file: str | None = None
    curve_clients_dir: str | None = None

    def __post_init__(self) -> None:
        if not (self.max_age_ms >= 0 and np.isfinite(self.max_age_ms)):
            raise ValueError(f"max_age_ms must be >= 0 (0 = off), got {self.max_age_ms!r}")
        for name in ("max_batch", "max_backlog", "max_stream_backlog", "recv_batch"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.publish_every < 0:
            raise ValueError(f"publish_every must be >= 0, got {self.publish_every!r}")
        if not (self.batch_wait_ms >= 0 and np.isfinite(self.batch_wait_ms)):
            raise ValueError(f"batch_wait_ms must be a finite number >= 0, got {self.batch_wait_ms!r}")


@dataclass
class _Waiting:
    """A decoded message waiting for its turn; ``arrival`` is its monotonic receive time."""

    msg: P.PoseFrame | P.EndOfStream
    arrival: float


class Runtime:
    """Run with ``run()`` (blocking) or ``start()`` (thread); stop with ``stop()``."""

    def __init__(self, engine: Engine, cfg: RuntimeConfig | None = None, ctx: zmq.Context | None = None,
                 core: DetectorCore | None = None) -> None:  # fmt: skip
        """``core``: what runs the accepted frames; default one ``DetectorCore`` in this
        thread. A ``stream.workers.WorkerPool`` (same methods, plus ``poll``/``pending``
        for results that arrive later and ``status_extra``) shards them across workers."""
        self.cfg = cfg or RuntimeConfig()
        self.engine = engine
        self.core = core if core is not None else DetectorCore(engine, self.cfg.detector)
        self._poll = getattr(self.core, "poll", None)  # asynchronous cores only
        self.runtime_id = self.core.runtime_id
        self.ctx = ctx or zmq.Context.instance()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.counters = {"frames_in": 0, "frames_rejected": 0, "frames_dropped": 0, "events_out": 0}
        self._errors = P.ErrorLimiter()
        self._started = time.monotonic()
        self._queues: dict[str, deque[_Waiting]] = {}
        self._turns: deque[str] = deque()  # streams with waiting frames, in round-robin order
        self._waiting = 0
        self._after_drop: set[str] = set()  # streams whose next frame follows dropped ones
        self._owners: dict[str, str] = {}  # stream -> CURVE client key (with CURVE only)
        self._auth = None
        self.pull: zmq.Socket | None = None
        self.pub: zmq.Socket | None = None
        self.in_endpoint = self.cfg.in_endpoint
        self.out_endpoint = self.cfg.out_endpoint

    # ------------------------------------------------------------ sockets
    def bind(self) -> None:
        """Create and bind both sockets (resolves ``tcp://...:*`` to the real port)."""
        c = self.cfg
        self.pull = self.ctx.socket(zmq.PULL)
        self.pub = self.ctx.socket(zmq.PUB)
        for s in (self.pull, self.pub):
            s.setsockopt(zmq.LINGER, 0)
        self.pull.setsockopt(zmq.RCVHWM, c.rcvhwm)
        self.pull.setsockopt(zmq.MAXMSGSIZE, c.limits.transport_max_bytes)
        self.pub.setsockopt(zmq.SNDHWM, c.sndhwm)
        if c.curve_secret_file:
            from .security import configure_server

            self._auth = configure_server(self.ctx, [self.pull, self.pub], c.curve_secret_file, c.curve_clients_dir)
        self.pull.bind(c.in_endpoint)
        self.pub.bind(c.out_endpoint)
        self.in_endpoint = self.pull.getsockopt_string(zmq.LAST_ENDPOINT)
        self.out_endpoint = self.pub.getsockopt_string(zmq.LAST_ENDPOINT)

    def start(self) -> Runtime:
        """Bind and run in a background thread; returns once the sockets are bound."""
        if self.pull is None:
            self.bind()
        self._thread = threading.Thread(target=self.run, name="skelact-runtime", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM end the loop cleanly (pending ends go out with reason shutdown)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stop.set())

    # ------------------------------------------------------------ loop
    def run(self) -> None:
        if self.pull is None:
            self.bind()
        assert self.pull is not None and self.pub is not None
        poller = zmq.Poller()
        poller.register(self.pull, zmq.POLLIN)
        next_tick = time.monotonic()
        self._ready.set()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                timeout_ms = 0.0 if self._turns else max(0.0, min(next_tick - now, 0.1)) * 1000.0
                if self._poll is not None and self.core.pending:
                    timeout_ms = min(timeout_ms, 1.0)  # results of workers come back without a socket
                if poller.poll(timeout_ms) or self._turns:
                    self._turn()
                if self._poll is not None:
                    self._publish(self._poll())
                now = time.monotonic()
                due = self._errors.next_flush_at()
                if due is not None and now >= due:
                    for body in self._errors.flush(now):
                        self._send(P.error_topic(body.get("stream")), body)
                if now >= next_tick:
                    self._tick(now)
                    next_tick = now + self.cfg.status_interval_s
            self._shutdown()
        finally:
            for s in (self.pull, self.pub):
                if s is not None and not s.closed:
                    s.close(linger=0)
            if self._auth is not None:
                self._auth.stop()

    # ------------------------------------------------------------ input
    def _peer_key(self, parts: list) -> str | None:
        """The sender's CURVE public key (Z85) when CURVE is on, else None."""
        if self._auth is None:
            return None
        try:
            return parts[0].get("User-Id") or None
        except (zmq.ZMQError, AttributeError, IndexError):
            return None

    def _receive(self) -> None:
        """Receive, decode and queue what the socket holds now (at most ``recv_batch``
        messages; without an age limit, only while the backlog has room). ZeroMQ takes
        messages fairly from each connected producer."""
        assert self.pull is not None
        c = self.cfg
        lossless = c.max_age_ms <= 0
        # Small messages decode faster from bytes than from zmq.Frame objects; frames are
        # kept only where CURVE needs them (the sender's key is a frame property).
        copy = self._auth is None
        for _ in range(c.recv_batch):
            if lossless and self._waiting >= c.max_backlog:
                return
            try:
                parts = self.pull.recv_multipart(zmq.NOBLOCK, copy=copy)
            except zmq.Again:
                return
            arrival = time.monotonic()
            self.counters["frames_in"] += 1
            try:
                msg = P.decode_frame(parts, c.limits)
                key = self._peer_key(parts)
                if key is not None:
                    owner = self._owners.setdefault(msg.stream, key)
                    if owner != key:
                        raise P.ProtocolError("not_owner", "this stream id belongs to another client key", msg.stream)
            except P.ProtocolError as e:
                self._report(e.stream, e.reason, e.detail, arrival, rejected=True)
                continue
            self._enqueue(_Waiting(msg, arrival))

    def _enqueue(self, w: _Waiting) -> None:
        c = self.cfg
        q = self._queues.get(w.msg.stream)
        if q is None:
            q = self._queues[w.msg.stream] = deque()
        if c.max_age_ms > 0:
            full = len(q) >= c.max_stream_backlog
            if full or self._waiting >= c.max_backlog:
                victim = w.msg.stream if full else max(self._queues, key=lambda s: len(self._queues[s]))
                if not self._drop_oldest(victim):  # nothing droppable there (only eos): drop the newcomer
                    self.counters["frames_dropped"] += 1
                    if not q:
                        del self._queues[w.msg.stream]
                    return
        if not q:
            self._turns.append(w.msg.stream)
        q.append(w)
        self._waiting += 1

    def _drop_oldest(self, stream: str) -> bool:
        """Drop the oldest waiting pose frame of ``stream`` (a waiting eos is kept); False
        when it has none."""
        q = self._queues[stream]
        for i, w in enumerate(q):
            if isinstance(w.msg, P.PoseFrame):
                del q[i]
                self._waiting -= 1
                self.counters["frames_dropped"] += 1
                self._after_drop.add(stream)
                return True
        return False

    def _take(self, n: int, now: float) -> list[Input]:
        """Up to ``n`` frames, one per stream per round; frames past their age are
        dropped on the way (before acceptance)."""
        max_age = self.cfg.max_age_ms / 1000.0
        items: list[Input] = []
        while len(items) < n and self._turns:
            stream = self._turns.popleft()
            q = self._queues[stream]
            while q:
                w = q.popleft()
                self._waiting -= 1
                if isinstance(w.msg, P.EndOfStream):
                    self._after_drop.discard(stream)
                    items.append(Input(w.msg, w.arrival, w.arrival))
                    break
                if max_age > 0 and now - w.arrival > max_age:
                    self.counters["frames_dropped"] += 1
                    self._after_drop.add(stream)
                    continue
                after = stream in self._after_drop
                if after:
                    self._after_drop.discard(stream)
                items.append(Input(w.msg, w.arrival, w.arrival, after))
                break
            if q:
                self._turns.append(stream)
            else:
                del self._queues[stream]
        return items

    def _gather(self) -> None:
        """Wait at most ``batch_wait_ms`` for the next frame of every live stream that has
        none waiting yet, so that frames sent together run in one model call (one call
        for a burst of 32 costs less CPU per frame than two or three small ones). With
        one stream, or once every live stream has a frame waiting, nothing waits."""
        wait = self.cfg.batch_wait_ms
        if wait <= 0 or not self._turns:
            return
        assert self.pull is not None
        live = len(self.core.streams)
        deadline = time.monotonic() + wait / 1000.0
        while len(self._queues) < live and self._waiting < self.cfg.max_batch:
            left = deadline - time.monotonic()
            if left <= 0 or not self.pull.poll(left * 1000.0):
                return
            seen = self.counters["frames_in"]
            self._receive()
            if self.counters["frames_in"] == seen:  # a full lossless backlog reads nothing
                return

    def _turn(self) -> None:
        self._receive()
        self._gather()
        chunk = self.cfg.publish_every if self.cfg.publish_every > 0 else self.cfg.max_batch
        done = 0
        while self._turns and done < self.cfg.max_batch:
            items = self._take(min(chunk, self.cfg.max_batch - done), time.monotonic())
            done += len(items)
            if items:
                self._publish(self.core.feed_many(items))
            self._receive()

    def _report(self, stream: str | None, reason: str, detail: str, now: float, rejected: bool) -> None:
        if rejected:
            self.counters["frames_rejected"] += 1
        for body in self._errors.report(stream, reason, detail, now):
            self._send(P.error_topic(body.get("stream")), body)

    # ------------------------------------------------------------ output
    def _send(self, topic: str, body: dict) -> None:
        assert self.pub is not None
        try:
            head, data = P.encode_pub(topic, body)
            # two sends, as send_multipart makes them, without its per-part checks (hot path)
            self.pub.send(head, _NOBLOCK_MORE)
            self.pub.send(data, zmq.NOBLOCK)
        except zmq.Again:  # PUB drops at HWM anyway; never block
            pass
        except ValueError as e:  # a non-finite number must never stop the loop
            log.error("dropped an unserialisable %s message: %s", topic, e)

    def _publish(self, outgoing: list[Outgoing]) -> None:
        for o in outgoing:
            if o.kind in ("reject", "notice"):
                self._report(o.stream or None, o.body["reason"], o.body["detail"], time.monotonic(),
                             rejected=o.kind == "reject")  # fmt: skip
            elif o.kind == "event":
                o.body["emitted_at"] = time.time()
                o.body["latency_ms"] = (time.monotonic() - o.arrival) * 1000.0
                self.counters["events_out"] += 1
                self._send(P.event_topic(o.stream), o.body)
            else:
                self._send(P.scores_topic(o.stream), o.body)

    def _expire(self, now: float) -> None:
        self._publish(self.core.expire(now))
        for s in [s for s in self._owners if s not in self._queues and not self.core.has_stream(s)]:
            del self._owners[s]
        self._after_drop &= set(self._queues) | set(self.core.streams)

    def _tick(self, now: float) -> None:
        self._expire(now)
        for body in self._errors.flush(now):
            self._send(P.error_topic(body.get("stream")), body)
        self._send(P.STATUS_TOPIC, self.status())

    def status(self) -> dict:
        ms = np.asarray(self.core.infer_ms, dtype=np.float64)
        extra = getattr(self.core, "status_extra", None)  # a worker pool adds its per-worker breakdown
        body = P.status_body(
            self.runtime_id, time.monotonic() - self._started, self.engine.meta.summary(), layout_names(),
            self.cfg.detector.silence_timeout_s, len(self.core.streams), **self.counters,
            infer_ms_p50=float(np.percentile(ms, 50)) if ms.size else 0.0,
            infer_ms_p99=float(np.percentile(ms, 99)) if ms.size else 0.0,
        )
        if extra is not None:
            body.update(extra())
        return body

    def _shutdown(self) -> None:
        """Emit every pending end (reason shutdown), a last status, and let them leave.
        Frames still waiting (never accepted) are counted as dropped."""
        self.counters["frames_dropped"] += self._waiting
        self._queues.clear()
        self._turns.clear()
        self._waiting = 0
        self._publish(self.core.close_all("shutdown"))
        self._send(P.STATUS_TOPIC, self.status())
        assert self.pub is not None
        self.pub.close(linger=int(self.cfg.shutdown_linger_s * 1000))
