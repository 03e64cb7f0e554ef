"""One sequence's detection timeline: per-frame class scores, detections and ground truth.

Everything here is indexed by **source frame**: row ``i`` of a recording (or frame ``i``
of a video), the unit of an event's ``seq``, of ``labels.csv`` and of the rows of the
``skelact detect --scores-out`` npz (docs/detect.md). A model running at another rate
than the source maps back by time: a model frame stands for the source frames nearest it.

``scores_by_row`` turns the runtime's ``scores`` bodies into that per-frame array;
``plot_timeline`` draws a ``Timeline`` (numpy only here; matplotlib is imported when a
plot is drawn, and only its object API is used: no pyplot, no global backend state).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["PLOT_HINT", "PlotUnavailable", "Timeline", "plot_timeline", "require_matplotlib", "scores_by_row"]

PLOT_HINT = "pip install 'skelact[plot]'"
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


class PlotUnavailable(RuntimeError):
    """matplotlib cannot be imported (the message says how to install it)."""


def require_matplotlib() -> None:
    """Raise ``PlotUnavailable`` (one line, naming the ``plot`` extra) unless matplotlib imports."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except ImportError as e:
        raise PlotUnavailable(f"plotting needs matplotlib, which cannot be imported ({e}): {PLOT_HINT}") from None


def scores_by_row(bodies: Iterable[dict], row_t: np.ndarray, model_fps: float, num_classes: int) -> np.ndarray:
    """(T, K) float32 per-source-frame scores from ``scores`` bodies (other bodies are skipped).

    A body's ``seq`` is the source frame nearest its model frame. Each source frame takes
    the scores of the scored frame nearest to it in time (ties: the earlier one) when that
    one is less than one model frame period (``1 / model_fps`` s) away, so a 10-fps model
    over 30-fps data fills all three source frames a model frame stands for; frames with
    no model frame that close (before the first one, a person absent) are 0. Several
    tracks: the per-class maximum. Several bodies of one track on one frame (a model
    faster than the source): the last one.
    """
    row_t = np.asarray(row_t, dtype=np.float64)
    out = np.zeros((len(row_t), num_classes), np.float32)
    per_track: dict[int, dict[int, list]] = {}
    for b in bodies:
        if b.get("type") != "scores":
            continue
        seq = int(b["seq"])
        if 0 <= seq < len(row_t):
            per_track.setdefault(int(b.get("track", 0)), {})[seq] = b["scores"]
    reach = 1.0 / float(model_fps)
    for by_seq in per_track.values():
        seqs = np.array(sorted(by_seq), dtype=np.int64)
        vals = np.asarray([by_seq[s] for s in seqs], dtype=np.float32).reshape(len(seqs), num_classes)
        ts = row_t[seqs]
        k = np.clip(np.searchsorted(ts, row_t), 0, len(ts) - 1)
        prev = np.clip(k - 1, 0, len(ts) - 1)
        near = np.where(np.abs(ts[prev] - row_t) <= np.abs(ts[k] - row_t), prev, k)
        ok = np.abs(ts[near] - row_t) < reach
        ok[seqs] = True
        np.maximum(out, np.where(ok[:, None], vals[near], 0.0), out=out)
    return out


@dataclass
class Timeline:
    """What a plot shows for one sequence, in source frames.

    ``classes``: (class_id, name) for the columns of ``scores`` (T, K) (None: no scores,
    e.g. events only). ``segments``: detections (class_id, start, end, score), inclusive
    frames. ``gt``: ground truth (class_id, start, end). ``on`` / ``off``: the event
    thresholds, one for every class or {class_id: threshold} (a model's calibrated
    per-class ones); None: not drawn. ``fps``: source frames per second (adds a seconds
    axis). ``names``: class id -> name for classes outside ``classes``.
    """

    sequence: str
    classes: list[tuple[int, str]] = field(default_factory=list)
    scores: np.ndarray | None = None
    segments: list[tuple[int, int, int, float]] = field(default_factory=list)
    gt: list[tuple[int, int, int]] = field(default_factory=list)
    on: float | dict[int, float] | None = None
    off: float | dict[int, float] | None = None
    fps: float | None = None
    num_frames: int | None = None
    names: dict[int, str] = field(default_factory=dict)
    score_label: str = "smoothed score"
    title: str = ""

    def frames(self) -> int:
        """Number of source frames shown (from the scores, else the last segment end + 1)."""
        if self.num_frames is not None:
            return int(self.num_frames)
        if self.scores is not None:
            return len(self.scores)
        ends = [e for _, _, e, *_ in [*self.segments, *self.gt]]
        return max(ends) + 1 if ends else 1

    @staticmethod
    def threshold(value: float | dict[int, float] | None, cid: int) -> float | None:
        """``on`` or ``off`` of class ``cid`` (None: not drawn)."""
        if isinstance(value, dict):
            v = value.get(cid)
            return None if v is None else float(v)
        return None if value is None else float(value)

    def name(self, cid: int) -> str:
        for c, n in self.classes:
            if c == cid:
                return n
        return self.names.get(cid, str(cid))

    def shown_classes(self, only: Sequence[int] | None = None, max_classes: int = 12) -> list[int]:
        """Class ids to draw, one panel each: ``only`` if given; else classes with a
        detection or ground truth, then those whose score ever reaches ``off`` (0.1 without
        thresholds), by peak score; at most ``max_classes``."""
        if only:
            return list(only)[:max_classes]
        marked = sorted({c for c, *_ in self.segments} | {c for c, *_ in self.gt})
        rest: list[tuple[float, int]] = []
        if self.scores is not None and len(self.scores):
            peak = np.nanmax(self.scores, axis=0)
            rest = sorted((-float(p), c) for (c, _), p in zip(self.classes, peak)
                          if c not in marked and p >= (self.threshold(self.off, c) or 0.1))  # fmt: skip
        return (marked + [c for _, c in rest])[:max_classes]


def plot_timeline(tl: Timeline, path: str | Path, only: Sequence[int] | None = None, max_classes: int = 12,
                  width_in: float = 11.0, dpi: int = 100) -> Path:  # fmt: skip
    """Draw ``tl`` to ``path`` (format from the suffix: .png, .svg, .pdf): one panel per
    class with its score curve, the on/off thresholds, detections (a band along the top,
    start and end lines) and ground truth (a shaded band). Returns the path."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    classes = tl.shown_classes(only, max_classes)
    col = {c: k for k, (c, _) in enumerate(tl.classes)}
    n = max(1, len(classes))
    T = tl.frames()
    fig = Figure(figsize=(width_in, 1.0 + 1.15 * n), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    x = np.arange(T)
    for ax, cid in zip(axes, classes or [None]):
        ax.set_xlim(-0.5, max(T - 0.5, 0.5))
        ax.set_ylim(0.0, 1.08)
        ax.grid(True, axis="x", alpha=0.25)
        if cid is None:
            ax.text(0.5, 0.5, "no scores, detections or ground truth to show", transform=ax.transAxes,
                    ha="center", va="center", color="0.4")  # fmt: skip
            ax.set_yticks([])
            continue
        for c, s, e in tl.gt:
            if c == cid:
                ax.axvspan(s - 0.5, e + 0.5, color="tab:green", alpha=0.18, lw=0)
        for c, s, e, _sc in tl.segments:
            if c == cid:
                ax.axvspan(s - 0.5, e + 0.5, ymin=0.9, ymax=1.0, color="tab:orange", alpha=0.8, lw=0)
                ax.axvline(s, color="tab:green", lw=1.3)
                ax.axvline(e, color="tab:red", lw=1.3)
        if tl.scores is not None and cid in col:
            ax.plot(x[: len(tl.scores)], tl.scores[:, col[cid]], color="tab:blue", lw=1.2)
            on, off = tl.threshold(tl.on, cid), tl.threshold(tl.off, cid)
            if on is not None:
                ax.axhline(on, color="tab:red", ls="--", lw=0.8, alpha=0.7)
            if off is not None:
                ax.axhline(off, color="0.35", ls=":", lw=0.9)
        else:
            ax.set_yticks([])
        ax.set_ylabel(f"{tl.name(cid)}\n({cid})", rotation=0, ha="right", va="center", fontsize=9)
    axes[-1].set_xlabel("source frame (event seq)")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    if tl.fps and tl.fps > 0 and math.isfinite(tl.fps):
        fps = float(tl.fps)
        top = axes[0].secondary_xaxis("top", functions=(lambda f: f / fps, lambda s: s * fps))
        top.set_xlabel("seconds")
    handles = []
    if tl.scores is not None:
        handles.append(Line2D([], [], color="tab:blue", lw=1.2, label=tl.score_label))
        for value, word, style in ((tl.on, "on", dict(color="tab:red", ls="--", lw=0.8)),
                                   (tl.off, "off", dict(color="0.35", ls=":", lw=0.9))):  # fmt: skip
            if value is None:
                continue
            vals = set(value.values()) if isinstance(value, dict) else {value}
            label = f"{word} {next(iter(vals)):g}" if len(vals) == 1 else f"{word} (per class)"
            handles.append(Line2D([], [], label=label, **style))
    handles += [Patch(color="tab:orange", alpha=0.8, label="detection"),
                Line2D([], [], color="tab:green", lw=1.3, label="start"),
                Line2D([], [], color="tab:red", lw=1.3, label="end")]  # fmt: skip
    if tl.gt:
        handles.append(Patch(color="tab:green", alpha=0.18, label="ground truth"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle(tl.title or tl.sequence, fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
