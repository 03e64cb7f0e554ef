import numpy as np
import pytest

from skelact.stream.layouts import CANONICAL
from skelact.stream.normalize import NormConfig, canonicalize, normalize
from skelact.stream.synthetic import make_sequence


def test_centre_scale_and_velocity_units():
    seq = make_sequence("s", num_frames=50, seed=3)
    cfg = NormConfig()
    x = normalize(canonicalize(seq.joints, seq.layout, cfg), cfg)
    assert x.shape == (50, 1, 20, 6) and x.dtype == np.float32
    # pelvis at the origin, torso length 1
    np.testing.assert_allclose(x[:, 0, CANONICAL.index("pelvis"), :3], 0, atol=1e-6)
    torso = np.linalg.norm(x[:, 0, CANONICAL.index("shoulder_center"), :3], axis=-1)
    np.testing.assert_allclose(torso, 1.0, atol=1e-5)
    assert np.all(x[0, ..., 3:] == 0)  # no previous frame: zero velocity


def test_per_frame_equals_whole_sequence_bitwise():
    seq = make_sequence("s", num_frames=80, seed=4)
    cfg = NormConfig(align=True)
    c = canonicalize(seq.joints, seq.layout, cfg)
    whole = normalize(c, cfg)
    parts = [normalize(c[i : i + 1], cfg, None if i == 0 else c[i - 1]) for i in range(len(c))]
    assert np.array_equal(whole, np.concatenate(parts))


def test_missing_joints_and_persons_become_zero_and_confidence_masks():
    seq = make_sequence("s", num_frames=10, seed=5)
    j = np.concatenate([seq.joints, np.ones((10, 1, 20, 1), np.float32)], axis=-1)
    j[3, 0, 7, 3] = 0.1  # low confidence hand
    j[4, 0] = np.nan  # person absent
    cfg = NormConfig(persons=2)
    c = canonicalize(j, "kinect20", cfg)
    assert c.shape == (10, 2, 20, 3) and np.isnan(c[:, 1]).all() and np.isnan(c[3, 0, 7]).all()
    x = normalize(c, cfg)
    assert np.isfinite(x).all() and np.all(x[4] == 0) and np.all(x[:, 1] == 0)


def test_alignment_turns_hips_onto_x():
    seq = make_sequence("s", num_frames=5, seed=6)
    rot = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], np.float32)  # 90 deg about y
    turned = seq.joints @ rot.T
    cfg = NormConfig(align=True, velocity=False)
    a = normalize(canonicalize(seq.joints, "kinect20", cfg), cfg)
    b = normalize(canonicalize(turned, "kinect20", cfg), cfg)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_config_validation_and_roundtrip():
    with pytest.raises(ValueError):
        NormConfig(persons=0)
    cfg = NormConfig(persons=2, velocity=False)
    assert NormConfig.from_dict(cfg.to_dict()) == cfg and cfg.channels == 3
