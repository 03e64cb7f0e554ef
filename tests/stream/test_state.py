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
