import numpy as np

from skelact.stream.resample import Resampler, resample


def test_identity_when_input_is_on_the_grid():
    x = np.random.default_rng(0).normal(size=(40, 2, 3)).astype(np.float32)
    t = np.arange(40) / 30.0
    y, g, src = resample(x, t, 30.0)
    assert np.array_equal(y, x) and np.array_equal(src, np.arange(40))


def test_irregular_input_interpolates_linearly():
    t = np.array([0.0, 0.1, 0.3])
    x = np.array([[0.0], [1.0], [3.0]], np.float32)
    y, g, src = resample(x, t, 20.0)
    np.testing.assert_allclose(g, np.arange(7) / 20.0)
    np.testing.assert_allclose(y[:, 0], [0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0], atol=1e-6)
    assert src.tolist() == [0, 1, 1, 1, 2, 2, 2]


def test_long_gap_gives_absent_frames_and_nan_takes_nearest():
    t = np.array([0.0, 0.1, 2.0])
    x = np.array([[0.0, 0.0], [1.0, np.nan], [5.0, 5.0]], np.float32)
    y, g, _ = resample(x, t, 10.0, interp_gap_s=0.5)
    assert len(y) == 21 and np.isnan(y[2:20]).all() and np.array_equal(y[20], x[2])
    y2, _, _ = resample(x[:2], np.array([0.0, 0.1]), 40.0)
    assert y2[1, 1] == 0.0 and np.isnan(y2[3, 1])  # nearer frame's value for the NaN joint


def test_streaming_matches_offline_and_bounds_bursts():
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(0.01, 0.08, 200))
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y, _, _ = resample(x, t, 30.0)
    rs = Resampler(30.0)
    live = [mf.data for i in range(200) for mf in rs.push(float(t[i]), i, x[i])]
    assert np.array_equal(np.stack(live), y)
    rs = Resampler(30.0, max_fill=10)
    rs.push(0.0, 0, x[0])
    burst = rs.push(100.0, 1, x[1])
    assert len(burst) == 10
    assert rs.push(100.01, 2, x[2]) == []  # the grid jumped past the gap
