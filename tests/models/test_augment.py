"""Training augmentation on normalised crops."""

from __future__ import annotations

import numpy as np

from skelact.models.augment import AugmentConfig, augment


def _crop(t=60):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(t, 1, 20, 6)).astype(np.float32)
    x[5, 0, 3] = 0.0  # a missing joint stays missing
    return x


def test_rotation_and_scale_only_keep_heights_and_horizontal_radius():
    x = _crop()
    cfg = AugmentConfig(scale=0.0, fps_jitter=0.0, noise=0.0, dropout=0.0)
    y, src = augment(x, np.random.default_rng(1), cfg)
    assert y.shape == x.shape and src.tolist() == list(range(len(x)))
    np.testing.assert_allclose(y[..., 1], x[..., 1], atol=1e-5)  # y (up) untouched by a vertical-axis turn
    np.testing.assert_allclose(np.hypot(y[..., 0], y[..., 2]), np.hypot(x[..., 0], x[..., 2]), atol=1e-5)
    assert (y[5, 0, 3] == 0).all()


def test_deterministic_and_frame_rate_jitter_maps_frames():
    x = _crop()
    a, sa = augment(x, np.random.default_rng([3, 1]))
    b, sb = augment(x, np.random.default_rng([3, 1]))
    assert np.array_equal(a, b) and np.array_equal(sa, sb)
    cfg = AugmentConfig(view_deg=0, scale=0, noise=0, dropout=0, fps_jitter=0.5)
    for seed in range(10):
        y, src = augment(x, np.random.default_rng(seed), cfg)
        assert len(y) == len(src) and src[0] == 0 and (np.diff(src) >= 0).all() and src[-1] <= len(x) - 1


def test_dropout_and_second_person():
    x = np.ones((40, 2, 20, 6), np.float32)
    y, _ = augment(x, np.random.default_rng(0), AugmentConfig(dropout=0.5, drop_person=1.0, fps_jitter=0))
    assert (y[:, 1] == 0).all()
    assert 0.3 < (y[:, 0, :, 0] == 0).mean() < 0.7


def test_no_change_means_no_change():
    """Every part off: the crop comes back as it was (the pelvis, at the origin but
    moving, keeps its velocity)."""
    x = _crop()
    x[:, 0, 0, :3] = 0.0  # the pelvis: position 0 (it is the centre), velocity not
    off = AugmentConfig(view_deg=0, scale=0, fps_jitter=0, noise=0, dropout=0, drop_person=0)
    y, src = augment(x, np.random.default_rng(0), off)
    assert np.array_equal(y, x) and src.tolist() == list(range(len(x)))
