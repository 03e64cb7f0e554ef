"""StateBank: ring taps and carry state per slot, over a hand-built ONNX graph."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_fixtures import tap_echo

from skelact.stream.engine import Engine, read_meta
from skelact.stream.metadata import ModelError, StateSpec
from skelact.stream.state import StateBank


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    return Engine(tap_echo(tmp_path_factory.mktemp("state") / "echo.onnx"), provider="cpu")


def _frames(values):
    x = np.zeros((len(values), 1, 20, 6), np.float32)
    x[:, 0, 0, 0] = values
    return x


def test_ring_taps_and_carry_follow_each_track(echo):
    bank = StateBank(echo, capacity=1)
    a = bank.allocate()
    seen_a = []
    for t in range(5):  # track a alone for 5 frames: values 1..5
        seen_a.append(bank.step(_frames([t + 1]), [a])[0])
    # tap 3 back, tap 1 back (zeros before the first frame), steps so far
    assert np.array(seen_a).tolist() == [[0, 0, 0], [0, 1, 1], [0, 2, 2], [1, 3, 3], [2, 4, 4]]
    b = bank.allocate()  # grows past capacity 1; a's history survives
    assert bank.capacity == 2 and bank.in_use == 2
    p = bank.step(_frames([6, 101]), [a, b])
    assert p.tolist() == [[3, 5, 5], [0, 0, 0]]
    p = bank.step(_frames([102, 7]), [b, a])  # any slot order in a batch
    assert p.tolist() == [[0, 101, 1], [4, 6, 6]]


def test_released_slot_comes_back_zeroed(echo):
    bank = StateBank(echo, capacity=2)
    a = bank.allocate()
    for v in (1, 2, 3, 4):
        bank.step(_frames([v]), [a])
    bank.release(a)
    with pytest.raises(ValueError):
        bank.release(a)
    c = bank.allocate()
    assert c == a
    assert bank.step(_frames([9]), [c]).tolist() == [[0, 0, 0]]
    assert bank.bytes_per_track == (3 * 3 + 2) * 4


def test_metadata_round_trip_and_validation(echo):
    meta = read_meta(echo.path)
    ring, carry = meta.state
    assert (ring.kind, ring.offsets, ring.history, ring.column) == ("ring", (3, 1), 3, (3,))
    assert (carry.kind, carry.history, carry.column) == ("carry", 0, (2,))
    for bad in [dict(offsets=(1, 3)), dict(offsets=()), dict(offsets=(2, 2)), dict(offsets=(0,))]:
        with pytest.raises(ModelError, match="offsets"):
            StateSpec("s", (len(bad["offsets"]) or 1, 4), "ring", bad["offsets"])
    with pytest.raises(ModelError, match="taps"):
        StateSpec("s", (3, 4), "ring", (2, 1))
    with pytest.raises(ModelError, match="kind"):
        StateSpec("s", (4,), "stack")
    with pytest.raises(ModelError, match="StateBank"):
        echo.init_state(1)


def test_batched_steps_equal_one_track_at_a_time(echo):
    """Random batches (any slot order, growth past capacity, compaction) give each track
    what stepping it alone gives: the one-pass gather indexes every slot and tap right."""
    rng = np.random.default_rng(3)
    batched, alone = StateBank(echo, capacity=1), StateBank(echo, capacity=1)
    live: list[int] = []
    for it in range(120):
        if len(live) < 2 or rng.random() < 0.15:
            s = batched.allocate()
            assert alone.allocate() == s
            live.append(s)
        if len(live) > 2 and rng.random() < 0.1:
            s = live.pop(int(rng.integers(len(live))))
            batched.release(s)
            alone.release(s)
        if it % 40 == 39:
            moves = batched.compact()
            assert alone.compact() == moves
            live = [moves.get(s, s) for s in live]
        slots = [int(s) for s in rng.permutation(live)[: int(rng.integers(1, len(live) + 1))]]
        values = rng.integers(1, 1000, len(slots)).astype(np.float32)
        got = batched.step(_frames(values), slots)
        want = np.concatenate([alone.step(_frames([v]), [s]) for v, s in zip(values, slots)])
        np.testing.assert_array_equal(got, want)
