"""Checkpoint -> self-describing ONNX (window or step graph), with a parity check.

Window graph: input ``x`` (N, T, M, V, C) float32 (batch, frames, persons, canonical
joints, channels), output ``probs`` (N, T, K+1) per-frame class probabilities with the
background last; N and T are dynamic.

Step graph (causal models only): inputs ``x`` (N, M, V, C) — one frame per track —
and the state tensors ``state_i``; outputs ``probs`` (N, K+1) and ``state_i_out``.
``state="ring"`` (default): ``state_i`` holds only the k-1 past inputs block i's dilated
kernel reads, (N, k-1, C, M*V), and ``state_i_out`` is this frame's input column
(N, C, M*V); the runtime keeps the history (``stream/state.py``). ``state="carry"``:
``state_i`` is block i's whole history (N, C, (k-1)d, M*V), returned updated. Zero state =
a past of zero-padded frames, exactly like the window graph's padding.

Every file carries the ``skelact`` metadata entry (``stream/metadata.py``), and the
export fails unless ONNX Runtime reproduces torch within ``tolerance`` on random and on
real input.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..stream.metadata import META_KEY, ModelMeta, StateSpec
from ..stream.normalize import NormConfig

__all__ = ["ExportError", "ExportResult", "export_checkpoint"]

log = logging.getLogger(__name__)

FP32_TOLERANCE = 1e-4
FP16_TOLERANCE = 5e-3  # probabilities; fp16 keeps ~3 significant digits


class ExportError(RuntimeError):
    """The checkpoint cannot be exported as asked (message says why)."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    meta: ModelMeta
    max_abs_diff: float
    tolerance: float
    size_bytes: int


def _torch():
    import torch

    return torch


@contextmanager
def _staged(out: Path):
    """A scratch path beside ``out``: the export is written and checked there and renamed
    to ``out`` only when it passes, so a failed export leaves an existing ``out`` as it was."""
    tmp = out.with_name(out.name + ".partial")
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _window_module(model):
    torch = _torch()

    class Window(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model.infer(x)

    return Window().eval()


def _step_module(model, ring: bool):
    torch = _torch()

    class Step(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x, *state):
            probs, new = (self.model.tap_step if ring else self.model.step)(x, list(state))
            return (probs, *new)

    return Step().eval()


def _real_input(norm: NormConfig, fps: float, frames: int, data: str | None) -> np.ndarray | None:
    """A real sequence (bundled PRECOG by default), preprocessed as the runtime does."""
    from ..stream.assets import precog_path
    from ..stream.formats import load_dataset
    from ..stream.prepare import prepare_sequence

    try:
        ds = load_dataset(data or precog_path())
    except Exception as e:  # parity on real data is best effort when data is missing
        log.warning("no real data for the parity check (%s)", e)
        return None
    seq = max(ds, key=lambda s: s.num_frames)
    x = prepare_sequence(seq, norm, fps).x[:frames]
    return x[None].astype(np.float32)


def export_checkpoint(
    ckpt: str | Path,
    out: str | Path,
    mode: str = "window",
    window: int | None = None,
    fp16: bool = False,
    opset: int = 17,
    parity_data: str | None = None,
    name: str | None = None,
    state: str = "ring",
    tolerance: float | None = None,
) -> ExportResult:
    """Export ``ckpt`` to ``out`` as a ``mode`` graph; raises ExportError with a reason."""
    torch = _torch()
    import onnx

    from ..models.checkpoint import load_checkpoint

    if mode not in ("window", "step"):
        raise ExportError(f"mode must be 'window' or 'step', got {mode!r}")
    if state not in ("ring", "carry"):
        raise ExportError(f"state must be 'ring' or 'carry', got {state!r}")
    try:
        model, info = load_checkpoint(ckpt)
    except FileNotFoundError:
        raise ExportError(f"{ckpt}: no such checkpoint") from None
    except Exception as e:
        raise ExportError(f"{ckpt}: not a skelact checkpoint ({type(e).__name__}: {e})") from None
    model.eval()
    norm = NormConfig.from_dict(info["norm"])
    fps = float(info["fps"])
    rf = int(model.receptive_field)
    lookahead = int(model.lookahead)
    if mode == "step" and (lookahead != 0 or not hasattr(model, "step")):
        raise ExportError(
            f"{ckpt}: a step graph needs a causal model (this one is {info.get('arch', '?')} with "
            f"lookahead {lookahead} frames); export it with --mode window"
        )
    win = int(window or max(64, rf if mode == "window" else 0, 2 * lookahead + 1))
    classes = tuple((int(c["id"]), str(c["name"])) for c in info["classes"])
    m, v, c = norm.persons, norm.num_joints, norm.channels
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state_specs: tuple[StateSpec, ...] = ()
    reference = model
    if fp16:
        import copy

        reference = copy.deepcopy(model)  # fp16 is judged against the fp32 model it approximates
        model = model.half()
    dtype = torch.float16 if fp16 else torch.float32
    with _staged(out) as tmp:
        with torch.no_grad():
            if mode == "window":
                mod = _window_module(model)
                dummy = (torch.zeros(1, win, m, v, c, dtype=dtype),)
                in_names, out_names = ["x"], ["probs"]
                dyn = {"x": {0: "batch", 1: "frames"}, "probs": {0: "batch", 1: "frames"}}
            else:
                ring = state == "ring"
                state0 = model.init_taps(1) if ring else model.init_state(1)
                names = [f"state_{i}" for i in range(len(state0))]
                if ring:
                    state_specs = tuple(StateSpec(n, tuple(s.shape[1:]), "ring", tuple(o))
                                        for n, s, (o, _c) in zip(names, state0, model.ring_specs()))  # fmt: skip
                else:
                    state_specs = tuple(StateSpec(n, tuple(s.shape[1:])) for n, s in zip(names, state0))
                mod = _step_module(model, ring)
                dummy = (torch.zeros(1, m, v, c, dtype=dtype), *[s.to(dtype) for s in state0])
                in_names = ["x", *names]
                out_names = ["probs", *[f"{n}_out" for n in names]]
                dyn = {n: {0: "batch"} for n in in_names + out_names}
            try:
                torch.onnx.export(
                    mod, dummy, str(tmp), input_names=in_names, output_names=out_names,
                    dynamic_axes=dyn, opset_version=opset, dynamo=False,
                )  # fmt: skip
            except Exception as e:
                raise ExportError(f"{ckpt}: torch.onnx.export failed ({type(e).__name__}: {e})") from None
        meta = ModelMeta(
            name=name or info.get("name") or Path(ckpt).stem,
            classes=classes,
            background_index=int(info.get("background_index", len(classes))),
            mode=mode,
            fps=fps,
            norm=norm,
            receptive_field=rf,
            lookahead=lookahead,
            window=win,
            trained_on_layout=str(info.get("layout", "")),
            state=state_specs,
            decision=dict(info["extra"].get("decision") or {}),
            data=tuple(info["extra"].get("trained_on") or ()),
            extra={
                "arch": info.get("arch"),
                "model_args": info.get("model_args"),
                "dataset": info.get("dataset"),
                "fp16": fp16,
                "state": state if mode == "step" else None,
                "checkpoint": Path(ckpt).name,
            },
        )
        proto = onnx.load(str(tmp))
        del proto.metadata_props[:]
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_KEY, meta.to_json()
        proto.producer_name = "skelact"
        onnx.save(proto, str(tmp))
        tol = tolerance if tolerance is not None else (FP16_TOLERANCE if fp16 else FP32_TOLERANCE)
        diff = _parity(reference, tmp, meta, parity_data)
        if not diff <= tol:
            hint = (" (float16 does not hold this model's probabilities within the tolerance: serve the "
                    "float32 graph, or accept the error with --tolerance)") if fp16 else ""
            raise ExportError(f"{out}: ONNX Runtime differs from the float32 torch model by {diff:.2e} > "
                              f"{tol:.0e}{hint}; nothing written")  # fmt: skip
        tmp.replace(out)
        log.info("exported %s (%s, max |torch - ORT| = %.2e)", out, mode, diff)
        return ExportResult(out, meta, diff, tol, out.stat().st_size)


def _parity(model, path: Path, meta: ModelMeta, parity_data: str | None) -> float:
    """Max |torch fp32 - ONNX Runtime| over a random and a real input."""
    torch = _torch()
    from ..stream.engine import Engine
    from ..stream.state import StateBank

    eng = Engine(path, provider="cpu")
    rng = np.random.default_rng(0)
    m, v, c = meta.persons, meta.norm.num_joints, meta.norm.channels
    inputs = [rng.normal(size=(2, 48, m, v, c)).astype(np.float32)]
    real = _real_input(meta.norm, meta.fps, 160, parity_data)
    if real is not None and real.shape[2] == m:
        inputs.append(real)
    worst = 0.0
    for x in inputs:
        with torch.no_grad():
            ref = model.infer(torch.from_numpy(x)).numpy()
        if meta.mode == "window":
            got = eng.run_window(x)
        else:
            bank = StateBank(eng, capacity=len(x))
            slots = [bank.allocate() for _ in range(len(x))]
            got = np.stack([bank.step(x[:, t], slots) for t in range(x.shape[1])], axis=1)
        worst = max(worst, float(np.abs(ref - got).max()))
    return worst
