"""Per-class detection AP as a bar chart: the picture of ``skelact eval``'s table.

``plot_eval`` draws the dictionary ``skelact.models.evaluation.evaluate`` returns (the
one ``skelact eval --json`` writes): per class (``per_class``), one bar per temporal-IoU
threshold, or one bar of the class's average over the thresholds when there are many;
a last group with the mAP at each threshold; and the mAP averaged over the thresholds
(``detection_map["avg"]``) as a dashed line across the chart. AP is in % (the result
holds fractions in [0, 1]). matplotlib is imported only when a chart is drawn, and only
its object API is used (no pyplot, no global backend state), as in
``skelact.stream.timeline``.
"""

from __future__ import annotations

from pathlib import Path

from .timeline import require_matplotlib

__all__ = ["MAX_GROUPED_THRESHOLDS", "plot_eval"]

MAX_GROUPED_THRESHOLDS = 6
"""More tIoU thresholds than this: one bar per class (its average over them) instead of one per threshold."""


def _thresholds(result: dict) -> list[str]:
    """The tIoU keys of ``detection_map`` (``"0.1"``, ...) in the result's order, without ``"avg"``."""
    return [k for k in result["detection_map"] if k != "avg"]


def plot_eval(result: dict, path: str | Path, title: str = "", dpi: int = 100) -> Path:
    """Draw ``result`` (from ``evaluate``) to ``path`` (format from the suffix: .png, .svg,
    .pdf) and return the path. Classes keep the result's order (ascending class id); a
    class is labelled ``name (id)`` with its number of ground-truth instances. Raises
    ``PlotUnavailable`` without matplotlib, KeyError on a dictionary that is not an
    ``evaluate`` result, OSError / ValueError when the file cannot be written."""
    require_matplotlib()
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    det = result["detection_map"]
    per_class = result["per_class"]
    keys = _thresholds(result)
    grouped = 1 <= len(keys) <= MAX_GROUPED_THRESHOLDS
    bars = keys if grouped else ["avg"]
    labels = [f"{v['name']} ({c})\n{v['num_gt']} gt" if str(v["name"]) != str(c) else f"{c}\n{v['num_gt']} gt"
              for c, v in per_class.items()]  # fmt: skip
    values = [[100.0 * float(v["ap"][k]) for k in bars] for v in per_class.values()]
    labels.append("mAP")
    values.append([100.0 * float(det[k]) for k in bars])

    groups = len(labels)
    slot = 0.8 / len(bars)  # bar width, in units of one group
    group_in = 0.25 + 0.16 * len(bars)
    fig = Figure(figsize=(min(max(7.0, 1.5 + groups * group_in), 30.0), 4.8), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    cmap = colormaps["viridis"]
    for j, k in enumerate(bars):
        xs = [g - 0.4 + slot * (j + 0.5) for g in range(groups)]
        color = cmap(0.15 + 0.7 * j / max(1, len(bars) - 1)) if grouped else "tab:blue"
        label = f"tIoU {k}" if grouped else f"AP, mean over tIoU {keys[0]}..{keys[-1]}" if keys else "AP"
        cont = ax.bar(xs, [vals[j] for vals in values], width=slot * 0.92, color=color, label=label)
        cont.patches[-1].set_hatch("//")  # the mAP group
        cont.patches[-1].set_edgecolor("white")
    avg = 100.0 * float(det["avg"])
    span = f" over tIoU {keys[0]}..{keys[-1]}" if len(keys) > 1 else ""
    ax.axhline(avg, color="black", ls="--", lw=1.2, label=f"mAP{span}: {avg:.1f}%")
    ax.axvline(groups - 1.5, color="0.6", lw=0.8)
    ax.set_xticks(range(groups), labels)
    if groups > 8 or max(len(x) for x in labels) > 14:
        for t in ax.get_xticklabels():
            t.set_rotation(40)
            t.set_horizontalalignment("right")
            t.set_rotation_mode("anchor")
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlim(-0.6, groups - 0.4)
    ax.set_ylim(0, 105)
    ax.set_ylabel("detection AP (%)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.suptitle(title or "detection AP per class", fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
