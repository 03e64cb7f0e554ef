"""Accuracy against labelling cost on PRECOG and PKU-MMD (docs/label_cost.png).

    python scripts/plot_label_cost.py [-o docs/label_cost.png]

The points are the rows of docs/results.md, "Ablation: how much labelling for how much
accuracy (PRECOG)" and "PKU-MMD, the 8 interaction classes" (the wider model's rows;
"no PSL" = segment labels with `--ablate psl`):
streaming and offline average detection mAP@0.1:0.5 of one causal backbone per dataset and
kind of label, against the annotation seconds per minute of video given there. Edit the
tables below when those tables change.
"""

from __future__ import annotations

import argparse

# label kind: (annotation s per minute of video, streaming avg mAP, offline avg mAP)
PRECOG = {
    "full (frames)": (300, 98.9, 96.2),
    "segment": (56, 97.7, 93.7),
    "segment, no PSL": (56, 99.5, 98.1),
    "point (LACP)": (50, 96.1, 86.5),
    "point (baseline)": (50, 89.5, 79.9),
    "video (FLR)": (45, 6.4, 10.0),
    "video (MIL)": (45, 1.6, 4.5),
    "video (multires)": (45, 0.0, 0.5),
}
PKU8 = {
    "full (frames)": (300, 73.8, 70.0),
    "segment": (56, 44.9, 36.9),
    "segment, no PSL": (56, 74.7, 60.7),
    "point (LACP)": (50, 55.4, 54.1),
    "video (FLR)": (45, 0.0, 7.1),
    "video (MIL)": (45, 1.6, 1.8),
    "video (multires)": (45, 0.0, 0.7),
}
# label placement per panel, in points from the streaming marker (default: right, above)
PRECOG_AT = {"point (LACP)": (-70, 4), "segment": (8, -10), "segment, no PSL": (8, 2), "point (baseline)": (-78, -3), "video (MIL)": (6, -4),
             "video (multires)": (-88, -13)}  # fmt: skip
PKU8_AT = {"point (LACP)": (-70, 4), "segment": (8, -2), "segment, no PSL": (8, 2), "video (FLR)": (-62, 7), "video (MIL)": (6, 2),
           "video (multires)": (-88, -13)}  # fmt: skip
PANELS = {
    "PRECOG (8 classes, one person)": (PRECOG, PRECOG_AT),
    "PKU-MMD (8 interaction classes, wider model)": (PKU8, PKU8_AT),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", default="docs/label_cost.png")
    args = ap.parse_args()
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(6.2 * len(PANELS), 4.4), dpi=100, sharey=True)
    for ax, (title, (rows, at)) in zip(axes, PANELS.items()):
        for name, (cost, stream, offline) in rows.items():
            ax.scatter([cost], [stream], marker="o", color="tab:blue")
            ax.scatter([cost], [offline], marker="x", color="tab:orange")
            ax.annotate(name, (cost, stream), textcoords="offset points", xytext=at.get(name, (6, 4)), fontsize=8)
        ax.scatter([], [], marker="o", color="tab:blue", label="streaming (step graph, events)")
        ax.scatter([], [], marker="x", color="tab:orange", label="offline (window graph, proposals)")
        ax.set_xscale("log")
        ax.set_xticks([45, 50, 56, 100, 300], ["45", "50", "56", "100", "300"])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("annotation seconds per minute of video (log scale)")
        ax.set_ylim(-3, 106)
        ax.set_xlim(25, 420)
        ax.set_title(f"{title}: test split", fontsize=10)
        ax.legend(loc="center right", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("avg detection mAP@0.1:0.5 (%)")
    fig.suptitle("Accuracy vs labelling cost, one causal backbone per dataset", fontsize=11)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
