"""Causal smoothing: known values, offline == online bit for bit, delay, validation."""

from __future__ import annotations

import numpy as np
import pytest

from skelact.stream.events import EventConfig, EventTracker
from skelact.stream.smoothing import Smoother, SmoothingConfig, group_delay, smooth

CFGS = [
    SmoothingConfig("ema", alpha=0.4),
    SmoothingConfig("ema", alpha=1.0),
    SmoothingConfig("ema", alpha=0.07),
    SmoothingConfig("mean", window=1),
    SmoothingConfig("mean", window=5),
    SmoothingConfig("mean", window=16),
    SmoothingConfig("none"),
]


@pytest.mark.parametrize(
    "kwargs",
    [dict(kind="median"), dict(alpha=0.0), dict(alpha=1.5), dict(alpha=-0.1), dict(alpha=float("nan")),
     dict(alpha=True), dict(window=0), dict(window=2.5), dict(window=True), dict(alpha="0.4")],  # fmt: skip
)
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        SmoothingConfig(**kwargs)


def test_config_defaults_and_frozen():
    c = SmoothingConfig()
    assert (c.kind, c.alpha, c.window) == ("ema", 0.4, 5)
    with pytest.raises(AttributeError):
        c.alpha = 0.5  # type: ignore[misc]


def test_ema_known_values():
    sm = Smoother(SmoothingConfig("ema", alpha=0.5), 2)
    np.testing.assert_allclose(sm.step(np.array([1.0, 0.0])), [1.0, 0.0])  # starts at the first frame
    np.testing.assert_allclose(sm.step(np.array([0.0, 1.0])), [0.5, 0.5])
    np.testing.assert_allclose(sm.step(np.array([0.0, 1.0])), [0.25, 0.75])


def test_mean_known_values_and_warmup():
    sm = Smoother(SmoothingConfig("mean", window=3), 1)
    got = [float(sm.step(np.array([x]))[0]) for x in [3.0, 0.0, 0.0, 6.0, 3.0, 0.0]]
    # warm-up averages only the frames seen so far (no zero padding)
    np.testing.assert_allclose(got, [3.0, 1.5, 1.0, 2.0, 3.0, 3.0])


def test_none_is_identity_and_float64():
    x = np.random.default_rng(0).random((7, 3)).astype(np.float32)
    y = smooth(x, SmoothingConfig("none"))
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, x.astype(np.float64))


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: f"{c.kind}-{c.alpha}-{c.window}")
def test_offline_equals_online_bitwise(cfg):
    rng = np.random.default_rng(42)
    x = rng.random((300, 6)).astype(np.float32)
    x[rng.random(x.shape) < 0.02] = np.nan
    off = smooth(x, cfg)
    sm = Smoother(cfg, 6)
    on = np.stack([sm.step(row) for row in x])
    assert off.tobytes() == on.tobytes()
    # stepping in chunks (B, K) gives the same numbers again
    sm2 = Smoother(cfg, 6)
    chunks = np.concatenate([sm2.step(c) for c in np.array_split(x, [1, 17, 18, 120])])
    assert chunks.tobytes() == off.tobytes()


def test_offline_and_online_events_identical():
    """`detect` (offline) and `serve` (live) must take identical decisions."""
    rng = np.random.default_rng(7)
    k = 4
    raw = np.clip(np.cumsum(rng.normal(0, 0.08, (600, k)), axis=0) % 1.0, 0, 1)
    for cfg in CFGS:
        ev = EventConfig(on=0.55, off=0.35, min_frames=3, min_gap=3)
        smoothed = smooth(raw, cfg)
        tr_off = EventTracker(ev, k)
        off = [d for i, row in enumerate(smoothed) for d in tr_off.update(i, i / 30, row)] + tr_off.close("eos")
        sm, tr_on = Smoother(cfg, k), EventTracker(ev, k)
        on = [d for i, row in enumerate(raw) for d in tr_on.update(i, i / 30, sm.step(row))] + tr_on.close("eos")
        assert off == on
        assert len(off) > 0


def test_reset_forgets_state():
    cfg = SmoothingConfig("ema", alpha=0.3)
    sm = Smoother(cfg, 2)
    sm.step(np.array([1.0, 1.0]))
    sm.step(np.array([0.0, 0.5]))
    sm.reset()
    assert sm.frames_seen == 0
    np.testing.assert_array_equal(sm.step(np.array([0.2, 0.4])), [0.2, 0.4])
    msm = Smoother(SmoothingConfig("mean", window=4), 1)
    for v in [1.0, 1.0, 1.0]:
        msm.step(np.array([v]))
    msm.reset()
    assert float(msm.step(np.array([0.0]))[0]) == 0.0


@pytest.mark.parametrize("kind", ["ema", "mean", "none"])
def test_nan_counts_as_zero(kind):
    sm = Smoother(SmoothingConfig(kind, alpha=0.5, window=2), 2)
    sm.step(np.array([1.0, 1.0]))
    y = sm.step(np.array([np.nan, np.inf]))
    assert np.all(np.isfinite(y))
    y = sm.step(np.array([1.0, 1.0]))
    assert np.all(np.isfinite(y))  # state not poisoned


def test_shape_errors():
    sm = Smoother(SmoothingConfig(), 3)
    with pytest.raises(ValueError):
        sm.step(np.zeros(4))
    with pytest.raises(ValueError):
        sm.step(np.zeros((2, 4)))
    with pytest.raises(ValueError):
        smooth(np.zeros(5), SmoothingConfig())
    with pytest.raises(ValueError):
        Smoother(SmoothingConfig(), 0)
    assert smooth(np.zeros((0, 3)), SmoothingConfig()).shape == (0, 3)


def test_group_delay_values():
    assert group_delay(SmoothingConfig("ema", alpha=0.4)) == pytest.approx(1.5)
    assert group_delay(SmoothingConfig("ema", alpha=1.0)) == 0.0
    assert group_delay(SmoothingConfig("mean", window=5)) == 2.0
    assert group_delay(SmoothingConfig("mean", window=1)) == 0.0
    assert group_delay(SmoothingConfig("none")) == 0.0


@pytest.mark.parametrize("cfg", [SmoothingConfig("ema", alpha=0.25), SmoothingConfig("mean", window=7)])
def test_group_delay_is_the_lag_on_a_ramp(cfg):
    t = np.arange(400, dtype=np.float64)
    y = smooth(t[:, None], cfg)[:, 0]
    assert t[-1] - y[-1] == pytest.approx(group_delay(cfg), abs=1e-9)
