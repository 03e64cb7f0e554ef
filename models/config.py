"""Model and training configuration: frozen dataclasses, stored in checkpoints as plain dicts.

Two sets of defaults exist for each: the paper's (Yu & Fujiwara, AAAI 2023, "Frame-Level
Label Refinement for Skeleton-Based Weakly-Supervised Action Recognition": AGCN backbone
with D = 256, Adam 1e-4, batch 8, 100 epochs, delta = 5, tau = 2, alpha = 0.2,
lambda_pseudo = 1, lambda_KL = 0.5, pseudo labels from epoch 10 averaged over 10 epochs)
and CPU defaults sized so one PRECOG run takes minutes on two cores (narrower backbone,
higher learning rate, fewer epochs). ``--paper`` on the command line selects the former.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

__all__ = ["ARCHS", "ModelConfig", "TrainConfig", "model_config", "train_config"]

ARCHS = ("causal", "agcn")
CALIBRATE = ("auto", "always", "never")  # decision thresholds: with held-out negatives / always / never
DEFAULT_CROP = 512  # person-frames per training crop (crop_frames = 0)
SUPERVISION = ("full", "video", "point", "segment")
METHODS = ("mil", "flr", "multires", "point", "lacp", "segment")
POINT_METHODS = ("point", "lacp")
# the methods each supervision takes (full ignores --method)
METHODS_FOR = {"video": ("mil", "flr", "multires"), "point": POINT_METHODS, "segment": ("segment",)}
# parts a method's --ablate may switch off (models/segment.py, models/multires.py)
ABLATE_PARTS = {"segment": ("psl", "sphere", "propagation"), "multires": ("multires", "cross-stream")}


def _plain(d: dict) -> dict:
    """Tuples -> lists so the dict survives ``torch.load(weights_only=True)`` and JSON."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _from_plain(cls, d: dict):
    kw = {}
    for f in fields(cls):
        if f.name in d:
            v = d[f.name]
            kw[f.name] = tuple(v) if isinstance(v, list) else v
    return cls(**kw)


@dataclass(frozen=True)
class ModelConfig:
    """Constructor arguments of the whole network (backbone + heads).

    ``arch``: "causal" (stride 1, dilated causal temporal convolutions, step-able) or
    "agcn" (the paper's AGCN: stride-2 temporal blocks to T/8, linear upsampling back to
    T; non-causal, served in window mode with a lookahead).
    Input is ``(N, T, persons, joints, channels)``; outputs are ``num_classes + 1``
    (the action classes in dataset class-id order, then background last).
    ``widths`` are the output channels of each graph block (the last one is the feature
    dimension D). ``dilations`` (causal) and ``strides`` (agcn) have one entry per block;
    ``extra_stride`` is the paper's stride-2 temporal block after the first AGCN block
    (0 = none). ``kernel`` is the temporal kernel size in frames.
    """

    arch: str = "causal"
    num_classes: int = 8
    persons: int = 1
    joints: int = 20
    channels: int = 6
    widths: tuple[int, ...] = (32, 32, 64, 64, 64, 64)
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    strides: tuple[int, ...] = ()
    extra_stride: int = 0
    kernel: int = 3
    adaptive: bool = True
    embed_ratio: int = 4
    heads: int = 1
    delta: float = 5.0
    tau: float = 2.0

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.num_classes < 1:
            raise ValueError("num_classes must be >= 1")
        if not self.widths:
            raise ValueError("widths must name at least one block")
        if self.arch == "causal" and len(self.dilations) != len(self.widths):
            raise ValueError(
                f"causal: {len(self.dilations)} dilations for {len(self.widths)} blocks"
            )
        if self.arch == "agcn" and len(self.strides) != len(self.widths):
            raise ValueError(f"agcn: {len(self.strides)} strides for {len(self.widths)} blocks")
        if self.kernel < 1 or (self.arch == "agcn" and self.kernel % 2 == 0):
            raise ValueError(f"kernel must be >= 1 (odd for agcn), got {self.kernel}")
        if self.heads not in (1, 2):
            raise ValueError(f"heads must be 1 or 2, got {self.heads}")

    @property
    def feature_dim(self) -> int:
        """D: the dimension of the L2-normalised per-frame feature."""
        return self.widths[-1]

    @property
    def num_outputs(self) -> int:
        """K + 1: action classes plus background (last)."""
        return self.num_classes + 1

    def to_dict(self) -> dict:
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        return _from_plain(cls, d)


# Backbone shapes per (arch, paper). The paper's AGCN is 2s-AGCN's ten blocks (widths 64..256,
# stride 2 at blocks 5 and 8, kernel 9) plus a stride-2 temporal block after block 1: T/8.
_PAPER_AGCN = dict(
    widths=(64, 64, 64, 64, 128, 128, 128, 256, 256, 256),
    strides=(1, 1, 1, 1, 2, 1, 1, 2, 1, 1), extra_stride=2, kernel=9, dilations=(),
)  # fmt: skip
_CPU_AGCN = dict(
    widths=(32, 32, 32, 64, 64, 64, 128),
    strides=(1, 1, 1, 2, 1, 1, 2), extra_stride=2, kernel=9, dilations=(),
)  # fmt: skip
# Causal "paper" variant: the same widths (D = 256) at stride 1; the dilations give a
# receptive field (1 + 2 * 118 = 237 frames, 7.9 s at 30 fps) comparable to the AGCN's.
_PAPER_CAUSAL = dict(
    widths=(64, 64, 64, 64, 128, 128, 128, 256, 256, 256),
    dilations=(1, 2, 4, 8, 16, 1, 2, 4, 16, 64), kernel=3, strides=(), extra_stride=0,
)  # fmt: skip
# CPU causal default: receptive field 1 + 2 * 63 = 127 frames (4.2 s at 30 fps); widths 16..32
# (the bundled models'): 98.9 against 99.7 streaming det mAP on PRECOG for 32..64, at a quarter
# of the compute in the wide blocks and about half the training memory.
_CPU_CAUSAL = dict(
    widths=(16, 16, 32, 32, 32, 32),
    dilations=(1, 2, 4, 8, 16, 32), kernel=3, strides=(), extra_stride=0,
)  # fmt: skip


def model_config(arch: str = "causal", paper: bool = False, **overrides) -> ModelConfig:
    """The default ModelConfig for ``arch`` (paper or CPU sizes), with ``overrides``."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    base = {("agcn", True): _PAPER_AGCN, ("agcn", False): _CPU_AGCN,
            ("causal", True): _PAPER_CAUSAL, ("causal", False): _CPU_CAUSAL}[(arch, paper)]  # fmt: skip
    return ModelConfig(arch=arch, **{**base, **overrides})


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained (stored in the checkpoint next to the model args).

    Units: ``fps`` is the model's frame rate (sequences are resampled to it);
    ``crop_frames`` is the longest training clip in model frames (longer sequences
    are tiled into crops at a random phase each epoch; a crop keeps the whole video's
    label set, which is the weak label we are given); 0 = 512 frames for one person, 256
    for two (``crop_length``: a batch's memory grows with frames x persons); epochs index
    from 0.

    FLR (method "flr"): two heads; loss = L_bce + lambda_pseudo * L_pseudo +
    lambda_kl * L_KL. Pseudo labels for epoch e are the mean frame softmax of epochs
    [e - flr_window, e - 1], used from epoch ``flr_start`` on (paper: 10 and 10).

    ``negatives``: other datasets (``PATH[:ID,...]``, ids = their classes that overlap
    ours) whose train-split recordings are added as background-only clips, about
    ``negative_ratio`` times as many frames as the positives (``models/negatives.py``).

    ``point_at`` (point supervision on data with intervals): where each instance's one
    labelled frame is drawn, ``gaussian`` around the centre, ``uniform`` or ``center``
    (seeded per sequence: ``stream.labels.point_rng``). Point supervision: method
    ``point`` (video + point classification with pseudo background points) or ``lacp``
    (plus completeness learning: optimal-sequence search, score and feature contrast;
    ``models/lacp.py``).

    ``augment``: random view, body, frame-rate, noise, dropout and second-person changes
    of every training crop (``models/augment.py``), for other sources than the training one.

    Segment supervision (method ``segment``, ``models/segment.py``): ``segment_frames``
    model frames per labelled segment (0 = the paper's 16 frames at 30 fps scaled to
    ``fps``), ``segments_per_instance`` (1 or 2) drawn inside each interval with the run's
    seed, or read from ``segments_file`` (a ``kind=segment`` CSV); ``segment_weights``: alpha,
    beta, gamma of its Eq. 1 (partial segment, sphere, propagation; the paper's 0.1, 1e-4, 0.02).

    Multi-resolution refinement (method ``multires``, ``models/multires.py``):
    ``ptlr_rounds`` rounds of progressive temporal label refinement (0 = the initial labels
    train the student directly), each teacher stage ``teacher_epochs`` epochs (0 = a quarter
    of ``epochs``, at least 1); ``epochs`` is the causal student's budget.

    ``ablate``: parts of the method switched off, for ablations: segment: ``psl``,
    ``sphere``, ``propagation``; multires: ``multires`` (single temporal resolution: no
    multi-resolution consistency, both PTLR networks at the original scale),
    ``cross-stream`` (no joint/motion consistency).

    ``calibrate``: per-class decision thresholds fitted after training (``auto``: when
    negatives were held out; ``always``: also without, on the training recordings alone;
    ``never``: the runtime's defaults).

    ``classes``: the dataset's class ids the model learns (empty = all); instances of the
    others are background.

    ``eval_every``: epochs between held-out evaluations (the last epoch is always scored);
    ``threads``: torch CPU threads; ``swap_persons``: randomly permute the person slots of
    multi-person clips (the model sees persons jointly; this keeps it slot-order agnostic).
    """

    supervision: str = "video"
    method: str = "flr"
    epochs: int = 40
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    seed: int = 0
    fps: float = 30.0
    crop_frames: int = 0
    swap_persons: bool = True
    lambda_pseudo: float = 1.0
    lambda_kl: float = 0.5
    alpha: float = 0.2
    flr_start: int = 10
    flr_window: int = 10
    threads: int = 2
    eval_every: int = 2
    negatives: tuple[str, ...] = ()
    negative_ratio: float = 1.0
    augment: bool = False
    point_at: str = "gaussian"
    segment_frames: int = 0
    segments_per_instance: int = 1
    segments_file: str = ""
    segment_weights: tuple[float, ...] = (0.1, 1e-4, 0.02)
    ptlr_rounds: int = 3
    teacher_epochs: int = 0
    ablate: tuple[str, ...] = ()
    classes: tuple[int, ...] = ()
    calibrate: str = "auto"

    def __post_init__(self) -> None:
        if self.calibrate not in CALIBRATE:
            raise ValueError(f"calibrate must be one of {CALIBRATE}, got {self.calibrate!r}")
        if self.negative_ratio < 0:
            raise ValueError(f"negative_ratio must be >= 0, got {self.negative_ratio}")
        if self.supervision not in SUPERVISION:
            raise ValueError(f"supervision must be one of {SUPERVISION}, got {self.supervision!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        want = METHODS_FOR.get(self.supervision)
        if want is not None and self.method not in want:
            raise ValueError(f"--supervision {self.supervision} takes --method {' or '.join(want)}, "
                             f"not {self.method!r}")  # fmt: skip
        parts = ABLATE_PARTS.get(self.method, ()) if self.supervision != "full" else ()
        bad = [a for a in self.ablate if a not in parts]
        if bad:
            allowed = f"one of {', '.join(parts)}" if parts else "nothing"
            raise ValueError(f"--ablate {','.join(bad)}: method {self.method!r} can switch off {allowed}")
        if len(self.segment_weights) != 3 or min(self.segment_weights) < 0:
            raise ValueError(f"segment_weights must be 3 numbers >= 0, got {self.segment_weights}")
        if self.segments_per_instance not in (1, 2):
            raise ValueError(f"segments_per_instance must be 1 or 2, got {self.segments_per_instance}")
        if self.segment_frames < 0 or self.ptlr_rounds < 0 or self.teacher_epochs < 0:
            raise ValueError("segment_frames, ptlr_rounds and teacher_epochs must be >= 0")
        if self.epochs < 1 or self.batch_size < 1 or self.crop_frames < 0:
            raise ValueError("epochs and batch_size must be >= 1, crop_frames >= 0")
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")
        if self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.flr_window < 1:
            raise ValueError("flr_window must be >= 1")

    @property
    def heads(self) -> int:
        """Two classifier heads for FLR's multi-view learning and for segment supervision's
        classification and localization modules, one otherwise."""
        return 2 if (self.supervision, self.method) in (("video", "flr"), ("segment", "segment")) else 1

    def crop_length(self, persons: int) -> int:
        """Training crop in model frames: ``crop_frames``, or by default 512 person-frames
        (512 frames of one person, 256 of two): what keeps a default run under 2 GB."""
        return self.crop_frames or max(DEFAULT_CROP // max(int(persons), 1), 64)

    def to_dict(self) -> dict:
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return _from_plain(cls, d)


def train_config(paper: bool = False, **overrides) -> TrainConfig:
    """CPU defaults, or the paper's (Adam 1e-4, batch 8, 100 epochs, whole videos)."""
    base = dict(epochs=100, lr=1e-4, batch_size=8, crop_frames=100_000) if paper else {}
    return replace(TrainConfig(), **{**base, **overrides})
