"""The streaming runtime behind `skelact serve`: PULL pose frames in, PUB events out.

One thread owns both sockets and the ``DetectorCore``. Each turn it drains what the
PULL socket holds (bounded), validates every message (rejects go to ``error/<stream>``,
rate-limited), runs one batched inference over all streams, publishes events and
scores, and about once a second expires silent streams and publishes ``status``.
It never blocks on a subscriber (PUB drops at its high-water mark).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import zmq

from . import protocol as P
from .detector import DetectorConfig, DetectorCore, Outgoing
from .engine import Engine
from .layouts import layout_names

__all__ = ["Runtime", "RuntimeConfig"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuntimeConfig:
    """Sockets, limits and timing of the runtime (the model brings its own metadata).

    ``batch_wait_ms``: after the first queued frame, wait at most this long for frames
    of other streams to batch with it (0 = batch only what is already queued).
    ``max_batch``: messages handled per turn. ``max_backlog``: pose frames waiting
    beyond this many in one drain are dropped oldest-first and counted.
    ``publish_every``: a turn's frames go through the model in chunks of this many, and
    each chunk's results are published before the next chunk runs, so the first frames
    of a burst are not held back by the last (0 = one chunk per turn).
    """

    in_endpoint: str = P.DEFAULT_IN
    out_endpoint: str = P.DEFAULT_OUT
    limits: P.Limits = field(default_factory=P.Limits)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    batch_wait_ms: float = 0.0
    max_batch: int = 512
    max_backlog: int = 4096
    publish_every: int = 32
    status_interval_s: float = 1.0
    rcvhwm: int = 10000
    sndhwm: int = 10000
    shutdown_linger_s: float = 1.0
    curve_secret_file: str | None = None
    curve_clients_dir: str | None = None


class Runtime:
    """Run with ``run()`` (blocking) or ``start()`` (thread); stop with ``stop()``."""

    def __init__(self, engine: Engine, cfg: RuntimeConfig | None = None, ctx: zmq.Context | None = None) -> None:
        self.cfg = cfg or RuntimeConfig()
        self.engine = engine
        self.core = DetectorCore(engine, self.cfg.detector)
        self.runtime_id = self.core.runtime_id
        self.ctx = ctx or zmq.Context.instance()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.counters = {"frames_in": 0, "frames_rejected": 0, "frames_dropped": 0, "events_out": 0}
        self._errors = P.ErrorLimiter()
        self._started = time.monotonic()
        self._order = P.StreamOrder()
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
                timeout_ms = max(0.0, min(next_tick - now, 0.1)) * 1000.0
                if poller.poll(timeout_ms):
                    self._turn()
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

    def _drain(self) -> list[tuple[list, float]]:
        assert self.pull is not None
        msgs: list[tuple[list, float]] = []
        deadline = time.monotonic() + self.cfg.batch_wait_ms / 1000.0
        while len(msgs) < self.cfg.max_batch + self.cfg.max_backlog:
            try:
                parts = self.pull.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                if time.monotonic() >= deadline or len(msgs) >= self.cfg.max_batch:
                    break
                self.pull.poll(max(0.0, (deadline - time.monotonic()) * 1000.0))
                continue
            msgs.append((parts, time.monotonic()))
        return msgs

    def _turn(self) -> None:
        msgs = self._drain()
        self.counters["frames_in"] += len(msgs)
        excess = len(msgs) - self.cfg.max_batch
        if excess > 0:  # overload: keep the newest frames, never block the producers
            self.counters["frames_dropped"] += excess
            msgs = msgs[excess:]
        items = []
        for parts, arrival in msgs:
            try:
                msg = P.decode_frame(parts, self.cfg.limits)
                self._order.accept(msg)
            except P.ProtocolError as e:
                self._reject(e, arrival)
                continue
            items.append((msg, arrival, arrival))
        step = self.cfg.publish_every if self.cfg.publish_every > 0 else max(len(items), 1)
        for i in range(0, len(items), step):
            self._publish(self.core.feed_many(items[i : i + step]))

    def _reject(self, e: P.ProtocolError, now: float) -> None:
        self.counters["frames_rejected"] += 1
        for body in self._errors.report(e.stream, e.reason, e.detail, now):
            self._send(P.error_topic(body.get("stream")), body)

    # ------------------------------------------------------------ output
    def _send(self, topic: str, body: dict) -> None:
        assert self.pub is not None
        try:
            self.pub.send_multipart(P.encode_pub(topic, body), zmq.NOBLOCK)
        except zmq.Again:  # PUB drops at HWM anyway; never block
            pass
        except ValueError as e:  # a non-finite number must never stop the loop
            log.error("dropped an unserialisable %s message: %s", topic, e)

    def _publish(self, outgoing: list[Outgoing]) -> None:
        for o in outgoing:
            if o.kind == "event":
                o.body["emitted_at"] = time.time()
                o.body["latency_ms"] = (time.monotonic() - o.arrival) * 1000.0
                self.counters["events_out"] += 1
                self._send(P.event_topic(o.stream), o.body)
            else:
                self._send(P.scores_topic(o.stream), o.body)

    def _expire(self, now: float) -> None:
        out = self.core.expire(now)
        for s in self._order.streams():
            if not self.core.has_stream(s):
                self._order.forget(s)
        self._publish(out)

    def _tick(self, now: float) -> None:
        self._expire(now)
        for body in self._errors.flush(now):
            self._send(P.error_topic(body.get("stream")), body)
        self._send(P.STATUS_TOPIC, self.status())

    def status(self) -> dict:
        ms = np.asarray(self.core.infer_ms, dtype=np.float64)
        return P.status_body(
            self.runtime_id, time.monotonic() - self._started, self.engine.meta.summary(), layout_names(),
            self.cfg.detector.silence_timeout_s, len(self.core.streams), **self.counters,
            infer_ms_p50=float(np.percentile(ms, 50)) if ms.size else 0.0,
            infer_ms_p99=float(np.percentile(ms, 99)) if ms.size else 0.0,
        )

    def _shutdown(self) -> None:
        """Emit every pending end (reason shutdown), a last status, and let them leave."""
        self._publish(self.core.close_all("shutdown"))
        for s in self._order.streams():
            self._order.forget(s)
        self._send(P.STATUS_TOPIC, self.status())
        assert self.pub is not None
        self.pub.close(linger=int(self.cfg.shutdown_linger_s * 1000))
