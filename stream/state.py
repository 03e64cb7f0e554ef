"""Per-track step state, pooled: one array per state tensor with a slot per track.

A step graph declares its state tensors in the metadata (``StateSpec``). For each one
the bank holds a ``(capacity, ...)`` array; a track owns a slot from ``allocate`` until
``release``. ``step`` runs one frame for a batch of slots in one graph call:

* ``carry`` state: the slot's tensor is fed as is and replaced by the graph's output;
* ``ring`` state: the slot is a ring of the last ``history`` columns; the taps at the
  spec's ``offsets`` are gathered (one ``take`` for the whole batch, into a reused
  buffer), and the graph's output column overwrites the oldest entry.

A fresh slot is all zeros, which is the zero padding the window graph applies on the
left, so a track's first step equals the window graph's first frame.
"""

from __future__ import annotations

import numpy as np

from .engine import Engine
from .metadata import ModelError

__all__ = ["StateBank"]


class StateBank:
    """Step state of up to ``capacity`` tracks (grows by doubling). Not thread-safe."""

    def __init__(self, engine: Engine, capacity: int = 16) -> None:
        if engine.meta.mode != "step":
            raise ModelError(f"{engine.path}: a {engine.meta.mode}-mode model has no step state")
        self.engine = engine
        self.specs = engine.meta.state
        self._dtype = engine.dtype
        self._offsets = [np.asarray(s.offsets, dtype=np.intp) for s in self.specs]
        self._width = [int(np.prod(s.column)) for s in self.specs]
        self._rows = [s.history if s.kind == "ring" else 1 for s in self.specs]
        self._data: list[np.ndarray] = [np.zeros((0, r, w), self._dtype) for r, w in zip(self._rows, self._width)]
        self._taps: list[np.ndarray] = [np.zeros((0, w), self._dtype) for w in self._width]
        self._pos = np.zeros(0, dtype=np.intp)
        self._free: list[int] = []
        self.capacity = 0
        self._grow(max(1, int(capacity)))

    def _grow(self, capacity: int) -> None:
        old = self.capacity
        for i, d in enumerate(self._data):
            new = np.zeros((capacity, *d.shape[1:]), self._dtype)
            new[:old] = d
            self._data[i] = new
            if self.specs[i].kind == "ring":
                self._taps[i] = np.zeros((capacity * len(self._offsets[i]), self._width[i]), self._dtype)
        self._pos = np.concatenate([self._pos, np.zeros(capacity - old, dtype=np.intp)])
        self._free.extend(range(capacity - 1, old - 1, -1))
        self.capacity = capacity

    @property
    def in_use(self) -> int:
        return self.capacity - len(self._free)

    @property
    def bytes_per_track(self) -> int:
        return sum(d[0].nbytes for d in self._data)

    def allocate(self) -> int:
        """A zeroed slot for a new track."""
        if not self._free:
            self._grow(2 * self.capacity)
        slot = self._free.pop()
        for d in self._data:
            d[slot] = 0
        self._pos[slot] = 0
        return slot

    def release(self, slot: int) -> None:
        if not 0 <= slot < self.capacity or slot in self._free:
            raise ValueError(f"slot {slot} is not allocated")
        self._free.append(slot)

    def step(self, x: np.ndarray, slots) -> np.ndarray:
        """x (n, M, V, C): one frame for each of ``n`` distinct slots -> (n, K+1) probabilities."""
        slots = np.asarray(slots, dtype=np.intp)
        n = len(slots)
        pos = self._pos[slots]
        feeds, writes = [], []
        for spec, data, offs, taps, rows in zip(self.specs, self._data, self._offsets, self._taps, self._rows):
            flat = data.reshape(self.capacity * rows, -1)
            if spec.kind == "ring":
                idx = (slots[:, None] * rows + (pos[:, None] - offs[None, :]) % rows).ravel()
                buf = taps[: idx.size]
                np.take(flat, idx, axis=0, out=buf)
                feeds.append(buf.reshape(n, *spec.shape))
                writes.append(slots * rows + pos % rows)
            else:
                feeds.append(flat[slots].reshape(n, *spec.shape))
                writes.append(slots)
        probs, outs = self.engine.run_step(x, feeds)
        for data, rows, w, out in zip(self._data, self._rows, writes, outs):
            data.reshape(self.capacity * rows, -1)[w] = out.reshape(n, -1)
        self._pos[slots] = pos + 1
        return probs
