import numpy as np

from skelact.stream.assets import precog_path
from skelact.stream.formats import load_dataset


def test_bundled_precog_loads_with_license_and_splits():
    root = precog_path()
    assert (root / "LICENSE.txt").read_text().startswith("The MIT License")
    ds = load_dataset(root)
    assert len(ds) == 70 and ds.label_kind == "frame" and ds.background_id == 0
    assert sum(s.num_frames for s in ds) == 18784
    assert len(ds.split("train")) + len(ds.split("test")) == 70
    s = ds["Seq3_5"]
    assert s.joints.dtype == np.float32 and s.labels.video
