"""Out-of-domain evaluation: false starts per stream-hour on recordings of other activities.

A model knows its own classes. Streamed through it, a recording of *other* activities
should produce no start events. Recordings are rarely clean, though: a PKU-MMD daily-life
sequence may contain a kick among its readings and typings. So the mask is per instance:
every row of a stream outside the labelled instances of the classes that *overlap* the
model's classes is out-of-domain time, and a start event on such a row is a false start
(``models.metrics.ood_false_starts``).

Instances come from the dataset's labels: intervals (their rows' times), frame labels
(runs of a class), or action points, which have no extent — a point stands for the
``point_window_s`` = (seconds before, seconds after) around it (default 2 s before, 0.5 s
after: the points of MSRC-12 sit where the gesture should be recognised, near its end).

numpy only (no torch): the runtime-only install can evaluate too.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..stream.sequence import Dataset
from .metrics import ood_false_starts

__all__ = ["POINT_WINDOW_S", "overlap_spans", "ood_report"]

POINT_WINDOW_S: tuple[float, float] = (2.0, 0.5)


def overlap_spans(ds: Dataset, overlap: Iterable[int],
                  point_window_s: tuple[float, float] = POINT_WINDOW_S) -> dict[str, list[tuple[float, float]]]:  # fmt: skip
    """Per sequence, the (start_s, end_s) spans of instances of the ``overlap`` classes."""
    keep = {int(c) for c in overlap}
    before, after = point_window_s
    out: dict[str, list[tuple[float, float]]] = {}
    for seq in ds:
        t = seq.t
        spans: list[tuple[float, float]] = []
        lab = seq.labels
        for iv in lab.intervals:  # frame labels carry their runs as intervals too
            if iv.class_id in keep and len(t):
                spans.append((float(t[min(iv.start, len(t) - 1)]), float(t[min(iv.end, len(t) - 1)])))
        for pt in lab.points:
            if pt.class_id in keep and len(t):
                at = float(t[min(pt.frame, len(t) - 1)])
                spans.append((at - before, at + after))
        out[seq.id] = spans
    return out


def ood_report(ds: Dataset, events: Iterable[dict], overlap: Iterable[int],
               point_window_s: tuple[float, float] = POINT_WINDOW_S) -> dict:  # fmt: skip
    """``ood_false_starts`` for ``events`` (event bodies from ``skelact detect`` on ``ds``:
    stream = sequence id, ``seq`` = row index) against the sequences of ``ds``. The
    dataset's own class ids are in ``overlap``; the events' class ids are the model's."""
    streams = {seq.id: np.asarray(seq.t, dtype=np.float64) for seq in ds}
    starts = [(e["stream"], int(e["seq"]), int(e["class_id"])) for e in events if e.get("type") == "start"]
    res = ood_false_starts(streams, overlap_spans(ds, overlap, point_window_s), starts)
    res["streams"] = len(streams)
    res["overlap_class_ids"] = sorted(int(c) for c in overlap)
    res["point_window_s"] = list(point_window_s)
    return res
