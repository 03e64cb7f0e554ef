import numpy as np

from skelact.stream.synthetic import make_dataset


def test_deterministic_and_labelled():
    a, b = make_dataset(4, 300, seed=2), make_dataset(4, 300, seed=2)
    for s, u in zip(a, b):
        assert np.array_equal(s.joints, u.joints) and s.labels == u.labels
        assert s.labels.kind == "interval" and len(s.labels.intervals) >= 2
        assert np.isfinite(s.joints).all()
    assert len(a.split("test")) == 1
    c = make_dataset(4, 300, seed=3)
    assert not np.array_equal(next(iter(a)).joints, next(iter(c)).joints)


def test_actions_move_the_body():
    ds = make_dataset(1, 600, seed=0)
    s = next(iter(ds))
    iv = s.labels.intervals[0]
    mid = (iv.start + iv.end) // 2
    moved = np.abs(s.joints[mid] - s.joints[max(iv.start - 5, 0)]).max()
    assert moved > 0.1
