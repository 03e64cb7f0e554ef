"""NTU RGB+D .skeleton reader: no sample exists anywhere here, so files are written in the format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skelact.stream.formats import load_dataset
from skelact.stream.formats.ntu_skeleton import NTU_CLASSES, parse_ntu_name, read_ntu_skeleton
from skelact.stream.formats.registry import sniff_format
from skelact.stream.layouts import NTU25, to_canonical
from skelact.stream.sequence import DataError

BODY_INFO = "{bid} 0 1 1 1 1 0 0.1 -0.2 2"


def write_ntu(path: Path, frames: list[dict[str, np.ndarray]]) -> Path:
    """frames: per frame {bodyID: (25, 3) xyz}; writes the official text layout."""
    out = [str(len(frames))]
    for bodies in frames:
        out.append(str(len(bodies)))
        for bid, xyz in bodies.items():
            out.append(BODY_INFO.format(bid=bid))
            out.append("25")
            for j, (x, y, z) in enumerate(xyz):
                state = 2 if j != 7 else 1
                out.append(f"{x:.6f} {y:.6f} {z:.6f} 250.1 200.2 960.5 540.5 0.1 0.2 0.3 0.9 {state}")
    path.write_text("\r\n".join(out) + "\r\n")  # the originals use CRLF
    return path


def _body(seed: int, scale: float = 0.01, T: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = np.round(rng.uniform(-1, 3, size=(25, 3)), 6)
    return [np.round(base + scale * rng.standard_normal((25, 3)), 6) for _ in range(T)]


def test_parse_name():
    assert parse_ntu_name("S001C002P003R002A013.skeleton") == {
        "setup": 1, "camera": 2, "performer": 3, "replication": 2, "action": 13}  # fmt: skip
    assert parse_ntu_name("foo.skeleton") is None
    assert len(NTU_CLASSES) == 120 and NTU_CLASSES[58] == "handshaking"


def test_one_body_round_trip_and_canonical(tmp_path):
    b = _body(0)
    f = write_ntu(tmp_path / "S001C001P001R001A023.skeleton", [{"72057594037931101": x} for x in b])
    s = read_ntu_skeleton(f)
    assert s.id == "S001C001P001R001A023" and s.layout == "ntu25" and s.joints.shape == (4, 1, 25, 3)
    np.testing.assert_array_equal(s.joints[:, 0], np.stack(b).astype(np.float32))
    np.testing.assert_allclose(s.t, np.arange(4) / 30.0)
    assert s.labels.kind == "video" and s.labels.video == (23,)
    assert s.meta["tracking"][0, 0, 7] == 1 and s.meta["tracking"][0, 0, 0] == 2
    canon = to_canonical(s.joints, s.layout)
    np.testing.assert_array_equal(canon[1, 0, 2], b[1][NTU25.index("SpineShoulder")].astype(np.float32))


def test_keeps_two_most_active_bodies_ordered_by_energy(tmp_path):
    still, active, noise = _body(1, 0.001), _body(2, 0.2), _body(3, 0.05)
    frames = [{"1": still[0], "2": active[0]},
              {"1": still[1], "2": active[1], "3": noise[1]},
              {"1": still[2], "3": noise[2]},
              {"1": still[3], "2": active[3], "3": noise[3]},
              {}]  # fmt: skip
    s = read_ntu_skeleton(write_ntu(tmp_path / "S002C003P045R001A058.skeleton", frames))
    assert s.joints.shape == (5, 2, 25, 3) and s.meta["body_ids"] == ["2", "3"]
    assert s.meta["bodies"] == 3
    np.testing.assert_array_equal(s.joints[0, 0], active[0].astype(np.float32))
    assert np.isnan(s.joints[0, 1]).all()  # body 3 not there yet
    assert np.isnan(s.joints[2, 0]).all() and np.isfinite(s.joints[2, 1]).all()
    assert np.isnan(s.joints[4]).all()  # no body at all
    assert s.persons_present() == 2 and s.meta["tracking"][4].tolist() == [[-1] * 25] * 2


def test_folder_dataset_and_split(tmp_path):
    write_ntu(tmp_path / "S001C001P001R001A001.skeleton", [{"1": x} for x in _body(0)])
    write_ntu(tmp_path / "S001C001P003R001A060.skeleton", [{"1": x} for x in _body(1)])
    assert sniff_format(tmp_path) == "ntu"
    ds = load_dataset(tmp_path)
    assert ds.label_kind == "video" and len(ds.class_ids) == 120
    assert ds.splits == {"train": ["S001C001P001R001A001"], "test": ["S001C001P003R001A060"]}


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (lambda t: t[: t.rfind("\r\n", 0, len(t) - 2)], r"A013\.skeleton:\d+: file ends early"),
        (lambda t: t.replace("0.9 2\r\n", "0.9 2 7\r\n", 1), r"A013\.skeleton:5: expected 12 values"),
        (lambda t: t.replace("25\r\n", "24\r\n", 1), r"A013\.skeleton:4: expected 25 joints"),
        (lambda t: "3" + t[1:], r"A013\.skeleton:58: file ends early"),
        (lambda t: "1" + t[1:], r"A013\.skeleton:30: extra data"),
        (lambda t: t.replace("0.1 -0.2 2", "0.1 2", 1), r"A013\.skeleton:3: expected 10 values"),
        (lambda t: t.replace("250.1", "25O.1", 1), r"A013\.skeleton:5: non-numeric"),
        (lambda t: t.replace("\r\n1\r\n", "\r\none\r\n", 1), r"A013\.skeleton:2: expected the body count"),
    ],
)
def test_corrupt_files_name_file_and_line(tmp_path, corrupt, match):
    f = write_ntu(tmp_path / "S001C001P001R001A013.skeleton", [{"1": x} for x in _body(0, T=2)])
    f.write_bytes(corrupt(f.read_bytes().decode()).encode())
    with pytest.raises(DataError, match=match):
        read_ntu_skeleton(f)


def test_garbage_bytes(tmp_path):
    f = tmp_path / "S001C001P001R001A013.skeleton"
    f.write_bytes(b"2\n1\n\xde\xad\xbe\xef" * 10)
    with pytest.raises(DataError, match=r"A013\.skeleton:3: not UTF-8"):
        load_dataset(f)
