"""The `skelact` metadata entry every exported ONNX model carries.

One ``metadata_props`` entry, key ``skelact``, value a JSON object (never ``repr``).
The runtime reads everything it needs from it — classes, the joint set and channels
the graph expects, normalisation, fps, receptive field and lookahead, streaming mode
and state tensors — and refuses a model without it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .normalize import NormConfig

__all__ = ["FORMAT_VERSION", "META_KEY", "STATE_KINDS", "ModelError", "ModelMeta", "StateSpec"]

META_KEY = "skelact"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 2 added ``decision`` and ``data``; version-1 files load unchanged
MODES = ("window", "step")


class ModelError(ValueError):
    """A model file is unusable (missing/invalid metadata, wrong graph signature)."""


STATE_KINDS = ("carry", "ring")


@dataclass(frozen=True)
class StateSpec:
    """A step-mode state tensor: graph input ``name``, graph output ``name + '_out'``;
    ``shape`` is the input's shape without the leading batch axis.

    ``kind`` says who keeps the history:

    * ``carry``: the graph returns the whole next state, same shape as the input; the
      runtime feeds it back on the track's next frame (zeros at the start).
    * ``ring``: the runtime keeps a ring of the last ``max(offsets)`` columns per track;
      the input is the columns ``offsets`` frames back (oldest first, so ``shape`` is
      ``(len(offsets), *column)``), zeros before the track's first frame; the output is
      this frame's column (shape ``column``), appended to the ring after the step.
    """

    name: str
    shape: tuple[int, ...]
    kind: str = "carry"
    offsets: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in STATE_KINDS:
            raise ModelError(f"state {self.name!r}: kind must be one of {STATE_KINDS}, got {self.kind!r}")
        if any(int(v) < 1 for v in self.shape):
            raise ModelError(f"state {self.name!r}: shape {list(self.shape)} has a non-positive size")
        if self.kind == "ring":
            o = self.offsets
            if not o or any(v < 1 for v in o) or list(o) != sorted(set(o), reverse=True):
                raise ModelError(f"state {self.name!r}: ring offsets must be distinct positive frames, "
                                 f"oldest first, got {list(o)}")  # fmt: skip
            if len(self.shape) < 2 or self.shape[0] != len(o):
                raise ModelError(f"state {self.name!r}: a ring state's shape starts with its "
                                 f"{len(o)} taps, got {list(self.shape)}")  # fmt: skip

    @property
    def history(self) -> int:
        """Columns kept per track (ring states)."""
        return max(self.offsets) if self.kind == "ring" else 0

    @property
    def column(self) -> tuple[int, ...]:
        """Shape of the graph's output for this state, without the batch axis."""
        return self.shape[1:] if self.kind == "ring" else self.shape

    def to_dict(self) -> dict:
        d: dict = {"name": self.name, "shape": list(self.shape), "kind": self.kind}
        if self.kind == "ring":
            d["offsets"] = list(self.offsets)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> StateSpec:
        return cls(str(d["name"]), tuple(int(v) for v in d["shape"]), str(d.get("kind", "carry")),
                   tuple(int(v) for v in d.get("offsets", ())))  # fmt: skip


@dataclass(frozen=True)
class ModelMeta:
    """What the runtime needs to know about a model (see docs/model-format.md).

    Class order is the model's output order; ``background_index`` is the extra output.
    ``receptive_field`` and ``lookahead`` are in model frames (at ``fps``): in window
    mode the runtime feeds ``window`` frames and reads the score of frame
    ``window - 1 - lookahead``, so every decision is delayed by ``lookahead`` frames.
    """

    name: str
    classes: tuple[tuple[int, str], ...]
    background_index: int
    mode: str
    fps: float
    norm: NormConfig
    receptive_field: int
    lookahead: int = 0
    window: int = 64
    layout: str = "canonical20"
    trained_on_layout: str = "kinect_v1_20"
    input_name: str = "x"
    output_name: str = "probs"
    state: tuple[StateSpec, ...] = ()
    format_version: int = FORMAT_VERSION
    extra: dict = field(default_factory=dict, compare=False)
    decision: dict = field(default_factory=dict, compare=False)
    data: tuple[dict, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ModelError(f"model mode must be one of {MODES}, got {self.mode!r}")
        k = len(self.classes)
        if not 0 <= self.background_index <= k:
            raise ModelError(f"background_index {self.background_index} outside 0..{k}")
        if self.mode == "step" and not self.state:
            raise ModelError("a step-mode model must list its state tensors")
        if self.mode == "window" and self.window < self.lookahead + 1:
            raise ModelError(f"window {self.window} shorter than lookahead + 1 ({self.lookahead + 1})")
        if self.decision:
            try:
                self.event_config()
            except (ValueError, TypeError, KeyError) as e:
                raise ModelError(f"invalid decision settings in the metadata: {e}") from None

    def event_config(self, **overrides):
        """The model's own decision settings as an ``EventConfig``: per-class ``on``,
        ``off`` and ``min_frames`` and a ``min_gap`` from ``decision`` where present,
        the defaults elsewhere. ``overrides`` (any of on, off, min_frames, min_gap) set
        that setting for every class: explicit flags win over the metadata. ValueError
        when the result is inconsistent (e.g. an ``off`` above a class's ``on``)."""
        from .events import EventConfig

        d, k = self.decision, len(self.classes)
        kw: dict = {}
        for key in ("on", "off", "min_frames"):
            if key in overrides:
                kw[key] = overrides[key]
            elif key in d:
                vals = list(d[key])
                if len(vals) != k:
                    raise ValueError(f"decision {key} has {len(vals)} values for {k} classes")
                cast = int if key == "min_frames" else float
                kw[f"{key}_by_class"] = tuple(cast(v) for v in vals)
        if "min_gap" in overrides or "min_gap" in d:
            kw["min_gap"] = int(overrides.get("min_gap", d.get("min_gap")))
        return EventConfig(**kw)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_outputs(self) -> int:
        return len(self.classes) + 1

    @property
    def persons(self) -> int:
        return self.norm.persons

    @property
    def action_indices(self) -> list[int]:
        """Output indices of the action classes (all but background), in class order."""
        return [i for i in range(self.num_outputs) if i != self.background_index]

    @property
    def lookahead_s(self) -> float:
        return self.lookahead / self.fps

    def to_json(self) -> str:
        d = asdict(self)
        d["classes"] = [{"id": c, "name": n} for c, n in self.classes]
        d["norm"] = self.norm.to_dict()
        d["state"] = [s.to_dict() for s in self.state]
        d["data"] = [dict(x) for x in self.data]
        return json.dumps(d, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str, source: str = "model") -> ModelMeta:
        try:
            d = json.loads(text)
            version = int(d.get("format_version", 0))
            if version not in READABLE_VERSIONS:
                raise ModelError(
                    f"{source}: skelact metadata format {version} is not supported "
                    f"(this skelact reads formats {', '.join(map(str, READABLE_VERSIONS))})"
                )
            return cls(
                name=str(d["name"]),
                classes=tuple((int(c["id"]), str(c["name"])) for c in d["classes"]),
                background_index=int(d["background_index"]),
                mode=str(d["mode"]),
                fps=float(d["fps"]),
                norm=NormConfig.from_dict(d["norm"]),
                receptive_field=int(d["receptive_field"]),
                lookahead=int(d.get("lookahead", 0)),
                window=int(d.get("window", 64)),
                layout=str(d.get("layout", "canonical20")),
                trained_on_layout=str(d.get("trained_on_layout", "")),
                input_name=str(d.get("input_name", "x")),
                output_name=str(d.get("output_name", "probs")),
                state=tuple(StateSpec.from_dict(s) for s in d.get("state", [])),
                format_version=version,
                extra=dict(d.get("extra", {})),
                decision=dict(d.get("decision") or {}),
                data=tuple(dict(x) for x in d.get("data") or ()),
            )
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ModelError(f"{source}: invalid skelact metadata ({type(e).__name__}: {e})") from None

    def summary(self) -> dict:
        """Short description for the runtime's status message."""
        return {
            "name": self.name,
            "classes": [{"id": c, "name": n} for c, n in self.classes],
            "mode": self.mode,
            "lookahead": self.lookahead_s,
        }
