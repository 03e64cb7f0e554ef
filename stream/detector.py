"""The detection core shared by `skelact serve` (live) and `skelact detect` (files).

It takes decoded pose frames in arrival order and returns the messages to publish:
per (stream, track) it keeps a causal resampler, the previous canonical frame (for
velocity), a slot in the model's state bank (``stream/state.py``: cached step state,
or the window of recent frames), and a row in the smoothing and event banks
(``SmootherBank``, ``EventBank``: one numpy pass per batch for all its tracks). Frames
from many tracks are gathered and run through the model in one batch (``feed_many``);
tracks never see each other's data, so the events of one stream do not depend on what
else is batched.

The core also owns every per-stream rule that needs its state: ``seq``/``t`` ordering,
the caps on streams, tracks per stream and total model state, and the gap policy. A
frame that breaks one comes back as an ``Outgoing`` of kind ``reject`` (nothing of it
was used); a stream whose ``t`` jumps by more than ``max_gap_s`` is reset (open actions
end with reason ``reset``, state restarts) and a ``notice`` with reason ``time_gap``
says why. So one message costs at most ``P * ceil(max_gap_s * fps)`` model steps,
whatever ``t`` holds.

Clock: ``now`` arguments are whatever clock the caller uses for silence timeouts —
arrival time (monotonic) in the runtime, source time ``t`` in offline detection.
"""

from __future__ import annotations

import itertools
import math
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import protocol as P
from .engine import Engine
from .events import Decision, EventBank, EventConfig
from .normalize import canonicalize, normalize_pairs
from .protocol import EndOfStream, PoseFrame, ProtocolError, StreamOrder
from .resample import Resampler, lerp_many
from .smoothing import SmootherBank, SmoothingConfig
from .state import make_bank, release_free_memory

__all__ = ["DetectorConfig", "DetectorCore", "Input", "Outgoing", "JOINT_TRACK"]

JOINT_TRACK = -1  # track id reported by models that look at several persons jointly


def _fix_units(j: np.ndarray, units: str) -> np.ndarray:
    """Image-normalised input has unreliable depth: missing z becomes 0 (x, y stay)."""
    if units != "norm":
        return j
    j = np.array(j, dtype=np.float32)
    j[..., 2] = np.where(np.isfinite(j[..., 2]), j[..., 2], 0.0)
    return j


@dataclass(frozen=True)
class DetectorConfig:
    """Decision settings and state limits (the model itself brings its own metadata).

    ``events``: the event state machine's settings; None (default) takes the model's
    own (per-class thresholds calibrated at training time, in its metadata's
    ``decision``), or the defaults for a model without them. ``event_overrides``:
    (name, value) pairs (on, off, min_frames, min_gap) applied to every class on top of
    the model's settings — what explicit ``--on/--off`` flags do.

    ``interp_gap_s``: input gaps up to this long are interpolated; longer ones (up to
    ``max_gap_s``) give absent (all-NaN) model frames. ``max_gap_s``: a stream whose
    ``t`` jumps further, or a track absent longer, restarts its state (end reason
    ``reset``; for a stream also a ``time_gap`` notice). ``max_seq_gap``: a jump in
    ``seq`` larger than this also resets. ``silence_timeout_s``: a stream (or a track
    within it) silent this long is closed (reason ``timeout``). ``max_streams``,
    ``max_tracks`` (per stream) and ``max_state_mb`` (model state of all tracks,
    MiB) cap memory: frames that would pass them are rejected (``too_many_streams``,
    ``too_many_tracks``).
    """

    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    events: EventConfig | None = None
    event_overrides: tuple[tuple[str, float], ...] = ()
    interp_gap_s: float = 0.5
    max_gap_s: float = 1.0
    max_seq_gap: int = 150
    silence_timeout_s: float = 5.0
    max_streams: int = 256
    max_tracks: int = 16
    max_state_mb: float = 2048.0
    scores: bool = False

    def __post_init__(self) -> None:
        for name in ("interp_gap_s", "max_gap_s", "silence_timeout_s", "max_state_mb"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        for name in ("max_seq_gap", "max_streams", "max_tracks"):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")


@dataclass
class Outgoing:
    """One message to publish.

    ``kind``: 'event' or 'scores' (``body`` is the JSON body; ``emitted_at`` and
    ``latency_ms`` are filled in by whoever sends it), 'reject' (a frame was refused:
    ``body`` holds ``reason`` and ``detail``) or 'notice' (the same for an accepted
    frame, e.g. ``time_gap``).
    """

    kind: str
    stream: str
    body: dict
    arrival: float = 0.0


class Input(NamedTuple):
    """One decoded message for ``feed_many``. ``now``: the caller's clock for timeouts;
    ``arrival``: monotonic receive time (latency); ``after_drop``: frames of this
    stream were dropped under overload just before it, so the model skips the missing
    time instead of interpolating it (which would cost what the drop saved)."""

    msg: PoseFrame | EndOfStream
    now: float
    arrival: float | None = None
    after_drop: bool = False


@dataclass
class _Track:
    track: int
    resampler: Resampler
    row: int = -1  # this track's row in the detector's smoothing and event banks
    slot: int = -1  # this track's slot in the detector's state bank
    frames: int = 0  # model frames fed so far
    tags: deque = field(default_factory=deque)  # (seq, src_t) of frames awaiting the bank's delay
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


class _Pending(NamedTuple):
    """A decoded frame of one track waiting to be resampled and run."""

    stream: _Stream
    track: _Track
    msg: PoseFrame
    person: int  # index into msg.joints; -1: all persons (joint model)
    arrival: float
    fill: bool


class _Work(NamedTuple):
    """One model frame of one track (its normalised input is a row of an array beside)."""

    stream: _Stream
    track: _Track
    seq: int  # the model frame's seq and t labels (of the input frame nearest in time)
    src_t: float
    arrival: float
    trigger_t: float  # source time of the input frame that produced it


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
        self.events_cfg: EventConfig = (self.cfg.events if self.cfg.events is not None
                                        else self.meta.event_config(**dict(self.cfg.event_overrides)))  # fmt: skip
        self.bank = make_bank(engine)
        self.bank.max_slots = max(1, int(self.cfg.max_state_mb * (1 << 20)) // max(1, self.bank.bytes_per_track))
        self._slots: dict[int, _Track] = {}
        self.max_fill = max(1, math.ceil(self.cfg.max_gap_s * self.meta.fps))
        # smoothing and event state of every track, one row each, stepped a batch at a time
        self.smoothers = SmootherBank(self.cfg.smoothing, self.meta.num_classes)
        self.event_bank = EventBank(self.events_cfg, self.meta.num_classes)
        self._free_rows: list[int] = []  # a stack; rows grow by doubling and are reused
        self._rows = 0

    # ----------------------------------------------------------------- state
    def _new_track(self, track: int) -> _Track:
        m = self.meta
        tr = _Track(track=track, resampler=Resampler(m.fps, interp_gap_s=self.cfg.interp_gap_s,
                                                     max_fill=self.max_fill))  # fmt: skip
        tr.slot = self.bank.allocate()
        self._slots[tr.slot] = tr
        if not self._free_rows:
            grown = max(16, 2 * self._rows)
            self.smoothers.ensure(grown)
            self.event_bank.ensure(grown)
            self._free_rows = list(range(grown - 1, self._rows - 1, -1))
            self._rows = grown
        tr.row = self._free_rows.pop()
        self.smoothers.reset([tr.row])
        self.event_bank.reset(tr.row)
        return tr

    def _release(self, tr: _Track) -> None:
        if tr.slot >= 0:
            self.bank.release(tr.slot)
            del self._slots[tr.slot]
            tr.slot = -1
        if tr.row >= 0:
            self._free_rows.append(tr.row)
            tr.row = -1

    def has_stream(self, stream: str) -> bool:
        return stream in self.streams

    # ----------------------------------------------------------------- admission
    def _needs_reset(self, st: _Stream | None, msg: PoseFrame) -> str | None:
        """Why ``msg`` must restart its stream's state: 'layout', 'seq', 'time' or None."""
        if st is None:
            return None
        if st.layout != msg.layout:
            return "layout"
        if st.last_seq >= 0 and msg.seq - st.last_seq > self.cfg.max_seq_gap:
            return "seq"
        if msg.t - st.last_t > self.cfg.max_gap_s:
            return "time"
        return None

    def _check_caps(self, st: _Stream | None, msg: PoseFrame, resetting: bool) -> None:
        """Raise ProtocolError when accepting ``msg`` would pass a cap (nothing changes)."""
        c = self.cfg
        if st is None and len(self.streams) >= c.max_streams:
            raise ProtocolError("too_many_streams", f"{len(self.streams)} streams open, limit {c.max_streams}",
                                msg.stream)  # fmt: skip
        if self.meta.persons > 1:
            known: Iterable[int] = () if st is None or resetting else st.tracks
            new = 0 if JOINT_TRACK in known else 1
        else:
            known = {} if st is None or resetting else st.tracks
            new = sum(1 for tid in msg.tracks if tid not in known)
            if len(known) + new > c.max_tracks:
                raise ProtocolError("too_many_tracks", f"stream would have {len(known) + new} tracks, limit "
                                    f"{c.max_tracks}", msg.stream)  # fmt: skip
        freed = len(st.tracks) if st is not None and resetting else 0
        limit = self.bank.max_slots
        if self.bank.in_use - freed + new > limit:
            raise ProtocolError("too_many_tracks", f"model state for {limit} tracks in all is the limit "
                                f"({c.max_state_mb:g} MiB)", msg.stream)  # fmt: skip

    def _reject(self, e: ProtocolError, arrival: float, kind: str = "reject") -> Outgoing:
        return Outgoing(kind, e.stream or "", {"reason": e.reason, "detail": e.detail}, arrival)

    # ----------------------------------------------------------------- input
    def feed(self, msg: PoseFrame | EndOfStream, now: float, arrival: float | None = None) -> list[Outgoing]:
        return self.feed_many([Input(msg, now, arrival)])

    def feed_many(self, items: Iterable[Input | tuple]) -> list[Outgoing]:
        """Process decoded messages in order; returns the messages to publish, rejects
        and notices included. Preprocessing and inference are batched over all frames
        given; a reset or eos first flushes what came before it."""
        out: list[Outgoing] = []
        pend: list[_Pending] = []
        joint = self.meta.persons > 1
        max_gap, max_seq_gap = self.cfg.max_gap_s, self.cfg.max_seq_gap
        for item in items:
            msg, now, arrival, after_drop = item if type(item) is Input else Input(*item)
            arr = time.monotonic() if arrival is None else arrival
            st = self.streams.get(msg.stream)
            if (st is not None and type(msg) is PoseFrame and not joint and msg.seq > st.last_seq
                    and msg.t >= st.last_t and st.layout == msg.layout and msg.seq - st.last_seq <= max_seq_gap
                    and msg.t - st.last_t <= max_gap and all(tid in st.tracks for tid in msg.tracks)):  # fmt: skip
                # The common frame (known stream and tracks, in order, no gap): none of the
                # checks below can fail and no cap can be passed, as no track is new.
                t = msg.t
                st.last_seq, st.last_t, st.last_seen = msg.seq, t, now
                for tid, p in zip(msg.tracks, range(msg.num_persons)):
                    tr = st.tracks[tid]
                    if t - tr.last_t > max_gap:
                        break  # a returning person: the general path below restarts it
                    tr.last_seq, tr.last_t, tr.last_seen = msg.seq, t, now
                    pend.append(_Pending(st, tr, msg, p, arr, not after_drop))
                else:
                    continue
                # the persons before the returning one are queued; it and the rest take the
                # general path (which flushes the queue first)
                out += self._persons(st, msg, now, arr, after_drop, pend, skip=p)
                continue
            if isinstance(msg, EndOfStream):
                if msg.stream not in self.streams:
                    out.append(self._reject(ProtocolError(
                        "unknown_stream", f"eos for stream {msg.stream!r}, which has no state", msg.stream), arr))
                    continue
                out += self._flush(pend)
                pend = []
                out += self.close_stream(msg.stream, "eos", keep=False, arrival=arr)
                continue
            try:
                if st is not None:
                    StreamOrder.check_next((st.last_seq, st.last_t), msg)
                why = self._needs_reset(st, msg)
                self._check_caps(st, msg, resetting=why is not None)
            except ProtocolError as e:
                out.append(self._reject(e, arr))
                continue
            if why is not None:
                out += self._flush(pend)
                pend = []
                out += self.close_stream(msg.stream, "reset", keep=why != "layout", arrival=arr)
                if why == "time":
                    gap = msg.t - st.last_t
                    out.append(self._reject(ProtocolError(
                        "time_gap", f"t jumped {gap:.6g} s (limit {self.cfg.max_gap_s:g} s): the stream starts "
                        "afresh", msg.stream), arr, kind="notice"))  # fmt: skip
                st = self.streams.get(msg.stream)
            if st is None:
                st = self.streams[msg.stream] = _Stream(msg.stream, msg.layout)
            st.last_seq, st.last_t, st.last_seen = msg.seq, msg.t, now
            out += self._persons(st, msg, now, arr, after_drop, pend)
        out += self._flush(pend)
        return out

    def _persons(self, st: _Stream, msg: PoseFrame, now: float, arr: float, after_drop: bool,
                 pend: list[_Pending], skip: int = 0) -> list[Outgoing]:  # fmt: skip
        """Queue the tracks of an accepted frame (from person ``skip`` on) onto ``pend``
        (in place); a track absent longer than the model can bridge restarts (end reason
        ``reset``) after what is pending has been flushed. Returns what flushing produced."""
        out: list[Outgoing] = []
        persons = [(JOINT_TRACK, -1)] if self.meta.persons > 1 else list(zip(msg.tracks, range(msg.num_persons)))
        for tid, p in persons[skip:]:
            tr = st.tracks.get(tid)
            if tr is not None and msg.t - tr.last_t > self.cfg.max_gap_s:
                # the person was away longer than the model can bridge: start afresh
                out += self._flush(pend)
                pend.clear()
                out += self._close_track(st, tr, "reset", arr)
                self._release(tr)
                tr = None
            if tr is None:
                tr = st.tracks[tid] = self._new_track(tid)
            tr.last_seq, tr.last_t, tr.last_seen = msg.seq, msg.t, now
            pend.append(_Pending(st, tr, msg, p, arr, not after_drop))
        return out

    def _canonical(self, pend: list[_Pending]) -> list[np.ndarray]:
        """Canonical (M, 20, 3) frame of each pending entry; one-person entries of the same
        layout and channel count are mapped in one call (the map is elementwise, so
        batching does not change a single bit)."""
        norm = self.meta.norm
        res: list[np.ndarray | None] = [None] * len(pend)
        groups: dict[tuple[str, int], list[int]] = {}
        for i, pe in enumerate(pend):
            if pe.person < 0:
                j = _fix_units(pe.msg.joints, pe.msg.units)
                order = np.argsort(np.asarray(pe.msg.tracks, dtype=np.int64), kind="stable")
                res[i] = canonicalize(j[order][None], pe.msg.layout, norm)[0]
            else:
                groups.setdefault((pe.msg.layout, pe.msg.joints.shape[-1]), []).append(i)
        for (layout, _c), idx in groups.items():
            stack = np.stack([_fix_units(pend[i].msg.joints[pend[i].person], pend[i].msg.units) for i in idx])
            canon = canonicalize(stack[:, None], layout, norm)  # (n, 1, 20, 3)
            for k, i in enumerate(idx):
                res[i] = canon[k]
        return res  # type: ignore[return-value]

    def _flush(self, pend: list[_Pending]) -> list[Outgoing]:
        if not pend:
            return []
        work: list[_Work] = []
        lo, hi, ws = [], [], []
        for pe, c in zip(pend, self._canonical(pend)):
            tr, msg = pe.track, pe.msg
            for _k, _t, seq, src_t, a, b, w in tr.resampler.plan(msg.t, msg.seq, c, fill=pe.fill):
                lo.append(a)
                hi.append(b)
                ws.append(w)
                work.append(_Work(pe.stream, tr, seq, src_t, pe.arrival, msg.t))
        if not work:
            return []
        datas = lerp_many(lo, hi, ws)  # the resampled frames, interpolated in one pass
        befores = []
        for w, data in zip(work, datas):
            tr = w.track
            befores.append(data if tr.prev_canon is None else tr.prev_canon)
            tr.prev_canon = data
        xs = normalize_pairs(np.stack(datas), np.stack(befores), self.meta.norm)
        return self._run(work, xs)

    # ----------------------------------------------------------------- model
    def _run(self, work: list[_Work], xs: np.ndarray) -> list[Outgoing]:
        """``xs[i]``: the normalised model input of ``work[i]``."""
        out: list[Outgoing] = []
        # Frames of one track depend on each other (state); batch across tracks per round.
        rounds: list[tuple[list[_Work], np.ndarray]]
        if len({id(w.track) for w in work}) == len(work):
            rounds = [(work, xs)]  # the usual case: one frame per track
        else:
            idx: list[list[int]] = []
            depth: dict[int, int] = {}
            for i, w in enumerate(work):
                r = depth.get(id(w.track), 0)
                depth[id(w.track)] = r + 1
                if r == len(idx):
                    idx.append([])
                idx[r].append(i)
            rounds = [([work[i] for i in ix], xs[ix]) for ix in idx]
        delay = self.bank.delay
        for batch, x in rounds:
            t0 = time.perf_counter()
            probs = self.bank.step(x, [w.track.slot for w in batch])
            self.infer_ms.append((time.perf_counter() - t0) * 1000.0 / len(batch))
            if delay:
                # a bank with lookahead returns the scores of the frame ``delay`` steps back
                keep, tags = [], []
                for i, w in enumerate(batch):
                    tr = w.track
                    tr.tags.append((w.seq, w.src_t))
                    tr.frames += 1
                    if tr.frames > delay:
                        keep.append(i)
                        tags.append(tr.tags.popleft())
                if not keep:
                    continue
                if len(keep) < len(batch):
                    batch, probs = [batch[i] for i in keep], probs[keep]
                seqs, ts = [tg[0] for tg in tags], [tg[1] for tg in tags]
            else:
                seqs, ts = [w.seq for w in batch], [w.src_t for w in batch]
            out += self._decide(batch, seqs, ts, probs)
        return out

    # ----------------------------------------------------------------- decisions
    def _decide(self, batch: list[_Work], seqs: list[int], ts: list[float], probs: np.ndarray) -> list[Outgoing]:
        """Smoothing and the event state machine for one frame of each (distinct) track of
        ``batch``, all at once; ``seqs``/``ts``: the labels each frame reports."""
        rows = np.fromiter([w.track.row for w in batch], dtype=np.intp, count=len(batch))
        scores = self.smoothers.step(rows, probs[:, self._actions].astype(np.float64))
        out: list[Outgoing] = []
        if self.cfg.scores:
            version = P.VERSION
            for w, seq, t, row in zip(batch, seqs, ts, scores.tolist()):
                # P.scores_body's fields, built inline (one per frame: the hot path)
                out.append(Outgoing("scores", w.stream.stream, {"v": version, "type": "scores", "stream": w.stream.stream,
                                    "track": w.track.track, "seq": seq, "t": t, "scores": row}, w.arrival))  # fmt: skip
        decisions = self.event_bank.update(rows, np.array(seqs, dtype=np.int64), np.array(ts, dtype=np.float64),
                                           scores)  # fmt: skip
        if not decisions:
            return out
        if not self.cfg.scores:
            for i, d in decisions:
                w = batch[i]
                out.append(self._event(w.stream, w.track, d, trigger_t=w.trigger_t, arrival=w.arrival))
            return out
        # each frame's scores message comes before its events
        merged: list[Outgoing] = []
        j = 0
        for i, d in decisions:
            merged += out[j:i + 1]
            j = i + 1
            w = batch[i]
            merged.append(self._event(w.stream, w.track, d, trigger_t=w.trigger_t, arrival=w.arrival))
        merged += out[j:]
        return merged

    def _event(self, st: _Stream, tr: _Track, d: Decision, trigger_t: float, arrival: float,
               forced: bool = False) -> Outgoing:  # fmt: skip
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
                for d in self.event_bank.close(tr.row, reason)]  # fmt: skip

    def close_stream(self, stream: str, reason: str, keep: bool = False, arrival: float | None = None) -> list[Outgoing]:
        """End every open action of ``stream``; drop its state (``keep`` keeps the stream
        record, e.g. after a reset, so ``n`` and the ordering continue)."""
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
        from their stream's frames that long; then give unused state memory back."""
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
        self.compact()
        return out

    def compact(self) -> None:
        """Shrink the state bank when most of it is unused (slots move; tracks follow),
        and hand the freed memory back to the system."""
        capacity = self.bank.capacity
        moves = self.bank.compact()
        moved = {old: self._slots.pop(old) for old in moves}
        for old, new in moves.items():
            moved[old].slot = new
            self._slots[new] = moved[old]
        if self.bank.capacity < capacity:
            release_free_memory()
