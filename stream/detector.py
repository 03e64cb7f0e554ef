"""The detection core shared by `skelact serve` (live) and `skelact detect` (files).

It takes decoded pose frames in arrival order and returns the messages to publish:
per (stream, track) it keeps a causal resampler, the previous canonical frame (for
velocity), the model's cached state (step mode) or a ring buffer of normalised frames
(window mode), a smoother and an event state machine. Frames from many tracks are
gathered and run through the model in one batch (``feed_many``); tracks never see each
other's data, so the events of one stream do not depend on what else is batched.

Clock: ``now`` arguments are whatever clock the caller uses for silence timeouts —
arrival time (monotonic) in the runtime, source time ``t`` in offline detection.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from . import protocol as P
from .engine import Engine
from .events import EventConfig, EventTracker
from .normalize import canonicalize, normalize_pairs
from .protocol import EndOfStream, PoseFrame
from .resample import Resampler
from .smoothing import Smoother, SmoothingConfig
from .state import StateBank

__all__ = ["DetectorConfig", "DetectorCore", "Outgoing"]


def _fix_units(j: np.ndarray, units: str) -> np.ndarray:
    """Image-normalised input has unreliable depth: missing z becomes 0 (x, y stay)."""
    if units != "norm":
        return j
    j = np.array(j, dtype=np.float32)
    j[..., 2] = np.where(np.isfinite(j[..., 2]), j[..., 2], 0.0)
    return j

JOINT_TRACK = -1  # track id reported by models that look at several persons jointly


@dataclass(frozen=True)
class DetectorConfig:
    """Decision settings (the model itself comes with its own metadata).

    ``max_gap_s``: input gaps longer than this are not interpolated (absent frames).
    ``max_seq_gap``: a jump in ``seq`` larger than this drops the track's state (reason
    ``reset``). ``silence_timeout_s``: a stream (or a track within it) silent this long
    is closed (reason ``timeout``).
    """

    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    events: EventConfig = field(default_factory=EventConfig)
    max_gap_s: float = 0.5
    max_seq_gap: int = 150
    silence_timeout_s: float = 5.0
    scores: bool = False


@dataclass
class Outgoing:
    """One message to publish: ``kind`` is 'event' or 'scores'; ``body`` the JSON body
    (``emitted_at``/``latency_ms`` are filled in by whoever sends it)."""

    kind: str
    stream: str
    body: dict
    arrival: float = 0.0


@dataclass
class _Track:
    track: int
    resampler: Resampler
    smoother: Smoother
    events: EventTracker
    slot: int = -1  # step mode: this track's slot in the detector's StateBank
    ring: np.ndarray | None = None
    ring_count: int = 0
    pending: deque = field(default_factory=deque)  # (seq, t) of frames awaiting lookahead
    prev_canon: np.ndarray | None = None
    last_seq: int = -1
    last_t: float = 0.0
    last_seen: float = 0.0


@dataclass
class _Stream:
    stream: str
    layout: str
    tracks: dict[int, _Track] = field(default_factory=dict)
    last_seq: int = -1
    last_t: float = float("-inf")
    last_seen: float = 0.0
    n: int = 0


class DetectorCore:
    """See the module docstring. Not thread-safe: one owner feeds it."""

    def __init__(self, engine: Engine, cfg: DetectorConfig | None = None, runtime_id: str | None = None) -> None:
        self.engine = engine
        self.meta = engine.meta
        self.cfg = cfg or DetectorConfig()
        self.runtime_id = runtime_id or uuid.uuid4().hex[:12]
        self.streams: dict[str, _Stream] = {}
        self._ids = itertools.count(1)
        self._actions = np.asarray(self.meta.action_indices)
        self.infer_ms: deque[float] = deque(maxlen=2048)
        self._open_ids: dict[tuple[str, tuple[int, int]], str] = {}
        self.bank = StateBank(engine) if self.meta.mode == "step" else None

    # ----------------------------------------------------------------- state
    def _new_track(self, track: int) -> _Track:
        m = self.meta
        tr = _Track(
            track=track,
            resampler=Resampler(m.fps, max_gap_s=self.cfg.max_gap_s),
            smoother=Smoother(self.cfg.smoothing, m.num_classes),
            events=EventTracker(self.cfg.events, m.num_classes),
        )
        if self.bank is not None:
            tr.slot = self.bank.allocate()
        else:
            tr.ring = np.zeros((m.window, *self.engine.input_shape_tail), dtype=np.float32)
        return tr

    # ----------------------------------------------------------------- input
    def feed(self, msg: PoseFrame | EndOfStream, now: float, arrival: float | None = None) -> list[Outgoing]:
        return self.feed_many([(msg, now, arrival)])

    def feed_many(self, items: list[tuple[PoseFrame | EndOfStream, float, float | None]]) -> list[Outgoing]:
        """Process frames (already validated, including per-stream ordering) in order;
        returns the messages to publish. ``now`` drives timeouts; ``arrival`` (monotonic)
        is kept for latency measurement. Preprocessing and inference are batched over
        all frames given; a reset or eos first flushes what came before it."""
        out: list[Outgoing] = []
        pend: list[tuple[_Stream, _Track, PoseFrame, int, float]] = []
        for msg, now, arrival in items:
            arr = time.monotonic() if arrival is None else arrival
            if isinstance(msg, EndOfStream):
                out += self._flush(pend)
                pend = []
                out += self.close_stream(msg.stream, "eos", keep=False, arrival=arr)
                continue
            st = self.streams.get(msg.stream)
            if st is not None and (st.layout != msg.layout or
                                   (st.last_seq >= 0 and msg.seq - st.last_seq > self.cfg.max_seq_gap)):  # fmt: skip
                out += self._flush(pend)
                pend = []
                # a layout change or a long seq gap: the model state is meaningless now
                out += self.close_stream(msg.stream, "reset", keep=st.layout == msg.layout, arrival=arr)
                st = self.streams.get(msg.stream)
            if st is None:
                st = self.streams[msg.stream] = _Stream(msg.stream, msg.layout)
            st.last_seq, st.last_t, st.last_seen = msg.seq, msg.t, now
            if self.meta.persons > 1:
                tr = st.tracks.get(JOINT_TRACK) or st.tracks.setdefault(JOINT_TRACK, self._new_track(JOINT_TRACK))
                tr.last_seq, tr.last_t, tr.last_seen = msg.seq, msg.t, now
                pend.append((st, tr, msg, -1, arr))
                continue
            for p, tid in enumerate(msg.tracks):
                tr = st.tracks.get(tid)
                if tr is None:
                    tr = st.tracks[tid] = self._new_track(tid)
                tr.last_seq, tr.last_t, tr.last_seen = msg.seq, msg.t, now
                pend.append((st, tr, msg, p, arr))
        out += self._flush(pend)
        return out

    def _canonical(self, pend: list) -> list[np.ndarray]:
        """Canonical (M, 20, 3) frame of each pending entry; one-person entries of the same
        layout and channel count are mapped in one call (the map is elementwise, so
        batching does not change a single bit)."""
        norm = self.meta.norm
        res: list[np.ndarray | None] = [None] * len(pend)
        groups: dict[tuple[str, int], list[int]] = {}
        for i, (_st, _tr, msg, p, _a) in enumerate(pend):
            if p < 0:
                j = _fix_units(msg.joints, msg.units)
                order = np.argsort(np.asarray(msg.tracks, dtype=np.int64), kind="stable")
                res[i] = canonicalize(j[order][None], msg.layout, norm)[0]
            else:
                groups.setdefault((msg.layout, msg.joints.shape[-1]), []).append(i)
        for (layout, _c), idx in groups.items():
            stack = np.stack([_fix_units(pend[i][2].joints[pend[i][3]], pend[i][2].units) for i in idx])
            canon = canonicalize(stack[:, None], layout, norm)  # (n, 1, 20, 3)
            for k, i in enumerate(idx):
                res[i] = canon[k]
        return res  # type: ignore[return-value]

    def _flush(self, pend: list) -> list[Outgoing]:
        if not pend:
            return []
        canon = self._canonical(pend)
        work = []
        datas, befores = [], []
        for (st, tr, msg, _p, arr), c in zip(pend, canon):
            for mf in tr.resampler.push(msg.t, msg.seq, c):
                befores.append(mf.data if tr.prev_canon is None else tr.prev_canon)
                tr.prev_canon = mf.data
                datas.append(mf.data)
                work.append([st, tr, mf, None, arr, msg.t])
        if not work:
            return []
        xs = normalize_pairs(np.stack(datas), np.stack(befores), self.meta.norm)
        for w, x in zip(work, xs):
            w[3] = x
        return self._run([tuple(w) for w in work])

    # ----------------------------------------------------------------- model
    def _run(self, work: list) -> list[Outgoing]:
        if not work:
            return []
        out: list[Outgoing] = []
        # Frames of one track depend on each other (state); batch across tracks per round.
        rounds: list[list] = []
        depth: dict[int, int] = {}
        for item in work:
            key = id(item[1])
            r = depth.get(key, 0)
            depth[key] = r + 1
            if r == len(rounds):
                rounds.append([])
            rounds[r].append(item)
        for batch in rounds:
            t0 = time.perf_counter()
            probs = self._infer(batch)
            self.infer_ms.append((time.perf_counter() - t0) * 1000.0 / max(len(batch), 1))
            for (st, tr, _mf, _x, arr, trig_t), p in zip(batch, probs, strict=True):
                if p is None:
                    continue
                seq, t = p[1]
                out += self._decide(st, tr, seq, t, p[0], trig_t, arr)
        return out

    def _infer(self, batch: list) -> list:
        m = self.meta
        xs = np.stack([item[3] for item in batch])
        if m.mode == "step":
            probs = self.bank.step(xs, [item[1].slot for item in batch])
            return [(probs[b], (item[2].seq, item[2].src_t)) for b, item in enumerate(batch)]
        # Until a track has `window` frames, only its real frames are fed (T < window):
        # the graph's own left zero-padding then matches the step graph's zero state.
        groups: dict[int, list[int]] = {}
        for i, (_st, tr, mf, x, _a, _tt) in enumerate(batch):
            tr.ring[:-1] = tr.ring[1:]
            tr.ring[-1] = x
            tr.ring_count += 1
            tr.pending.append((mf.seq, mf.src_t))
            if len(tr.pending) > m.lookahead:
                groups.setdefault(min(tr.ring_count, m.window), []).append(i)
        res: list = [None] * len(batch)
        for n, idx in groups.items():
            probs = self.engine.run_window(np.stack([batch[i][1].ring[m.window - n:] for i in idx]))
            for k, i in enumerate(idx):
                res[i] = (probs[k, n - 1 - m.lookahead], batch[i][1].pending.popleft())
        return res

    # ----------------------------------------------------------------- decisions
    def _decide(self, st: _Stream, tr: _Track, seq: int, t: float, probs: np.ndarray, trigger_t: float,
                arrival: float) -> list[Outgoing]:  # fmt: skip
        scores = tr.smoother.step(np.asarray(probs, dtype=np.float64)[self._actions])
        out = []
        if self.cfg.scores:
            out.append(Outgoing("scores", st.stream, P.scores_body(st.stream, tr.track, int(seq), float(t), scores),
                                arrival))  # fmt: skip
        for d in tr.events.update(int(seq), float(t), scores):
            out.append(self._event(st, tr, d, trigger_t=trigger_t, arrival=arrival))
        return out

    def _event(self, st: _Stream, tr: _Track, d, trigger_t: float, arrival: float, forced: bool = False) -> Outgoing:
        cid, name = self.meta.classes[d.class_index]
        st.n += 1
        key = (tr.track, d.class_index)
        if d.type == "start":
            eid = f"{self.runtime_id}-{next(self._ids)}"
            self._open_ids[(st.stream, key)] = eid
        else:
            eid = self._open_ids.pop((st.stream, key), f"{self.runtime_id}-{next(self._ids)}")
        seq, t = (tr.last_seq, tr.last_t) if forced else (d.seq, d.t)
        end = d.type == "end"
        body = P.event_body(
            d.type, st.stream, tr.track, eid, st.n, name, int(cid), float(t), int(seq), float(d.score),
            emitted_at=0.0, latency_ms=0.0, delay_s=float(trigger_t - t),
            tracks=sorted(k for k in st.tracks if k != JOINT_TRACK) if tr.track == JOINT_TRACK else None,
            t_start=float(d.t_start) if end else None,
            peak_score=float(d.peak_score) if end else None,
            reason=d.reason if end else None,
        )
        return Outgoing("event", st.stream, body, arrival)

    # ----------------------------------------------------------------- closing
    def _close_track(self, st: _Stream, tr: _Track, reason: str, arrival: float) -> list[Outgoing]:
        return [self._event(st, tr, d, trigger_t=tr.last_t, arrival=arrival, forced=True)
                for d in tr.events.close(reason)]  # fmt: skip

    def _release(self, tr: _Track) -> None:
        if self.bank is not None and tr.slot >= 0:
            self.bank.release(tr.slot)
            tr.slot = -1

    def close_stream(self, stream: str, reason: str, keep: bool = False, arrival: float | None = None) -> list[Outgoing]:
        """End every open action of ``stream``; drop its state (``keep`` keeps the stream
        record, e.g. after a reset, so ``n`` continues)."""
        st = self.streams.get(stream)
        if st is None:
            return []
        arr = time.monotonic() if arrival is None else arrival
        out: list[Outgoing] = []
        for tr in st.tracks.values():
            out += self._close_track(st, tr, reason, arr)
            self._release(tr)
        if keep:
            st.tracks.clear()
        else:
            del self.streams[stream]
        return out

    def close_all(self, reason: str) -> list[Outgoing]:
        out: list[Outgoing] = []
        for s in list(self.streams):
            out += self.close_stream(s, reason)
        return out

    def expire(self, now: float) -> list[Outgoing]:
        """Close streams silent for longer than the silence timeout, and tracks absent
        from their stream's frames that long."""
        out: list[Outgoing] = []
        limit = self.cfg.silence_timeout_s
        for s, st in list(self.streams.items()):
            if now - st.last_seen > limit:
                out += self.close_stream(s, "timeout")
                continue
            for tid, tr in list(st.tracks.items()):
                if now - tr.last_seen > limit:
                    out += self._close_track(st, tr, "timeout", time.monotonic())
                    self._release(tr)
                    del st.tracks[tid]
        return out

    def has_stream(self, stream: str) -> bool:
        return stream in self.streams
