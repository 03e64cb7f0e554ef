"""`skelact train`: train a checkpoint (full, segment, point or video-level supervision)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

SUMMARY = (
    "train a model checkpoint: fully supervised, or weakly supervised from segment, point or video labels"
)

_EPILOG = """\
defaults:
  CPU defaults (no --paper): causal backbone, 6 graph blocks (widths 16,16,32,32,32,32, so
  D=32; kernel 3, dilations 1,2,4,8,16,32: receptive field 127 frames = 4.2 s at 30 fps),
  Adam lr 1e-3, batch 8, 40 epochs, sequences tiled into crops of <= 512 frames (256 with two
  persons; under 2 GB of memory), held-out
  split scored every 2 epochs, FLR pseudo labels from epoch 10 averaged over 10 epochs.
  About 7-11 min on PRECOG with 2 CPU threads.
  --paper: the FLR paper's settings (Yu & Fujiwara, AAAI 2023, "Frame-Level Label
  Refinement for Skeleton-Based Weakly-Supervised Action Recognition"): D=256 (2s-AGCN
  widths 64..256), Adam lr 1e-4, batch 8, 100 epochs, whole sequences, delta 5, tau 2,
  alpha 0.2, lambda_pseudo 1, lambda_KL 0.5 (meant for a GPU: --device cuda).

segment supervision (--supervision segment, Ding et al., "Weakly Supervised
  Temporal Action Localization with Segment-Level Labels"):
  labels: --segments-per-instance (1 or 2) segments of --segment-frames model frames inside
  each action instance. Default length: the paper's 16 frames at 30 fps (0.53 s) scaled to
  the model fps, round(16/30 * fps): 16 at 30 fps, 8 at 15, 5 at 10. Sampled from the
  interval labels: per instance a uniform start among those keeping the segment inside the
  instance (two segments: two draws, and the span between them is labelled too, as in the
  paper); the generator is fixed by (--seed, sequence id), so the same seed gives the same
  segments. Shorter instances are labelled whole. OUT/segments.csv records them.
  --segments FILE reads them instead: CSV sequence,class_id,kind,seg_start,seg_end with
  kind=segment on every row, dataset frames, inclusive (an interval labels.csv is refused).
  losses: L = L_cls + 0.1 L_psl + 1e-4 L_sphere + 0.02 L_prop (the paper's weights): top-k
  MIL (k = T / 2Q, Q labelled segments), partial segment loss, sphere (A-Softmax) loss,
  similarity propagation loss. Two heads: classification and localization.
  --ablate psl|sphere|propagation switches a part off.

multi-resolution refinement (--supervision video --method multires, Su et al.,
  "Improving Weakly Supervised Temporal Action Localization by Exploiting Multi-resolution
  Information in Temporal Domain"):
  before the student's first epoch, offline teachers make frame pseudo labels from the
  video labels: ILG (a joint-stream and a motion-stream MIL network, trained with
  multi-resolution consistency under random temporal rescaling x0.5-x2 and cross-stream
  consistency; labels where the fused CAS is > 0.7, background where actions sum < 0.1),
  then --ptlr-rounds (default 3) rounds of progressive temporal label refinement: an
  original-scale network and a reduced-scale (1/2, 1/4, 1/8) network each train on the
  other's labels (thresholds 0.7, 0.65, 0.6, 0.55). Each teacher stage runs
  --teacher-epochs (default epochs/4); --epochs is the causal student's budget.
  --ptlr-rounds 0: ILG labels only; --ablate multires: single temporal resolution;
  --ablate cross-stream: no joint/motion consistency.
  The teachers only make labels: the exported model is the --arch student (causal: step).

outputs:
  OUT/last.ckpt  after every epoch (with optimizer + FLR state, multires pseudo labels,
                 for --resume; a multires run stopped during its teacher stages restarts)
  OUT/best.ckpt  lowest held-out loss of the same supervision (video supervision uses
                 only video labels to choose it; not written for point and segment)
  OUT/segments.csv  the segment labels a segment run trained on

examples:
  skelact train --data ../shared/data/precog --supervision video --method flr --out runs/flr
  skelact train --data ../shared/data/precog --supervision full --out runs/full --epochs 20
  skelact train --data stream/assets/precog --supervision segment --out runs/seg
  skelact train --data stream/assets/precog --supervision segment --segments runs/seg/segments.csv \
      --ablate propagation --out runs/seg_noprop
  skelact train --data stream/assets/precog --supervision video --method multires --out runs/multires
  skelact train --resume runs/flr/last.ckpt --data ../shared/data/precog --out runs/flr
"""


def _int_list(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return vals


def _count(minimum: int):
    """argparse type: an integer >= ``minimum`` (0 would otherwise silently mean "default")."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return v

    return parse


def _float_triple(text: str) -> tuple[float, float, float]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers, got {text!r}") from None
    if len(vals) != 3 or min(vals) < 0:
        raise argparse.ArgumentTypeError(f"expected three numbers >= 0, got {text!r}")
    return vals


def build_parser() -> argparse.ArgumentParser:
    from .cli import class_ids

    p = argparse.ArgumentParser(
        prog="skelact train",
        description=(
            "Train an action detection model on a skeleton dataset (any path `skelact data info` "
            "reads). --supervision full trains on frame labels (frame cross-entropy, the fully "
            "supervised baseline); --supervision video uses only the set of classes in each "
            "sequence: --method mil is multiple-instance learning with a cosine classifier and "
            "temporal attention, --method flr adds frame-level label refinement (pseudo labels "
            "averaged over past epochs, two heads with small-loss symmetric KL), as in Yu & "
            "Fujiwara, \"Frame-Level Label Refinement for Skeleton-Based Weakly-Supervised Action "
            "Recognition\", AAAI 2023 (the FLR paper). --supervision point uses one labelled frame per "
            "action instance: --method point is video- plus point-level classification with pseudo "
            "background points, --method lacp adds completeness learning (optimal-sequence search, "
            "score and feature contrast), as in \"Learning Action Completeness from Points for "
            "Weakly-supervised Temporal Action Localization\" (ICCV 2021). --supervision segment uses one or "
            "two short labelled segments per action instance (--method segment: top-k MIL, partial segment, "
            "sphere and propagation losses, as in \"Weakly Supervised Temporal Action Localization with "
            "Segment-Level Labels\"); --supervision video --method multires makes frame pseudo labels with "
            "offline multi-resolution teachers (initial labels from temporal multi-resolution consistency, "
            "then progressive temporal label refinement) and trains the causal model on them. The causal backbone is step-able (export "
            "--mode step); the FLR paper's AGCN backbone (--arch agcn) looks ahead and is served "
            "in window mode."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EPILOG,
    )
    p.add_argument(
        "--data", required=True, help="dataset folder or file (npz folder or an original format)"
    )
    p.add_argument(
        "--supervision",
        choices=["full", "video", "point", "segment"],
        default="video",
        help="full: frame labels; video: video-level labels only; point: one labelled frame per "
             "action instance (the dataset's action points, or one drawn per interval, --point-at); "
             "segment: one or two short labelled segments per action instance (drawn inside each "
             "interval, or --segments FILE) (default: video)",
    )
    p.add_argument(
        "--method",
        choices=["mil", "flr", "multires", "point", "lacp", "segment"],
        default=None,
        help="--supervision video: mil, flr or multires (offline multi-resolution teachers make frame "
             "pseudo labels, see below; default flr); --supervision point: point (video + point "
             "classification with pseudo background points) or lacp (plus completeness learning: "
             "optimal-sequence search, score and feature contrast; default lacp); --supervision "
             "segment: segment (the only one)",
    )
    p.add_argument("--out", required=True, help="output folder for last.ckpt / best.ckpt")
    p.add_argument(
        "--arch",
        choices=["causal", "agcn"],
        default="causal",
        help="causal: stride-1 dilated causal, step-able (default); agcn: the FLR paper's T/8 AGCN",
    )
    p.add_argument("--paper", action="store_true", help="the FLR paper's full settings (see below)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 40, --paper 100)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed; runs are deterministic given it (default 0)",
    )
    p.add_argument("--batch-size", type=int, default=None, help="clips per batch (default 8)")
    p.add_argument(
        "--lr", type=float, default=None, help="Adam learning rate (default 1e-3, --paper 1e-4)"
    )
    p.add_argument(
        "--crop-frames",
        type=_count(1),
        default=None,
        help="longest training clip in model frames; longer sequences are tiled into random-phase crops "
             "(default 512 frames for one person, 256 for two: the memory of a batch grows with both)",
    )
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        help="model frame rate (default: the dataset's nominal fps)",
    )
    p.add_argument(
        "--persons",
        type=int,
        default=None,
        help="persons the model sees jointly (default: most in one frame of the data, at most 2)",
    )
    p.add_argument(
        "--split",
        default="train",
        help="split to train on (default: train; all sequences when the dataset has no splits)",
    )
    p.add_argument(
        "--eval-split",
        default="test",
        help="held-out split scored during training, or 'none' (default: test)",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=None,
        help="score the held-out split every N epochs (default 2)",
    )
    p.add_argument("--flr-start", type=int, default=None,
                   help="FLR: first epoch (0-based) that uses pseudo labels (default 10, as the FLR paper); "
                        "lower it for short runs, or FLR never starts")
    p.add_argument("--flr-window", type=int, default=None,
                   help="FLR: epochs of frame predictions averaged into pseudo labels (default 10)")
    p.add_argument("--widths", type=_int_list, default=None,
                   help="output channels per graph block, comma-separated, e.g. 16,16,32,32,32,32 "
                        "(the last is the feature dimension D; default: see below)")
    p.add_argument("--dilations", type=_int_list, default=None,
                   help="causal arch: temporal dilation per block, comma-separated (one per width; "
                        "receptive field = 1 + (kernel-1) * sum)")
    p.add_argument("--calibrate", choices=["auto", "always", "never"], default=None,
                   help="fit per-class decision thresholds (on, min_frames) after training, for the best F1 of "
                        "start events on the training recordings: auto = when --negatives held some out "
                        "(their false starts count too; default), always = also without negatives, never = "
                        "the runtime's defaults. Full, point and segment supervision. With --resume and "
                        "--epochs equal to the epochs done it only recalibrates")
    p.add_argument("--classes", type=class_ids, default=None, metavar="ID,...",
                   help="learn only these class ids of the dataset (comma-separated); instances of "
                        "its other classes become background (e.g. the 8 PKU-MMD interaction classes)")
    p.add_argument("--negatives", action="append", default=None, metavar="PATH[:ID,...]",
                   help="another dataset whose train-split recordings are added as background (repeat "
                        "for several); IDs are its classes that overlap this model's, whose instances are "
                        "cut out (e.g. ../shared/data/pkummd:18,19,26,27,41). Teaches the model to stay "
                        "silent on activities it does not know")
    p.add_argument("--point-at", choices=["gaussian", "uniform", "center"], default=None,
                   help="--supervision point on data with intervals: where each instance's labelled frame "
                        "is drawn (seeded per sequence; default gaussian around the centre)")
    p.add_argument("--segment-frames", type=_count(1), default=None,
                   help="--supervision segment: model frames per labelled segment (default: the paper's 16 "
                        "frames at 30 fps scaled to the model fps, round(16/30*fps))")
    p.add_argument("--segments-per-instance", type=int, choices=[1, 2], default=None,
                   help="--supervision segment: segments drawn per action instance; 2 also labels the span "
                        "between them, as in the paper (default 1)")
    p.add_argument("--segments", default=None, metavar="FILE",
                   help="--supervision segment: read the segments instead of sampling them: CSV "
                        "sequence,class_id,kind,seg_start,seg_end, kind=segment, dataset frames inclusive")
    p.add_argument("--segment-weights", type=_float_triple, default=None, metavar="A,B,G",
                   help="--supervision segment: weights of the partial segment, sphere and propagation "
                        "losses (default 0.1,0.0001,0.02, the paper's)")
    p.add_argument("--ptlr-rounds", type=_count(0), default=None,
                   help="--method multires: rounds of progressive temporal label refinement (default 3, the "
                        "paper's best; 0 = initial labels only)")
    p.add_argument("--teacher-epochs", type=_count(1), default=None,
                   help="--method multires: epochs of each teacher stage (ILG, then OTS and RTS per round; "
                        "default: epochs/4, at least 1)")
    p.add_argument("--ablate", action="append", default=None, metavar="PART[,PART]",
                   help="switch parts of a method off, for ablations (repeatable): segment: psl, sphere, "
                        "propagation; multires: multires (single temporal resolution), cross-stream")
    p.add_argument("--augment", action="store_true", default=None,
                   help="randomly alter every training crop as other sources would: view rotation, body "
                        "scale, frame-rate jitter, joint noise and dropout, a missing second person")
    p.add_argument("--negative-ratio", type=float, default=None,
                   help="negative frames per positive frame, shared by all --negatives (default 1)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument(
        "--device",
        default="auto",
        help="torch device to train on: auto (cuda when available, else cpu), cpu, cuda, cuda:1 ...",
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="CKPT",
        help="continue from OUT/last.ckpt (its model and training settings; --epochs may extend). "
             "With --epochs equal to the epochs it has done, nothing is trained: the decision "
             "thresholds are recalibrated (needs the same --negatives)",
    )
    p.add_argument("--progress", choices=["auto", "always", "never"], default="auto",
                   help="progress bar of optimiser steps on stderr (steps/s, ETA); auto: only when stderr "
                        "is a terminal (default). The per-epoch lines on stdout are printed either way")
    return p


class _Progress:
    """A tqdm bar of optimiser steps on stderr; epoch lines go to stdout above it."""

    def __init__(self, mode: str, epochs: int) -> None:
        tty = getattr(sys.stderr, "isatty", lambda: False)()
        self.on = mode == "always" or (mode == "auto" and tty)
        self.epochs = epochs
        self.bar = None

    def step(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done - 1, unit="step", desc="training", file=sys.stderr,
                            dynamic_ncols=True, leave=False)  # fmt: skip
        self.bar.update(done - self.bar.n)

    def epoch(self, line: str, row: dict) -> None:
        if self.bar is None:
            print(line, flush=True)
            return
        self.bar.write(line, file=sys.stdout)
        sys.stdout.flush()
        self.bar.set_postfix_str(f"epoch {row['epoch'] + 1}/{self.epochs} loss {row.get('loss', float('nan')):.4f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _ablate(values: list[str] | None) -> tuple[str, ...] | None:
    """--ablate a,b --ablate c -> ("a", "b", "c"); checked against the method by TrainConfig."""
    if not values:
        return None
    return tuple(p.strip() for v in values for p in v.split(",") if p.strip())


def _fail(msg: str) -> int:
    print(f"skelact train: {msg}", file=sys.stderr)
    return 2


def _splits(ds, split: str, eval_split: str):
    """(train_ds, eval_ds or None); ValueError with a message on a missing split."""
    if split in ds.splits:
        train_ds = ds.split(split)
    elif split == "train":
        train_ds = ds  # no splits: train on everything
    else:
        raise ValueError(
            f"dataset {ds.name!r} has no split {split!r} (has: {', '.join(sorted(ds.splits)) or 'none'})"
        )
    eval_ds = None
    if eval_split != "none" and train_ds is not ds:
        if eval_split in ds.splits:
            eval_ds = ds.split(eval_split)
        elif eval_split != "test":
            raise ValueError(f"dataset {ds.name!r} has no split {eval_split!r}")
    return train_ds, eval_ds


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        return _fail("--epochs must be >= 1")
    if not Path(args.data).exists():
        return _fail(f"--data {args.data}: no such file or directory")
    for spec in args.negatives or ():
        from skelact.models.negatives import parse_negative_spec

        try:
            neg_path, _ids = parse_negative_spec(spec)
        except ValueError as e:
            return _fail(str(e))
        if not Path(neg_path).exists():
            return _fail(f"--negatives {spec}: no such file or directory")
    if args.segments is not None and not Path(args.segments).is_file():
        return _fail(f"--segments {args.segments}: no such file")
    if args.resume is not None and not Path(args.resume).is_file():
        return _fail(f"--resume {args.resume}: no such checkpoint")
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return _fail(f"--out {args.out}: cannot create the output folder ({e.strerror or e})")
    try:
        import torch  # lazy: keeps `skelact --help` fast

        from skelact.models.checkpoint import read_checkpoint
        from skelact.models.config import ModelConfig, TrainConfig, model_config, train_config
        from skelact.models.data import SupervisionError, check_supervision, dataset_fps
        from skelact.models.network import count_parameters
        from skelact.models.train import train
    except ImportError as e:
        return _fail(f"needs the training extra (pip install 'skelact[train]'): {e}")
    from skelact.stream.formats import DataError, load_dataset

    try:
        ds = load_dataset(args.data)
        train_ds, eval_ds = _splits(ds, args.split, args.eval_split)
    except (DataError, ValueError, KeyError) as e:
        return _fail(str(e).strip("'\""))
    if args.supervision == "full" and any(a.startswith("--method") for a in argv):
        print("note: --method is ignored with --supervision full")
    try:
        if args.resume:
            try:
                ck = read_checkpoint(args.resume)
            except Exception as e:  # unreadable or foreign file: say so, no traceback
                raise ValueError(
                    f"--resume {args.resume}: not a readable skelact checkpoint ({type(e).__name__}: {e})"
                ) from None
            mcfg = ModelConfig.from_dict(ck["model_args"])
            tcfg = TrainConfig.from_dict(ck["train_config"])
            if args.epochs is not None or args.calibrate is not None:
                tcfg = TrainConfig.from_dict({**tcfg.to_dict(), **({"epochs": args.epochs} if args.epochs else {}),
                                              **({"calibrate": args.calibrate} if args.calibrate else {})})  # fmt: skip
            persons = int(ck["norm"]["persons"])
        else:
            over = {k: v for k, v in dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                          crop_frames=args.crop_frames, eval_every=args.eval_every,
                                          flr_start=args.flr_start, flr_window=args.flr_window,
                                          negatives=tuple(args.negatives) if args.negatives else None,
                                          negative_ratio=args.negative_ratio, augment=args.augment,
                                          point_at=args.point_at, segment_frames=args.segment_frames,
                                          segments_per_instance=args.segments_per_instance,
                                          segments_file=args.segments, ptlr_rounds=args.ptlr_rounds,
                                          segment_weights=args.segment_weights,
                                          teacher_epochs=args.teacher_epochs,
                                          ablate=_ablate(args.ablate),
                                          classes=tuple(sorted(set(args.classes))) if args.classes else None,
                                          calibrate=args.calibrate).items()
                    if v is not None}  # fmt: skip
            method = args.method or {"point": "lacp", "segment": "segment"}.get(args.supervision, "flr")
            tcfg = train_config(args.paper, supervision=args.supervision, method=method, seed=args.seed,
                                fps=args.fps or dataset_fps(train_ds), threads=args.threads, **over)  # fmt: skip
            shape = {k: v for k, v in dict(widths=args.widths, dilations=args.dilations).items() if v}
            if "widths" in shape and "dilations" not in shape and args.arch == "causal":
                base = model_config(args.arch, args.paper).dilations
                if len(base) != len(shape["widths"]):
                    raise ValueError(f"--widths has {len(shape['widths'])} blocks: give --dilations too")
            mcfg = model_config(args.arch, args.paper, **shape)
            persons = args.persons
        if tcfg.classes:
            train_ds = train_ds.restrict(tcfg.classes)
            eval_ds = eval_ds.restrict(tcfg.classes) if eval_ds is not None else None
            print(f"classes: {', '.join(f'{c} {train_ds.classes[c]}' for c in train_ds.class_ids)} "
                  "(the others are background)")
        check_supervision(train_ds, tcfg.supervision, segments_file=bool(tcfg.segments_file))
        if tcfg.supervision == "video" and tcfg.method == "flr" and tcfg.flr_start >= tcfg.epochs:
            print(f"warning: FLR pseudo labels start at epoch {tcfg.flr_start + 1} but the run has "
                  f"{tcfg.epochs} epochs, so this is MIL with two heads; lower --flr-start", file=sys.stderr)
    except (ValueError, KeyError) as e:  # SupervisionError is a ValueError
        return _fail(str(e))

    out = Path(args.out)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"training on {train_ds.name}: {len(train_ds)} sequences"
          + (f", held out {eval_ds.name}: {len(eval_ds)}" if eval_ds else ", no held-out split"))  # fmt: skip
    if tcfg.supervision == "segment":
        from skelact.models.segment import segment_frames

        print(f"segments: {tcfg.segments_file or 'sampled from the intervals'}, "
              f"{segment_frames(tcfg.fps, tcfg.segment_frames)} frames each, {tcfg.segments_per_instance} per instance"
              + (f"; ablated: {', '.join(tcfg.ablate)}" if tcfg.ablate else ""))  # fmt: skip
    if tcfg.method == "multires" and tcfg.supervision == "video":
        from skelact.models.multires import teacher_epochs, teacher_stages

        print(f"multires teachers: {teacher_stages(tcfg)} stages (ILG + {tcfg.ptlr_rounds} PTLR rounds) of "
              f"{teacher_epochs(tcfg)} epochs before the student's {tcfg.epochs}"
              + (f"; ablated: {', '.join(tcfg.ablate)}" if tcfg.ablate else "")
              + (" (resumed: the stored pseudo labels are reused)" if args.resume else ""))  # fmt: skip
    print(f"supervision {tcfg.supervision}" + (f" ({tcfg.method})" if tcfg.supervision != "full" else "")
          + f", arch {mcfg.arch}, {tcfg.epochs} epochs, batch {tcfg.batch_size}, lr {tcfg.lr:g}, "
          f"{tcfg.fps:g} fps, seed {tcfg.seed}, device {device}")  # fmt: skip

    bar = _Progress(args.progress, tcfg.epochs)

    def on_epoch(row: dict) -> None:
        parts = "  ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "seconds"))
        bar.epoch(f"epoch {row['epoch'] + 1:3d}/{tcfg.epochs}  {parts}  {row['seconds']:.1f}s", row)

    t0 = time.time()
    try:
        res = train(train_ds, tcfg, mcfg, out_dir=out, eval_ds=eval_ds, resume=args.resume, persons=persons,
                    on_epoch=on_epoch, device=device, on_step=bar.step if bar.on else None)  # fmt: skip
    except SupervisionError as e:
        return _fail(str(e))
    except ValueError as e:
        return _fail(str(e))
    finally:
        bar.close()
    m = res.model
    print(f"\nmodel: {res.model_cfg.arch}, {count_parameters(m):,} parameters, D={res.model_cfg.feature_dim}, "
          f"receptive field {m.receptive_field} frames, lookahead {m.lookahead}")  # fmt: skip
    if res.history:
        last = res.history[-1]
        summary = {k: v for k, v in last.items() if k.startswith("test_")}
        if summary:
            print(
                "last epoch held-out: " + ", ".join(f"{k[5:]} {v:.4f}" for k, v in summary.items())
            )
    if res.best_epoch is not None:
        print(f"best held-out loss at epoch {res.best_epoch + 1}: {out / 'best.ckpt'}")
    print(f"wrote {out / 'last.ckpt'} in {time.time() - t0:.0f}s")
    return 0
