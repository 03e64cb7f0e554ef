import numpy as np
import pytest

from skelact.stream.layouts import CANONICAL, get_layout, layout_names, to_canonical


@pytest.mark.parametrize("name", layout_names())
def test_every_layout_maps_onto_canonical(name):
    lay = get_layout(name)
    assert len(lay.canonical) == CANONICAL.num_joints
    assert len(lay.parents) == lay.num_joints
    m = lay.canonical_matrix()
    # each canonical joint is an affine combination of source joints
    np.testing.assert_allclose(m.sum(1), 1.0)
    x = np.random.default_rng(0).normal(size=(5, 2, lay.num_joints, 3)).astype(np.float32)
    assert to_canonical(x, lay).shape == (5, 2, 20, 3)


def test_aliases_resolve_to_the_same_layout():
    assert get_layout("kinect20") is get_layout("kinect_v1_20")
    assert get_layout("kinect_v2_25") is get_layout("ntu25")


def test_unknown_layout_lists_known_names():
    with pytest.raises(KeyError, match="kinect20"):
        get_layout("openpose18")


def test_kinect_is_identity_and_ntu_picks_shared_joints():
    x = np.arange(20 * 3, dtype=np.float32).reshape(1, 1, 20, 3)
    np.testing.assert_array_equal(to_canonical(x, "kinect20"), x)
    y = np.arange(25 * 3, dtype=np.float32).reshape(1, 1, 25, 3)
    c = to_canonical(y, "ntu25")
    ntu = get_layout("ntu25")
    np.testing.assert_array_equal(c[0, 0, CANONICAL.index("shoulder_center")], y[0, 0, ntu.index("SpineShoulder")])
    np.testing.assert_array_equal(c[0, 0, CANONICAL.index("l_hand")], y[0, 0, ntu.index("HandLeft")])


def test_mediapipe_axes_and_synthesised_joints():
    mp = get_layout("mediapipe33")
    x = np.zeros((1, 1, 33, 3), dtype=np.float32)
    x[0, 0, mp.index("left_hip")] = [0.1, 0.2, 0.0]
    x[0, 0, mp.index("right_hip")] = [-0.1, 0.2, 0.0]
    x[0, 0, mp.index("left_shoulder")] = [0.2, -0.3, 0.1]
    c = to_canonical(x, mp)[0, 0]
    # pelvis = mid-hips, with y flipped to up and x flipped to the camera's left
    np.testing.assert_allclose(c[CANONICAL.index("pelvis")], [0.0, -0.2, 0.0])
    np.testing.assert_allclose(c[CANONICAL.index("l_shoulder")], [-0.2, 0.3, 0.1])
    # subject's left hip stays "left": same sign relation as in Kinect data
    assert c[CANONICAL.index("l_hip"), 0] < c[CANONICAL.index("r_hip"), 0]


def test_nan_propagates_only_to_joints_built_from_missing_ones():
    mp = get_layout("mediapipe33")
    x = np.ones((1, 1, 33, 3), dtype=np.float32)
    x[0, 0, mp.index("left_ear")] = np.nan
    c = to_canonical(x, mp)[0, 0]
    assert np.isnan(c[CANONICAL.index("head")]).all()
    assert np.isfinite(np.delete(c, CANONICAL.index("head"), axis=0)).all()


def test_coco_hands_are_extrapolated_past_the_wrist():
    co = get_layout("coco17")
    x = np.zeros((1, 1, 17, 3), dtype=np.float32)
    x[0, 0, co.index("left_elbow")] = [0, 0, 0]
    x[0, 0, co.index("left_wrist")] = [0, -0.4, 0]  # image y down: wrist below elbow
    c = to_canonical(x, co)[0, 0]
    np.testing.assert_allclose(c[CANONICAL.index("l_hand")], [0, 0.5, 0], atol=1e-6)


def test_bad_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="kinect_v1_20"):
        to_canonical(np.zeros((3, 1, 25, 3)), "kinect20")
