"""Per-track model state, pooled: one array per state tensor with a slot per track.

Both model modes keep their per-track state in a bank with one interface —
``allocate`` / ``release`` / ``step`` / ``compact`` — so the detection core has no
mode branch:

* ``StateBank`` (step graphs) holds the state tensors the metadata declares
  (``StateSpec``). ``carry`` state is fed as is and replaced by the graph's output;
  ``ring`` state is a ring of the last ``history`` columns whose taps at the spec's
  ``offsets`` are gathered (one ``take`` for the whole batch, into a reused buffer),
  and the graph's output column overwrites the oldest entry.
* ``WindowBank`` (window graphs) holds a ring of the last ``window`` normalised frames
  per track and recomputes the window each step.

``step(x, slots)`` runs one frame for each of ``n`` distinct slots and returns ``(n,
K+1)`` probabilities. A bank with ``delay`` = L > 0 (window graphs with lookahead)
returns, for a slot's i-th frame, the probabilities of its (i - L)-th frame; the first
L rows of a slot are meaningless and the caller skips them.

A fresh slot is all zeros, which is the zero padding the window graph applies on the
left, so a track's first step equals the window graph's first frame.

Memory: a bank grows by doubling up to ``max_slots`` (then ``allocate`` raises
``BankFull``) and gives memory back through ``compact``, which moves live slots down
and shrinks the arrays once at most a quarter of the capacity is in use.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import heapq

import numpy as np

from .engine import Engine
from .metadata import ModelError

__all__ = ["BankFull", "StateBank", "WindowBank", "make_bank", "release_free_memory"]


def _malloc_trim():
    """glibc's ``malloc_trim`` (None elsewhere): hands freed heap pages back to the system."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Return freed heap memory to the system where the C library allows it (glibc keeps
    freed small blocks in its arenas otherwise, so RSS would not come down)."""
    if _TRIM is not None:
        _TRIM(0)


class BankFull(RuntimeError):
    """``allocate`` on a bank that holds ``max_slots`` tracks."""


class _SlotPool:
    """Slots over a set of arrays whose first axis is the slot. Not thread-safe."""

    min_capacity = 16

    def __init__(self, capacity: int, max_slots: int | None) -> None:
        self.max_slots = None if max_slots is None else max(1, int(max_slots))
        self._free: list[int] = []  # a heap: the lowest free slot is taken first
        self.capacity = 0
        self._resize(max(1, int(capacity)) if self.max_slots is None else min(max(1, int(capacity)), self.max_slots))

    # subclasses: the per-slot arrays (first axis = slot) and their reallocation
    def _arrays(self) -> list[np.ndarray]:
        raise NotImplementedError

    def _set_arrays(self, arrays: list[np.ndarray]) -> None:
        raise NotImplementedError

    def _resize(self, capacity: int) -> None:
        old = self.capacity
        keep = min(old, capacity)
        new = []
        for a in self._arrays():
            b = np.zeros((capacity, *a.shape[1:]), a.dtype)
            b[:keep] = a[:keep]
            new.append(b)
        self._set_arrays(new)
        if capacity > old:
            self._free.extend(range(old, capacity))
        else:
            self._free = [s for s in self._free if s < capacity]
        heapq.heapify(self._free)
        self.capacity = capacity

    @property
    def in_use(self) -> int:
        return self.capacity - len(self._free)

    @property
    def bytes_per_track(self) -> int:
        return sum(a[0].nbytes for a in self._arrays() if a.ndim > 1)

    @property
    def nbytes(self) -> int:
        """Bytes held by the bank's arrays now."""
        return sum(a.nbytes for a in self._arrays())

    def allocate(self) -> int:
        """A zeroed slot for a new track; ``BankFull`` at ``max_slots``."""
        if not self._free:
            if self.max_slots is not None and self.capacity >= self.max_slots:
                raise BankFull(f"state for {self.capacity} tracks is the limit")
            grown = 2 * self.capacity if self.max_slots is None else min(2 * self.capacity, self.max_slots)
            self._resize(grown)
        slot = heapq.heappop(self._free)
        for a in self._arrays():
            a[slot] = 0
        return slot

    def release(self, slot: int) -> None:
        if not 0 <= slot < self.capacity or slot in self._free:
            raise ValueError(f"slot {slot} is not allocated")
        heapq.heappush(self._free, slot)

    def compact(self) -> dict[int, int]:
        """Shrink when at most a quarter of the capacity is in use: live slots at or
        above the new capacity move to free slots below it. Returns {old slot: new slot}
        for the moved ones (the owner must follow them); the old arrays are freed."""
        used = self.in_use
        if self.capacity <= self.min_capacity or used > self.capacity // 4:
            return {}
        target = max(self.min_capacity, 1 << max(0, (2 * used - 1).bit_length()))
        if target >= self.capacity:
            return {}
        free = set(self._free)
        live_high = [s for s in range(target, self.capacity) if s not in free]
        low_free = sorted(s for s in free if s < target)
        moves = dict(zip(live_high, low_free))
        for a in self._arrays():
            for old, new in moves.items():
                a[new] = a[old]
        self._free = low_free[len(moves):]
        self._resize(target)
        return moves


class StateBank(_SlotPool):
    """Step-graph state of up to ``max_slots`` tracks (None = unbounded)."""

    def __init__(self, engine: Engine, capacity: int = 16, max_slots: int | None = None) -> None:
        if engine.meta.mode != "step":
            raise ModelError(f"{engine.path}: a {engine.meta.mode}-mode model has no step state")
        self.engine = engine
        self.specs = engine.meta.state
        self.delay = 0
        self._dtype = engine.dtype
        self._offsets = [np.asarray(s.offsets, dtype=np.intp) for s in self.specs]
        self._width = [int(np.prod(s.column)) for s in self.specs]
        self._rows = [s.history if s.kind == "ring" else 1 for s in self.specs]
        self._data: list[np.ndarray] = [np.zeros((0, r, w), self._dtype) for r, w in zip(self._rows, self._width)]
        self._pos = np.zeros(0, dtype=np.intp)
        self._taps: list[np.ndarray] = []
        self._flat: list[np.ndarray] = []
        # Every state input as columns of one index table: a ring feeds one column per tap
        # (offset, its ring's rows), carry state one column (offset 0, one row). A batch's
        # gather indices for all inputs are then computed in one pass.
        offs = [o if s.kind == "ring" else np.zeros(1, np.intp) for s, o in zip(self.specs, self._offsets)]
        self._col_offs = np.concatenate(offs).astype(np.intp)
        self._col_rows = np.concatenate([np.full(len(o), r, np.intp) for o, r in zip(offs, self._rows)])
        ends = np.cumsum([len(o) for o in offs]).tolist()
        self._cols = [slice(a, b) for a, b in zip([0, *ends[:-1]], ends)]
        self._layer_rows = np.asarray(self._rows, dtype=np.intp)
        super().__init__(capacity, max_slots)

    def _arrays(self) -> list[np.ndarray]:
        return [*self._data, self._pos]

    def _set_arrays(self, arrays: list[np.ndarray]) -> None:
        *self._data, self._pos = arrays
        # scratch for the gathered taps of one batch (at most one row per slot)
        n = arrays[-1].shape[0]
        self._taps = [np.zeros((n * (c.stop - c.start), w), self._dtype) for c, w in zip(self._cols, self._width)]
        # (slots * rows, width) views of the state arrays, the tables that taps are taken from
        self._flat = [d.reshape(n * r, w) for d, r, w in zip(self._data, self._rows, self._width)]

    def step(self, x: np.ndarray, slots) -> np.ndarray:
        """x (n, M, V, C): one frame for each of ``n`` distinct slots -> (n, K+1) probabilities."""
        slots = np.asarray(slots, dtype=np.intp)
        n = len(slots)
        pos = self._pos[slots]
        # rows to read (every tap of every input) and to write (this frame's column), all inputs at once
        taps = slots[:, None] * self._col_rows + (pos[:, None] - self._col_offs) % self._col_rows
        writes = slots[:, None] * self._layer_rows + pos[:, None] % self._layer_rows
        feeds = []
        for spec, flat, cols, buf in zip(self.specs, self._flat, self._cols, self._taps):
            k = cols.stop - cols.start
            out = buf[: n * k].reshape(n, k, -1)
            # mode "clip": the indices are in range, and the default "raise" goes through a temporary copy
            np.take(flat, taps[:, cols], axis=0, out=out, mode="clip")
            feeds.append(out.reshape(n, *spec.shape))
        probs, outs = self.engine.run_step(x, feeds)
        for k, (flat, out) in enumerate(zip(self._flat, outs)):
            flat[writes[:, k]] = out.reshape(n, -1)
        self._pos[slots] = pos + 1
        return probs


class WindowBank(_SlotPool):
    """Window-graph input history: the last ``window`` model frames of each track.

    Until a track has ``window`` frames only its real frames are fed (T < window): the
    graph's own left zero padding then matches the step graph's zero state. The score
    read is that of frame ``T - 1 - lookahead``, so ``delay`` = lookahead.
    """

    def __init__(self, engine: Engine, capacity: int = 16, max_slots: int | None = None) -> None:
        if engine.meta.mode != "window":
            raise ModelError(f"{engine.path}: a {engine.meta.mode}-mode model has no window graph")
        self.engine = engine
        self.window = engine.meta.window
        self.delay = engine.meta.lookahead
        self._frames = np.zeros((0, self.window, *engine.input_shape_tail), np.float32)
        self._count = np.zeros(0, dtype=np.int64)
        super().__init__(capacity, max_slots)

    def _arrays(self) -> list[np.ndarray]:
        return [self._frames, self._count]

    def _set_arrays(self, arrays: list[np.ndarray]) -> None:
        self._frames, self._count = arrays

    def step(self, x: np.ndarray, slots) -> np.ndarray:
        slots = np.asarray(slots, dtype=np.intp)
        w = self.window
        self._frames[slots, self._count[slots] % w] = x
        self._count[slots] += 1
        n_in = np.minimum(self._count[slots], w)
        out: np.ndarray | None = None
        for n in np.unique(n_in):
            idx = np.flatnonzero(n_in == n)
            if n <= self.delay:
                continue
            s = slots[idx]
            order = (self._count[s, None] - n + np.arange(n)[None, :]) % w  # oldest first
            probs = self.engine.run_window(self._frames[s[:, None], order])
            if out is None:
                out = np.zeros((len(slots), probs.shape[-1]), np.float32)
            out[idx] = probs[:, n - 1 - self.delay]
        if out is None:
            out = np.zeros((len(slots), self.engine.meta.num_classes + 1), np.float32)
        return out


def make_bank(engine: Engine, max_slots: int | None = None) -> StateBank | WindowBank:
    """The bank that fits the model's mode."""
    cls = StateBank if engine.meta.mode == "step" else WindowBank
    return cls(engine, max_slots=max_slots)
