"""The front of a multi-worker runtime (`skelact serve --workers N`): shards streams
across N detection cores and merges what they say back into the one PUB socket.

The runtime loop (``stream/runtime.py``) keeps everything that needs no model state:
sockets, decoding and validation, caps on message size, the age budget, round-robin
fairness across streams and CURVE stream ownership. What it would hand one
``DetectorCore`` it hands a ``WorkerPool`` instead, which has the same methods
(``feed_many``, ``expire``, ``close_all``, ``has_stream``, ``streams``, ``infer_ms``)
plus ``poll`` for results that arrive later.

* **Placement.** A stream lives entirely in one worker, chosen by a stable hash of its id
  (BLAKE2b, the same in every process and every run): per-stream ordering, gaps,
  per-stream track caps and events stay exactly those of one core. The global stream
  cap is the front's: a new stream is refused (``too_many_streams``) when the workers
  together hold ``max_streams``.
* **Batching.** One ``feed_many`` becomes at most one call per worker carrying all of
  that worker's frames. Calls are asynchronous, at most ``depth`` in flight per worker;
  the front blocks on the oldest one beyond that, so the age budget in front of the
  pool still sheds load instead of an unbounded mailbox growing behind it.
* **Bookkeeping.** The front sees every event it publishes, so it knows which actions
  are open, per stream and worker. When a worker dies (its process crashed or was
  killed) every open action of its streams gets ``end`` with reason ``reset``,
  synthesised here (``t``/``seq`` = the last frame the front sent for the stream,
  ``score``/``peak_score`` = the start's score, the last ones the front saw); the
  worker is restarted by its backend and the streams continue from fresh state.
* **Clocks.** Every ``now`` and ``arrival`` is the front's monotonic clock; a worker
  translates the stamps it makes itself (forced ends in ``expire``/``close_all``) onto
  it, so a worker on another machine reports honest ``latency_ms``.

Backends: ``InProcessBackend`` (cores in this process, synchronous: tests and the
baseline of the hop measurement) and ``stream.cluster.RayBackend`` (Ray actors).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import pickle
import socket
import time
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from . import protocol as P
from .detector import DetectorConfig, DetectorCore, Input, Outgoing
from .protocol import EndOfStream, PoseFrame

__all__ = ["InProcessBackend", "Reply", "WorkerCore", "WorkerLost", "WorkerPool", "WorkerSpec", "pack_inputs",
           "pack_reply", "shard_of", "unpack_inputs", "unpack_reply"]  # fmt: skip

log = logging.getLogger(__name__)

INFER_SAMPLES = 256  # recent per-frame inference times a worker reports with its stats


def shard_of(stream: str, workers: int) -> int:
    """The worker (0..workers-1) that owns ``stream``: a keyed-by-nothing BLAKE2b digest of
    its UTF-8 id, so every process, machine and restart agrees (Python's ``hash`` of a str
    is salted per process). Not CRC-32: CRC is affine in the input bits, so ids that differ
    in one character (``cam0``..``cam3``) all land on the same worker of two."""
    return int.from_bytes(hashlib.blake2b(stream.encode("utf-8"), digest_size=8).digest(), "little") % workers


# ----------------------------------------------------------------------------- the hop's wire form
# What crosses a process boundary per worker call is one ``bytes`` object: a plain (C) pickle
# of builtin values (per-frame metadata tuples, result bodies) with every frame's joints
# concatenated into one buffer. Ray passes ``bytes`` through without its own serialiser,
# whose cloudpickle path visits every PoseFrame, Input and Outgoing object in Python
# (measured: 157 us to serialise 8 frames as objects, < 25 us packed, front side).

_DTYPES: dict[str, np.dtype] = {}


def pack_inputs(items: Sequence[Input]) -> bytes:
    """``items`` (``Input`` of ``PoseFrame``/``EndOfStream``) as one bytes object for
    ``unpack_inputs``: metadata tuples plus all joint arrays in one buffer (C order)."""
    meta: list[tuple] = []
    bufs: list[bytes] = []
    for it in items:
        m = it.msg
        if type(m) is PoseFrame:
            j = m.joints
            meta.append((m.stream, m.seq, m.t, m.layout, m.tracks, m.units, j.shape, j.dtype.str, it.now,
                         it.arrival, it.after_drop))  # fmt: skip
            bufs.append(j.tobytes())
        elif type(m) is EndOfStream:
            meta.append((m.stream, it.now, it.arrival, it.after_drop))
        else:
            raise TypeError(f"cannot send {type(m).__name__} to a worker")
    return pickle.dumps((meta, b"".join(bufs)), protocol=pickle.HIGHEST_PROTOCOL)


def unpack_inputs(blob: bytes) -> list[Input]:
    """The ``Input`` list ``pack_inputs`` packed; joints are read-only views of one buffer,
    as decoded frames' joints are views of their message."""
    meta, buf = pickle.loads(blob)
    items: list[Input] = []
    off = 0
    for m in meta:
        if len(m) == 4:
            items.append(Input(EndOfStream(m[0]), m[1], m[2], m[3]))
            continue
        stream, seq, t, layout, tracks, units, shape, dt, now, arrival, after_drop = m
        dtype = _DTYPES.get(dt)
        if dtype is None:
            dtype = _DTYPES[dt] = np.dtype(dt)
        n = math.prod(shape)
        joints = np.frombuffer(buf, dtype, n, off).reshape(shape)
        off += n * dtype.itemsize
        frame = P.checked_pose_frame(stream, seq, t, layout, joints, tracks, units)  # validated at the front
        items.append(Input(frame, now, arrival, after_drop))
    return items


def pack_reply(r: Reply) -> bytes:
    """``r`` as one bytes object for ``unpack_reply`` (bodies are JSON-ready builtins)."""
    out = r.out
    return pickle.dumps(([o.kind for o in out], [o.stream for o in out], [o.body for o in out],
                         [o.arrival for o in out], r.added, r.removed, r.stats), protocol=pickle.HIGHEST_PROTOCOL)  # fmt: skip


def unpack_reply(blob: bytes) -> Reply:
    kinds, streams, bodies, arrivals, added, removed, stats = pickle.loads(blob)
    return Reply(list(map(Outgoing, kinds, streams, bodies, arrivals)), added, removed, stats)


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to build its core: the model (a path, or its bytes when the
    worker may run on another machine), the ONNX Runtime provider and threads, and the
    detector settings (the same for every worker)."""

    model: str
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    provider: str = "auto"
    threads: int = 1
    model_bytes: bytes | None = None


@dataclass
class Reply:
    """What one worker call returns: messages to publish, the streams the core gained and
    lost during the call, and (from ``expire``/``close_all``/``stats``) its stats."""

    out: list[Outgoing]
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    stats: dict | None = None


class WorkerLost(Exception):
    """A worker call failed: the worker died (its state is gone), or, with ``died`` False,
    it raised (the pool restarts it so that its state is clean again)."""

    def __init__(self, msg: str, died: bool = True) -> None:
        super().__init__(msg)
        self.died = died


class WorkerCore:
    """One worker's detection core behind a call interface that crosses processes
    cheaply (lists in, lists out). Lives inside a Ray actor or in-process."""

    def __init__(self, spec: WorkerSpec, index: int = 0) -> None:
        from .engine import Engine

        path = spec.model
        if spec.model_bytes is not None:  # the model travels with the spec (other machines)
            import tempfile

            fd, path = tempfile.mkstemp(prefix="skelact-worker-", suffix=".onnx")
            with os.fdopen(fd, "wb") as f:
                f.write(spec.model_bytes)
        try:
            engine = Engine(path, provider=spec.provider, threads=spec.threads)
        finally:
            if spec.model_bytes is not None:
                os.unlink(path)
        self.index = index
        self.core = DetectorCore(engine, spec.detector)
        self.providers = list(engine.providers)
        self._known: set[str] = set()
        self.frames = 0
        self.calls = 0
        self.busy_s = 0.0

    def _reply(self, out: list[Outgoing], t0: float, stats: bool = False) -> Reply:
        cur = self.core.streams
        if len(cur) == len(self._known) and all(s in cur for s in self._known):
            added: tuple[str, ...] = ()
            removed: tuple[str, ...] = ()
        else:
            now = set(cur)
            added, removed = tuple(now - self._known), tuple(self._known - now)
            self._known = now
        self.calls += 1
        self.busy_s += time.perf_counter() - t0
        return Reply(out, added, removed, self.stats() if stats else None)

    def feed(self, items: Sequence[Input]) -> Reply:
        t0 = time.perf_counter()
        self.frames += len(items)
        r = self._reply(self.core.feed_many(items), t0)
        # streams of this call the core does not hold (refused before it created them, or
        # ended by an eos): the front must not count them as live
        absent = {it[0].stream for it in items} - self.core.streams.keys() - set(r.removed)
        if absent:
            r.removed = (*r.removed, *absent)
        return r

    @staticmethod
    def _to_front_clock(out: list[Outgoing], front_now: float, local_t0: float) -> list[Outgoing]:
        for o in out:  # stamps made here with this machine's monotonic clock
            o.arrival = front_now + (o.arrival - local_t0)
        return out

    def expire(self, now: float) -> Reply:
        """Silence timeouts on the front's clock ``now``; returns stats as well."""
        t0 = time.perf_counter()
        local = time.monotonic()
        out = self._to_front_clock(self.core.expire(now), now, local)
        return self._reply(out, t0, stats=True)

    def close_all(self, reason: str, now: float) -> Reply:
        t0 = time.perf_counter()
        local = time.monotonic()
        out = self._to_front_clock(self.core.close_all(reason), now, local)
        return self._reply(out, t0, stats=True)

    def stats(self) -> dict:
        return {
            "worker": self.index, "pid": os.getpid(), "host": socket.gethostname(),
            "streams": len(self.core.streams), "frames": self.frames, "calls": self.calls,
            "busy_s": self.busy_s, "cpu_s": time.process_time(), "providers": self.providers,
            "infer_ms": list(self.core.infer_ms)[-INFER_SAMPLES:],
        }  # fmt: skip

    def ping(self) -> int:
        return self.index


class Backend(Protocol):
    """How the pool reaches its workers. ``submit`` returns a handle at once; results of
    one worker complete in submission order."""

    workers: int

    def submit(self, w: int, method: str, *args: Any) -> Any: ...
    def ready(self, handles: list, timeout: float) -> set: ...
    def result(self, handle: Any) -> Reply: ...  # raises WorkerLost
    def describe(self, w: int) -> dict: ...
    def close(self) -> None: ...


class _Done:
    __slots__ = ("value", "error")

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value, self.error = value, error


class InProcessBackend:
    """N cores in this process, each call run at once (no parallelism, no hop): the
    reference the Ray backend is measured and tested against."""

    def __init__(self, spec: WorkerSpec, workers: int) -> None:
        self.workers = workers
        self.spec = spec
        self.cores = [WorkerCore(spec, i) for i in range(workers)]
        self._dead: set[int] = set()

    def submit(self, w: int, method: str, *args: Any) -> _Done:
        if w in self._dead:  # the first call after a crash fails, as a call in flight would
            self._dead.discard(w)
            return _Done(error=WorkerLost("killed"))
        try:
            return _Done(getattr(self.cores[w], method)(*args))
        except Exception as e:  # noqa: BLE001 - a failing core is a lost worker, as with Ray
            log.exception("worker %d failed in %s", w, method)
            return _Done(error=e)

    def ready(self, handles: list, timeout: float) -> set:
        return {id(h) for h in handles}

    def key(self, handle: _Done) -> int:
        return id(handle)

    def result(self, handle: _Done) -> Reply:
        if isinstance(handle.error, WorkerLost):
            raise handle.error
        if handle.error is not None:
            raise WorkerLost(str(handle.error), died=False)
        return handle.value

    def kill(self, w: int, restart: bool = True) -> None:
        """Lose worker ``w``'s state as a crash and restart would (``restart`` is implied)."""
        self.cores[w] = WorkerCore(self.spec, w)
        self._dead.add(w)

    def describe(self, w: int) -> dict:
        return {"node": "local", "pid": os.getpid()}

    def close(self) -> None:
        self.cores = []


@dataclass
class _Call:
    epoch: int
    handle: Any
    key: Any
    submitted: float


@dataclass
class _Open:
    worker: int
    start: dict  # the published start body


class WorkerPool:
    """The front's view of N workers; duck-types the parts of ``DetectorCore`` the
    runtime loop uses. Not thread-safe: the runtime thread owns it."""

    def __init__(self, backend: Any, detector: DetectorConfig, depth: int = 2,
                 runtime_id: str | None = None, call_timeout_s: float = 30.0) -> None:  # fmt: skip
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth!r}")
        self.backend = backend
        self.n = int(backend.workers)
        self.cfg = detector
        self.depth = depth
        self.call_timeout_s = call_timeout_s
        self.runtime_id = runtime_id or uuid.uuid4().hex[:12]
        self._where: dict[str, int] = {}  # live stream -> worker (the front's view)
        self._inflight: list[deque[_Call]] = [deque() for _ in range(self.n)]
        self._epoch = [0] * self.n
        self._outbox: list[Outgoing] = []
        self._open: dict[str, _Open] = {}  # event_id -> open action
        self._last: dict[str, tuple[int, float]] = {}  # stream -> (seq, t) of its last frame sent
        self._n: dict[str, int] = {}  # stream -> last event counter seen
        self._stats: list[dict] = [{} for _ in range(self.n)]
        self.restarts = [0] * self.n
        self.last_restart_s = [0.0] * self.n  # front time its last death was noticed
        self.sent_frames = [0] * self.n
        self.sent_calls = [0] * self.n
        self.call_ms: deque[float] = deque(maxlen=2048)  # submit -> result, per call
        self._closing: str | None = None  # the reason while close_all runs

    # ----------------------------------------------------------- DetectorCore surface
    @property
    def streams(self) -> dict[str, int]:
        return self._where

    def has_stream(self, stream: str) -> bool:
        return stream in self._where

    @property
    def infer_ms(self) -> list[float]:
        return [x for s in self._stats for x in s.get("infer_ms", ())]

    @property
    def pending(self) -> bool:
        return any(self._inflight)

    def feed_many(self, items: Iterable[Input | tuple]) -> list[Outgoing]:
        """Shard ``items`` (runtime order kept within each worker) and send one call per
        worker; returns whatever results are ready, without waiting for these."""
        groups: list[list[Input]] = [[] for _ in range(self.n)]
        out: list[Outgoing] = []
        for item in items:
            it = Input(*item)
            msg = it.msg
            s = msg.stream
            w = shard_of(s, self.n)
            if isinstance(msg, PoseFrame):
                if s not in self._where:
                    if len(self._where) >= self.cfg.max_streams:
                        out.append(Outgoing("reject", s, {"reason": "too_many_streams", "detail": (
                            f"{len(self._where)} streams open, limit {self.cfg.max_streams}")},
                            it.arrival if it.arrival is not None else time.monotonic()))  # fmt: skip
                        continue
                    self._where[s] = w  # optimistic: the worker's reply confirms or takes it back
                self._last[s] = (msg.seq, msg.t)
            groups[w].append(it)
        for w, g in enumerate(groups):
            if g:
                self.sent_frames[w] += len(g)
                self._submit(w, "feed", g)
        out += self._drain()
        out += self.poll()
        return out

    def expire(self, now: float) -> list[Outgoing]:
        """Silence timeouts in every worker (on the front's clock); also fetches stats and
        notices a worker that died while idle."""
        for w in range(self.n):
            self._submit(w, "expire", now)
        return self._drain() + self.poll()

    def compact(self) -> None:  # each worker compacts in its own expire
        pass

    def poll(self, timeout: float = 0.0) -> list[Outgoing]:
        """Results that are ready now (or within ``timeout`` s), in order per worker."""
        calls = [c for q in self._inflight for c in q]
        if not calls:
            return self._drain()
        ready = self.backend.ready([c.handle for c in calls], timeout)
        for w, q in enumerate(self._inflight):
            while q and q[0].key in ready:
                self._finish(w, q.popleft())
        return self._drain()

    def close_all(self, reason: str, timeout_s: float = 5.0) -> list[Outgoing]:
        """Every open action ends with ``reason`` (shutdown): each worker closes its own;
        for a worker that does not answer in ``timeout_s`` the front ends them itself."""
        now = time.monotonic()
        self._closing = reason
        for w in range(self.n):
            self._submit(w, "close_all", reason, now)
        deadline = time.monotonic() + timeout_s
        out = self._drain()
        while self.pending and time.monotonic() < deadline:
            out += self.poll(min(0.1, max(0.0, deadline - time.monotonic())))
        for w, q in enumerate(self._inflight):
            if q:
                log.warning("worker %d did not close in %.1f s: ending its actions from the front", w, timeout_s)
                q.clear()
                self._outbox += self._synth_ends(w, reason, now)
        self._where.clear()
        self._closing = None
        return out + self._drain()

    def close(self) -> None:
        """Stop the workers (the backend's processes); the pool is unusable afterwards."""
        self.backend.close()

    # ----------------------------------------------------------- status
    def worker_status(self) -> list[dict]:
        """Per-worker breakdown for ``status`` (JSON-ready)."""
        per = [0] * self.n
        for w in self._where.values():
            per[w] += 1
        rows = []
        for w in range(self.n):
            s = self._stats[w]
            ms = np.asarray(s.get("infer_ms", ()), dtype=np.float64)
            rows.append({
                "worker": w, "streams": per[w], "frames": self.sent_frames[w], "calls": self.sent_calls[w],
                "restarts": self.restarts[w], "host": str(s.get("host", "")), "pid": int(s.get("pid", 0)),
                "cpu_s": float(s.get("cpu_s", 0.0)), "busy_s": float(s.get("busy_s", 0.0)),
                "infer_ms_p50": float(np.percentile(ms, 50)) if ms.size else 0.0,
            })  # fmt: skip
        return rows

    def status_extra(self) -> dict:
        return {"workers": self.worker_status()}

    # ----------------------------------------------------------- internals
    def _submit(self, w: int, method: str, *args: Any) -> None:
        q = self._inflight[w]
        while len(q) >= self.depth:  # back-pressure: wait for the oldest call of this worker
            head = q[0]
            ready = self.backend.ready([head.handle], self.call_timeout_s)
            if head.key not in ready:
                log.error("worker %d: no answer in %.0f s: treating it as lost", w, self.call_timeout_s)
            q.popleft()
            self._finish(w, head, lost=head.key not in ready)
        self.sent_calls[w] += 1
        h = self.backend.submit(w, method, *args)
        q.append(_Call(self._epoch[w], h, self.backend.key(h), time.monotonic()))

    def _finish(self, w: int, call: _Call, lost: bool = False) -> None:
        try:
            if lost:
                raise WorkerLost("timeout")
            reply: Reply = self.backend.result(call.handle)
        except WorkerLost as e:
            if not e.died:
                self.backend.kill(w, restart=True)  # fresh process, fresh state
            if call.epoch == self._epoch[w]:  # the first failure after a death handles it
                log.warning("worker %d lost (%s): its streams restart (open actions end with reset)", w, e)
                self._outbox += self._synth_ends(w, self._closing or "reset", time.monotonic())
                self._epoch[w] += 1
                self.restarts[w] += 1
                self.last_restart_s[w] = time.monotonic()
            return
        self.call_ms.append((time.monotonic() - call.submitted) * 1000.0)
        for s in reply.removed:
            if self._where.get(s) == w:
                del self._where[s]
                self._last.pop(s, None)
                self._n.pop(s, None)
        for s in reply.added:
            self._where[s] = w
        if reply.stats is not None:
            self._stats[w] = reply.stats
        for o in reply.out:
            if o.kind == "event":
                b = o.body
                self._n[o.stream] = b["n"]
                if b["type"] == "start":
                    self._open[b["event_id"]] = _Open(w, b)
                else:
                    self._open.pop(b["event_id"], None)
        self._outbox += reply.out

    def _synth_ends(self, w: int, reason: str, now: float) -> list[Outgoing]:
        """End every open action of worker ``w``'s streams from the front's bookkeeping
        and forget the streams (their state is gone)."""
        out = []
        for eid, op in list(self._open.items()):
            if op.worker != w:
                continue
            del self._open[eid]
            st = op.start
            s = st["stream"]
            seq, t = self._last.get(s, (st["seq"], st["t"]))
            n = self._n.get(s, st["n"]) + 1
            self._n[s] = n
            body = P.event_body(
                "end", s, st["track"], eid, n, st["action"], st["class_id"], float(t), int(seq), float(st["score"]),
                emitted_at=0.0, latency_ms=0.0, delay_s=0.0, tracks=st.get("tracks"), t_start=float(st["t"]),
                peak_score=float(st["score"]), reason=reason,
            )  # fmt: skip
            out.append(Outgoing("event", s, body, now))
        for s in [s for s, ww in self._where.items() if ww == w]:
            del self._where[s]
            self._last.pop(s, None)
            self._n.pop(s, None)
        return out

    def _drain(self) -> list[Outgoing]:
        out, self._outbox = self._outbox, []
        return out
