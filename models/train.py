"""The training loop: fully supervised frame CE, or MIL (+ FLR) from video-level labels.

One epoch = one random crop of every training sequence, in a seeded random order,
in batches of ``batch_size``. Per batch, by supervision/method:

* ``full``:        L = frame CE (the fully supervised baseline, same backbone);
* ``video/mil``:   L = L_bce (Eq. 5, video scores from temporal attention, Eqs. 2-4);
* ``video/flr``:   L = L_bce + lambda_pseudo L_pseudo + lambda_KL L_KL (Eq. 15), two heads,
                   pseudo labels from the ``PseudoLabelBank`` (Eq. 9, averaged over epochs).
* ``point/point``: video + point classification with pseudo background points (the
                   baseline of "Learning Action Completeness from Points");
* ``point/lacp``:  the same + completeness learning (optimal-sequence search, score and
                   feature contrast), ``models/lacp.py``.
* ``segment/segment``: L = L_cls + 0.1 L_segment + 1e-4 L_sphere + 0.02 L_prop (top-k MIL,
                   partial segment, sphere and (normalised) propagation losses; two heads =
                   the classification and localization modules) + L_frame + L_bg (frame
                   cross-entropy at the labelled segment frames and at pseudo-background
                   frames: what teaches the served per-frame softmax), ``models/segment.py``.
* ``video/multires``: offline, non-causal teachers make frame pseudo labels from video
                   labels (multi-resolution consistency on joint and motion streams, then
                   progressive temporal label refinement, ``models/multires.py``) before
                   the first epoch; the causal student then trains on them (frame CE over
                   the selected frames, Eq. 6 of that paper).

After each epoch the model is scored on the held-out clips (if any): the loss of the
same supervision on whole sequences (this picks ``best.ckpt``: under video supervision
it uses only video labels, so model selection never peeks at frame labels) plus
video mAP and, where frame labels exist, frame mAP (reported, not used for selection).
``last.ckpt`` carries the optimizer and FLR state for ``resume``; every random draw is
seeded from (seed, epoch), so a resumed run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..stream.normalize import NormConfig
from ..stream.sequence import Dataset
from .checkpoint import read_checkpoint, save_checkpoint
from .config import ModelConfig, TrainConfig, model_config
from .data import (
    Clip,
    ClipDataset,
    check_supervision,
    class_list,
    collate,
    dataset_persons,
    prepare_clips,
)
from .flr import PseudoLabelBank, flr_losses
from .losses import frame_ce, mil_bce
from .multires import pseudo_frame_ce
from .network import ActionNet, build_model, count_parameters
from .segment import SegmentConfig, segment_frames, segment_loss

__all__ = ["CALIBRATION_FRAMES", "TrainResult", "evaluate", "train"]

CALIBRATION_FRAMES = 30 * 60 * 10  # per negatives dataset: up to 10 minutes held out for thresholds

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model: ActionNet
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    seconds: float = 0.0
    out_dir: Path | None = None


def _segment_config(cfg: TrainConfig, model: ActionNet) -> SegmentConfig:
    """The segment losses' settings for this run: the weights (default the paper's), the run's segment
    length as the unit (frames per segment), the cosine head's scale, the ablation switches."""
    alpha, beta, gamma = cfg.segment_weights
    return SegmentConfig(alpha=alpha, beta=beta, gamma=gamma, scale=model.cfg.delta,
                         frames_per_segment=segment_frames(cfg.fps, cfg.segment_frames),
                         use_psl="psl" not in cfg.ablate, use_sphere="sphere" not in cfg.ablate,
                         use_propagation="propagation" not in cfg.ablate)  # fmt: skip


def _batch_loss(model: ActionNet, batch: dict, cfg: TrainConfig, epoch: int,
                bank: PseudoLabelBank | None) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
    mask = batch["mask"]
    if cfg.supervision == "segment":
        feats = model.backbone(batch["x"])  # (N, T, D): the features the sphere and propagation losses use
        logits = torch.stack([h(feats) for h in model.heads])
        segments = batch.get("segments")  # a batch of negatives only has none
        if segments is None:
            segments = torch.full(mask.shape, -1, dtype=torch.int64, device=mask.device)
        return segment_loss(logits, feats, mask, segments, batch["video"], model.heads[0].weight,
                            _segment_config(cfg, model))  # fmt: skip
    if cfg.method == "multires" and cfg.supervision == "video":
        logits = model(batch["x"])
        loss = torch.stack([pseudo_frame_ce(lg, batch["frame"], mask) for lg in logits]).mean()
        return loss, {"pseudo_ce": loss.item()}
    if cfg.supervision == "point":
        from .lacp import LACPConfig, lacp_loss

        feats = model.backbone(batch["x"])  # (N, T, D): the features the completeness contrast uses
        logits = torch.stack([h(feats) for h in model.heads])
        lcfg = LACPConfig() if cfg.method == "lacp" else LACPConfig(lambda_score=0.0, lambda_feat=0.0, warmup_epochs=1 << 30)
        points = batch.get("points")  # a batch of negatives only has no points
        if points is None:
            points = torch.full(mask.shape, -1, dtype=torch.int64, device=mask.device)
        return lacp_loss(logits, feats, mask, points, batch["video"], lcfg, epoch)
    logits = model(batch["x"])  # (H, N, T, K+1)
    if cfg.supervision == "full":
        loss = torch.stack([frame_ce(lg, batch["frame"], mask) for lg in logits]).mean()
        return loss, {"ce": loss.item()}
    r = model.video_logits(logits, mask)
    l_bce = torch.stack([mil_bce(rh, batch["video"]) for rh in r]).mean()
    if bank is None:
        return l_bce, {"bce": l_bce.item()}
    frames = batch["offset"][:, None] + torch.arange(mask.shape[1])[None, :]  # stays on the CPU
    l_pseudo, l_kl = flr_losses(logits, mask, frames, bank, epoch, cfg.flr_start, cfg.alpha)
    loss = l_bce + cfg.lambda_pseudo * l_pseudo + cfg.lambda_kl * l_kl
    return loss, {"bce": l_bce.item(), "pseudo": l_pseudo.item(), "kl": l_kl.item()}


def _run_epoch(model: ActionNet, data: ClipDataset, opt: torch.optim.Optimizer, cfg: TrainConfig,
               epoch: int, bank: PseudoLabelBank | None, device: str = "cpu",
               on_step: Callable[[], None] | None = None) -> dict[str, float]:  # fmt: skip
    model.train()
    data.set_epoch(epoch)
    torch.manual_seed(cfg.seed * 1_000_003 + epoch)
    order = np.random.default_rng([cfg.seed, epoch, 7]).permutation(len(data))
    sums: dict[str, float] = {}
    seen = 0
    for b in range(0, len(order), cfg.batch_size):
        batch = collate([data[int(i)] for i in order[b : b + cfg.batch_size]])
        batch = {k: v.to(device) if k not in ("offset", "index") else v for k, v in batch.items()}
        loss, parts = _batch_loss(model, batch, cfg, epoch, bank)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        if on_step is not None:
            on_step()
        n = len(batch["x"])
        seen += n
        for k, v in {"loss": loss.item(), **parts}.items():
            sums[k] = sums.get(k, 0.0) + v * n
    return {k: v / max(seen, 1) for k, v in sums.items()}


@torch.no_grad()
def evaluate(
    model: ActionNet, clips: list[Clip], supervision: str = "video", device: str = "cpu"
) -> dict[str, float]:
    """Held-out loss and mAPs on whole sequences (eval mode).

    ``loss``: frame CE (``full``) or MIL BCE (``video``); ``video_map``: classes ranked by
    the video score sigmoid(r) (mean over heads); ``frame_map``: frames ranked by the frame
    probability, and ``det_map``: detection mAP averaged over tIoU 0.1-0.5, when every clip
    has frame labels. mAPs come from ``models.metrics``.
    """
    model.eval()
    losses, v_scores, v_gt, f_scores, f_gt = [], [], [], [], []
    k = model.cfg.num_classes
    for clip in clips:
        x = torch.from_numpy(clip.x)[None].to(device)
        logits = model(x)
        r = model.video_logits(logits)
        if supervision == "full" and clip.frame_target is not None:
            tgt = torch.from_numpy(clip.frame_target)[None].to(device)
            losses.append(float(torch.stack([frame_ce(lg, tgt) for lg in logits]).mean()))
        elif supervision == "video":
            vt = torch.from_numpy(clip.video_target)[None].to(device)
            losses.append(float(torch.stack([mil_bce(rh, vt) for rh in r]).mean()))
        v_scores.append(torch.sigmoid(r).mean(0)[0, :k].cpu().numpy())
        v_gt.append(clip.video_target[:k] > 0)
        if clip.frame_target is not None:
            f_scores.append(torch.softmax(logits, -1).mean(0)[0, :, :k].cpu().numpy())
            f_gt.append(np.eye(k + 1, dtype=bool)[clip.frame_target][:, :k])
    out: dict[str, float] = {}
    if losses:
        out["loss"] = float(np.mean(losses))
    try:
        from .metrics import frame_map, video_map
    except ImportError:  # metrics are optional for training
        return out
    if v_gt and np.any(v_gt):
        out["video_map"] = float(video_map(np.stack(v_gt), np.stack(v_scores)))
    if f_gt and len(f_gt) == len(clips) and np.any([g.any() for g in f_gt]):
        out["frame_map"] = float(frame_map(f_gt, f_scores))
        out.update(_detection_map(clips, f_scores, v_scores, k))
    return {k2: v for k2, v in out.items() if math.isfinite(v)}


def _detection_map(
    clips: list[Clip], f_scores: list[np.ndarray], v_scores: list[np.ndarray], k: int
) -> dict:
    """Average detection mAP over tIoU 0.1:0.5 (``det_map``), offline proposals as in
    ``skelact detect --offline`` (``models.proposals``), in model frames. Best effort:
    reported when the metrics/proposals modules are available, skipped otherwise."""
    try:
        from ..stream.labels import frames_to_intervals
        from .metrics import detection_map
        from .proposals import propose

        gt = [
            (c.id, iv.class_id, iv.start, iv.end)
            for c in clips
            for iv in frames_to_intervals(c.frame_target, k)
        ]
        pred = [
            (c.id, cls, s, e, sc)
            for c, f, v in zip(clips, f_scores, v_scores)
            for cls, s, e, sc in propose(f, v)
        ]
        return {"det_map": float(detection_map(gt, pred)["avg"])} if gt else {}
    except (ImportError, TypeError, ValueError, KeyError) as e:  # modules still evolving
        log.warning("detection mAP skipped (%s: %s)", type(e).__name__, e)
        return {}


def _segments_file(path: str, ds: Dataset) -> dict:
    """A segments file's labels, checked against the training sequences (one-line errors)."""
    from .data import SupervisionError
    from .segment import read_segments_csv

    segs = read_segments_csv(path)
    if not any(s.id in segs for s in ds):
        raise SupervisionError(f"--segments {path}: names none of the {len(ds)} training sequences of {ds.name!r}")
    missing = sum(1 for s in ds if s.id not in segs)
    if missing:
        log.warning("--segments %s: %d of %d training sequences have no segments", path, missing, len(ds))
    return segs


def _segment_centres(segments: np.ndarray | None) -> np.ndarray:
    """(T,) segment targets -> (T,) one point (the class) at the centre of each labelled run."""
    if segments is None:
        return np.zeros(0, dtype=np.int64)
    out = np.full(len(segments), -1, dtype=np.int64)
    edges = np.flatnonzero(np.diff(np.concatenate([[-1], segments, [-1]])) != 0)
    for s, e in zip(edges[:-1], edges[1:]):
        if segments[s] >= 0:
            out[(s + e - 1) // 2] = segments[s]
    return out


def _licence(ds: Dataset) -> dict:
    """The licence a dataset's metadata states (the shared npz folders keep it in meta.json)."""
    lic = ds.meta.get("license")
    return {"licence": lic} if lic else {}


def _fmt(row: dict) -> str:
    keys = [k for k in row if k not in ("epoch", "seconds")]
    parts = " ".join(f"{k} {row[k]:.4f}" for k in keys)
    return f"epoch {row['epoch'] + 1:3d}  {parts}  ({row['seconds']:.1f}s)"


def train(train_ds: Dataset, cfg: TrainConfig, model_cfg: ModelConfig | None = None,
          out_dir: str | Path | None = None, eval_ds: Dataset | None = None,
          resume: str | Path | None = None, persons: int | None = None,
          on_epoch: Callable[[dict], None] | None = None, device: str = "cpu",
          on_step: Callable[[int, int], None] | None = None) -> TrainResult:  # fmt: skip
    """Train a model on ``train_ds``; write ``out_dir/last.ckpt`` (and ``best.ckpt``).

    ``model_cfg`` gives the backbone shape (CPU causal default); its ``num_classes``,
    ``persons``, ``joints``, ``channels`` and ``heads`` are set from the data and ``cfg``.
    ``persons`` (default: most persons in one frame, capped at 2) sets NormConfig.persons.
    ``on_epoch(row)`` receives each epoch's numbers (default: logged); ``on_step(done, total)``
    is called after every optimiser step with the steps done and the steps of the whole run
    (counting the epochs a resumed run skips), for a progress bar. Raises
    ``SupervisionError`` when the labels do not support ``cfg.supervision``. ``device``: where
    the model trains ("cpu", "cuda", ...); batches go there, the FLR bank stays on the CPU.
    """
    t_start = time.time()
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    check_supervision(train_ds, cfg.supervision, segments_file=bool(cfg.segments_file))
    persons = int(persons or dataset_persons(train_ds))
    norm = NormConfig(persons=persons)
    classes = class_list(train_ds)
    class_ids = [c["id"] for c in classes]
    model_cfg = replace(model_cfg or model_config(), num_classes=len(classes), persons=persons,
                        joints=norm.num_joints, channels=norm.channels, heads=cfg.heads)  # fmt: skip
    model = build_model(model_cfg).to(device)
    full = cfg.supervision == "full"
    seg_kw: dict = {}
    if cfg.supervision == "segment":
        seg_kw = dict(segment_len=segment_frames(cfg.fps, cfg.segment_frames),
                      segments_per_instance=cfg.segments_per_instance,
                      segments=_segments_file(cfg.segments_file, train_ds) if cfg.segments_file else None)  # fmt: skip
    clips = prepare_clips(train_ds, norm, cfg.fps, class_ids, frame_labels=full,
                          point_at=cfg.point_at if cfg.supervision == "point" else None, seed=cfg.seed,
                          **seg_kw)  # fmt: skip
    if not clips:
        raise ValueError(f"dataset {train_ds.name!r} has no usable training sequences")
    trained_on = [{"dataset": train_ds.name, "use": "classes", **_licence(train_ds)}]
    positives, held_out = clips, []
    if cfg.negatives:
        from .negatives import negative_clips

        budget = int(cfg.negative_ratio * sum(c.num_frames for c in clips))
        positives = list(clips)
        for i, spec in enumerate(cfg.negatives):
            neg, info, rest = negative_clips(spec, norm, cfg.fps, len(class_ids) + 1, budget // len(cfg.negatives),
                                             seed=cfg.seed + i, holdout_frames=CALIBRATION_FRAMES)  # fmt: skip
            clips += neg
            held_out += rest
            trained_on.append(info)
        offset = 0
        for c in clips:  # the FLR bank indexes all frames, negatives included
            c.offset = offset
            offset += c.num_frames
    eval_clips = (
        prepare_clips(eval_ds, norm, cfg.fps, class_ids, frame_labels=True) if eval_ds else []
    )
    aug = None
    bank_needed = cfg.supervision == "video" and cfg.method == "flr"
    if cfg.augment:
        from .augment import AugmentConfig

        # FLR's pseudo-label bank indexes source frames: no frame-rate jitter there
        aug = AugmentConfig(fps_jitter=0.0) if bank_needed else AugmentConfig()
    data = ClipDataset(clips, cfg.crop_length(persons), cfg.seed, cfg.swap_persons and persons > 1, augment=aug,
                       velocity_gain=norm.velocity_gain)  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = sum(c.num_frames for c in clips)
    bank = PseudoLabelBank(total, model_cfg.num_outputs, cfg.flr_window) if bank_needed else None
    multires = cfg.supervision == "video" and cfg.method == "multires"
    pseudo: dict[str, np.ndarray] | None = None
    history: list[dict] = []
    start, best_loss, best_epoch = 0, math.inf, None
    if resume is not None:
        ck = read_checkpoint(resume)
        if ModelConfig.from_dict(ck["model_args"]) != model_cfg:
            raise ValueError(
                f"{resume}: its model arguments differ from this run's; resume with the same settings"
            )
        if [int(c["id"]) for c in ck["classes"]] != class_ids:
            raise ValueError(f"{resume}: trained on other classes than this dataset's")
        state = ck["extra"].get("resume")
        if state is None:
            raise ValueError(f"{resume}: holds no resume state (use last.ckpt)")
        model.load_state_dict(
            ck["state_dict"]
        )  # before the optimizer: its state follows the params
        opt.load_state_dict(state["optimizer"])
        if bank is not None and state.get("bank") is not None:
            bank.load_state_dict(state["bank"])
        if multires:
            pseudo = state.get("pseudo_labels")
            if pseudo is None:
                raise ValueError(f"{resume}: holds no multires pseudo labels, so the teacher stages "
                                 "cannot be skipped; start the run again without --resume")  # fmt: skip
            pseudo = {k: np.asarray(v, dtype=np.int64) for k, v in pseudo.items()}
        history = list(ck["extra"].get("history", []))
        start = int(state["epoch"]) + 1
        best_loss = float(state.get("best_loss", math.inf))
        best_epoch = state.get("best_epoch")
    log.info("%s model, %d parameters, receptive field %d frames, lookahead %d; %d clips (%d frames at %g fps), "
             "%d held-out", model_cfg.arch, count_parameters(model), model.receptive_field, model.lookahead,
             len(clips), total, cfg.fps, len(eval_clips))  # fmt: skip
    out = Path(out_dir) if out_dir is not None else None
    if cfg.supervision == "segment" and out is not None:
        from .segment import write_segments_csv

        out.mkdir(parents=True, exist_ok=True)
        write_segments_csv(out / "segments.csv", {c.id: c.segment_list for c in positives if c.segment_list})
    if multires:
        from .multires import multires_pseudo_labels

        if pseudo is None:
            pseudo = multires_pseudo_labels(positives, cfg, model_cfg, device)
        for c in positives:
            if c.id not in pseudo or len(pseudo[c.id]) != c.num_frames:
                raise ValueError(f"multires pseudo labels do not match clip {c.id!r} (different data?)")
            c.frame_target = pseudo[c.id]
    meta = dict(classes=classes, norm=norm, fps=cfg.fps, layout_trained_on=train_ds.layout,
                dataset=train_ds.name)  # fmt: skip
    data_extra = {"trained_on": trained_on}
    total_steps = done_steps = 0
    if on_step is not None:  # counted exactly: crops per epoch vary with their random phases
        for e in range(cfg.epochs):
            data.set_epoch(e)  # _run_epoch sets its own epoch again
            total_steps += math.ceil(len(data) / cfg.batch_size)
            done_steps = total_steps if e < start else done_steps

    def step_done() -> None:
        nonlocal done_steps
        done_steps += 1
        on_step(done_steps, total_steps)

    for epoch in range(start, cfg.epochs):
        t0 = time.time()
        row: dict = {"epoch": epoch, **_run_epoch(model, data, opt, cfg, epoch, bank, device,
                                                  step_done if on_step else None)}  # fmt: skip
        last = epoch == cfg.epochs - 1
        if eval_clips and ((epoch + 1) % max(cfg.eval_every, 1) == 0 or last):
            row.update(
                {
                    f"test_{k}": v
                    for k, v in evaluate(model, eval_clips, cfg.supervision, device).items()
                }
            )
        row["seconds"] = time.time() - t0
        history.append(row)
        (on_epoch or (lambda r: log.info("%s", _fmt(r))))(row)
        improved = "test_loss" in row and row["test_loss"] < best_loss
        if improved:
            best_loss, best_epoch = row["test_loss"], epoch
        if out is not None:
            extra = {"epoch": epoch, "history": history, "best_epoch": best_epoch, **data_extra}
            if improved:
                save_checkpoint(out / "best.ckpt", model, model_cfg, cfg, extra=extra, **meta)
            resume_state = {"epoch": epoch, "optimizer": opt.state_dict(), "best_loss": best_loss,
                            "best_epoch": best_epoch, "bank": bank.state_dict() if bank else None}  # fmt: skip
            if pseudo is not None:  # the teachers' labels: a resumed run skips the teacher stages
                resume_state["pseudo_labels"] = {k: torch.from_numpy(v.astype(np.int16)) for k, v in pseudo.items()}
            save_checkpoint(
                out / "last.ckpt",
                model,
                model_cfg,
                cfg,
                extra={**extra, "resume": resume_state},
                **meta,
            )
    model.eval().cpu()
    # a resumed run with no epochs left only recalibrates
    wanted = cfg.calibrate == "always" or (cfg.calibrate == "auto" and held_out)
    if wanted and cfg.supervision in ("full", "point", "segment") and out is not None and (
            start < cfg.epochs or resume is not None):  # fmt: skip
        from .calibrate import calibrate_decision, clip_scores, point_instances

        log.info("calibrating decision thresholds on %d training recordings and %d held-out negative frames",
                 len(positives), sum(c.num_frames for c in held_out))  # fmt: skip
        if full:
            decision = calibrate_decision(clip_scores(model, positives), [c.frame_target for c in positives],
                                          clip_scores(model, held_out), cfg.fps)  # fmt: skip
        else:  # point labels (segment labels: their centres): a start near the point finds the instance
            pts = [c.points if c.points is not None else _segment_centres(c.segments) for c in positives]
            point = cfg.supervision == "point"  # points: decided within -0.5/+1.0 s; segment centres: 2 s before
            decision = calibrate_decision(clip_scores(model, positives), None, clip_scores(model, held_out), cfg.fps,
                                          pos_instances=[point_instances(p, cfg.fps, before_s=0.5 if point else 2.0)
                                                         for p in pts], by_trigger=point)  # fmt: skip
        data_extra["decision"] = decision
        for name in ("last.ckpt", "best.ckpt"):
            if (out / name).is_file():
                ck = read_checkpoint(out / name)
                ck["extra"]["decision"] = decision
                tmp = out / f".{name}.tmp"
                torch.save(ck, tmp)
                tmp.replace(out / name)
    return TrainResult(model, model_cfg, cfg, history, best_epoch, time.time() - t_start, out)
