"""Accuracy against labelling cost on PRECOG (docs/label_cost.png).

    python scripts/plot_label_cost.py [-o docs/label_cost.png]

The points are the rows of docs/results.md, "Ablation: how much labelling for how much
accuracy (PRECOG)": streaming and offline average detection mAP@0.1:0.5 of one causal
backbone per kind of label, against the annotation seconds per minute of video given
there. Edit ROWS when the table changes.
"""

from __future__ import annotations

import argparse

# label kind: (annotation s per minute of video, streaming avg mAP, offline avg mAP)
ROWS = {
    "full (frames)": (300, 98.9, 96.2),
    "segment": (56, 97.7, 93.7),
    "point (LACP)": (50, 96.1, 86.5),
    "point (baseline)": (50, 89.5, 79.9),
    "video (FLR)": (45, 6.4, 10.0),
    "video (MIL)": (45, 1.6, 4.5),
}

OFFSETS = {"point (LACP)": (-70, 4), "segment": (8, -2), "point (baseline)": (-78, -3), "video (MIL)": (6, -6)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", default="docs/label_cost.png")
    args = ap.parse_args()
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    for name, (cost, stream, offline) in ROWS.items():
        ax.scatter([cost], [stream], marker="o", color="tab:blue")
        ax.scatter([cost], [offline], marker="x", color="tab:orange")
        ax.annotate(name, (cost, stream), textcoords="offset points", xytext=OFFSETS.get(name, (6, 4)), fontsize=8)
    ax.scatter([], [], marker="o", color="tab:blue", label="streaming (step graph, events)")
    ax.scatter([], [], marker="x", color="tab:orange", label="offline (window graph, proposals)")
    ax.set_xscale("log")
    ax.set_xticks([45, 50, 56, 100, 300], ["45", "50", "56", "100", "300"])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("annotation seconds per minute of video (log scale)")
    ax.set_ylabel("avg detection mAP@0.1:0.5 (%)")
    ax.set_ylim(-3, 106)
    ax.set_xlim(25, 420)
    ax.set_title("PRECOG test split: accuracy vs labelling cost, one causal backbone")
    ax.legend(loc="center right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
