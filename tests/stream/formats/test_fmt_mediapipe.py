"""MediaPipe .pose.npz reader: files written here; the shared video poses when ../shared exists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skelact.stream.formats import load_dataset
from skelact.stream.formats.mediapipe_npz import read_mediapipe_pose
from skelact.stream.formats.registry import sniff_format
from skelact.stream.layouts import MEDIAPIPE33, to_canonical
from skelact.stream.sequence import DataError

SHARED_VIDEO = Path(__file__).resolve().parents[3] / ".." / "shared" / "video"


def write_pose(path: Path, T: int = 5, fps: float = 25.0, undetected=(1,),
               override: dict | None = None) -> dict:  # fmt: skip
    rng = np.random.default_rng(0)
    world = rng.uniform(-0.8, 0.8, size=(T, 33, 3)).astype(np.float32)
    lms = rng.uniform(0, 1, size=(T, 33, 4)).astype(np.float32)
    detected = np.ones(T, dtype=bool)
    detected[list(undetected)] = False
    world[~detected] = np.nan
    lms[~detected] = np.nan
    arrays = dict(landmarks=lms, world=world, t=np.arange(T) / fps + 0.5, fps=np.float64(fps),
                  detected=detected, width=np.int32(320), height=np.int32(240),
                  source=np.str_("clip.mp4"), mediapipe_version=np.str_("0.10.21"))  # fmt: skip
    arrays.update(override or {})
    np.savez_compressed(path, **{k: v for k, v in arrays.items() if v is not None})
    return arrays


def test_round_trip_world_visibility_time_and_canonical(tmp_path):
    a = write_pose(tmp_path / "clip.pose.npz")
    s = read_mediapipe_pose(tmp_path / "clip.pose.npz")
    assert s.id == "clip" and s.layout == "mediapipe33" and s.joints.shape == (5, 1, 33, 3)
    np.testing.assert_array_equal(s.joints[0, 0], a["world"][0])
    assert np.isnan(s.joints[1]).all()
    np.testing.assert_allclose(s.t, np.arange(5) / 25.0)  # from the file, shifted to start at 0
    assert s.fps == 25.0 and s.labels.kind == "none"
    np.testing.assert_array_equal(s.meta["visibility"][:, 0][[0, 2]], a["landmarks"][[0, 2], :, 3])
    assert s.meta["visibility"].shape == (5, 1, 33) and np.isnan(s.meta["visibility"][1]).all()
    assert s.meta["source"] == "clip.mp4" and s.meta["width"] == 320
    canon = to_canonical(s.joints, s.layout)
    lh, rh = MEDIAPIPE33.index("left_hip"), MEDIAPIPE33.index("right_hip")
    pelvis = (a["world"][0, lh] + a["world"][0, rh]) / 2 * np.array([-1, -1, 1])  # y down -> y up
    np.testing.assert_allclose(canon[0, 0, 0], pelvis, atol=1e-6)


def test_undetected_frames_are_nan_even_if_values_present(tmp_path):
    a = write_pose(tmp_path / "x.pose.npz", undetected=())
    det = a["detected"].copy()
    det[3] = False
    np.savez(tmp_path / "y.pose.npz", **{**a, "detected": det})
    s = read_mediapipe_pose(tmp_path / "y.pose.npz")
    assert np.isnan(s.joints[3]).all() and np.isfinite(s.joints[2]).all()


def test_folder_and_sniffing(tmp_path):
    write_pose(tmp_path / "a.pose.npz")
    write_pose(tmp_path / "b.pose.npz", T=3, fps=10.0)
    assert sniff_format(tmp_path) == "mediapipe"
    ds = load_dataset(tmp_path)
    assert sorted(ds.sequences) == ["a", "b"] and ds.label_kind == "none" and ds.classes == {}
    assert len(load_dataset(tmp_path / "a.pose.npz")) == 1


@pytest.mark.parametrize(
    "override, match",
    [
        ({"world": None}, r"bad\.pose\.npz: not a MediaPipe pose npz: missing key\(s\) world"),
        ({"world": np.zeros((5, 25, 3), np.float32)}, r"bad\.pose\.npz: 'world' has shape"),
        ({"t": np.zeros(4)}, r"bad\.pose\.npz: 't' has shape"),
        ({"fps": np.float64(0)}, r"bad\.pose\.npz: fps must be positive"),
        ({"t": np.array([0, 1, 0.5, 2, 3.0])}, r"bad\.pose\.npz: 't' must be finite and non-decreasing"),
    ],
)
def test_bad_contents(tmp_path, override, match):
    write_pose(tmp_path / "bad.pose.npz", override=override)
    with pytest.raises(DataError, match=match):
        load_dataset(tmp_path / "bad.pose.npz")


@pytest.mark.parametrize("cut", ["truncated", "garbage", "pickle"])
def test_corrupt_archives(tmp_path, cut):
    f = tmp_path / "bad.pose.npz"
    write_pose(f)
    data = f.read_bytes()
    if cut == "truncated":
        f.write_bytes(data[: len(data) // 2])
    elif cut == "garbage":
        f.write_bytes(b"\x00\xffnot a zip" * 100)
    else:
        np.savez(f, world=np.array([object()], dtype=object), landmarks=np.zeros(1), t=np.zeros(1), fps=1.0)
    with pytest.raises(DataError, match=r"bad\.pose\.npz: "):
        load_dataset(f)


@pytest.mark.shared
def test_shared_video_poses():
    if not SHARED_VIDEO.resolve().is_dir():
        pytest.skip(f"needs the shared videos at {SHARED_VIDEO.resolve()} (not present)")
    ds = load_dataset(SHARED_VIDEO)
    undetected = {s.id: int(np.isnan(s.joints).all(axis=(1, 2, 3)).sum()) for s in ds}
    # numbers from ../shared/video/README.md
    assert undetected == {"rar_exercise": 7, "mmaction2_demo_armwrestling": 57,
                          "mmaction2_basketball": 17, "mmaction2_test_makeup": 0,
                          "mmaction2_test_poolcleaning": 65}  # fmt: skip
    assert ds["rar_exercise"].fps == 10.0 and ds["rar_exercise"].num_frames == 393
