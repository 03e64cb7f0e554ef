"""ONNX Runtime inference for skelact models (window and step graphs).

Provider choice: ``auto`` asks for TensorRT/CUDA only when the NVIDIA driver library
actually loads (``onnxruntime-gpu`` lists CUDA as "available" on machines without it and
prints errors when asked), and the truth is read back from ``session.get_providers()``.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

import numpy as np

from .metadata import META_KEY, ModelError, ModelMeta

__all__ = ["Engine", "gpu_driver_present", "resolve_providers"]

log = logging.getLogger(__name__)

_PROVIDER_NAMES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def _loads(lib: str) -> bool:
    try:
        ctypes.CDLL(lib)
        return True
    except OSError:
        return False


def gpu_driver_present() -> bool:
    """True when the NVIDIA driver library can be loaded on this machine."""
    return _loads("libcuda.so.1") or _loads("nvcuda.dll")


def resolve_providers(provider: str = "auto") -> list[str]:
    """ONNX Runtime provider list for ``provider`` in auto|cpu|cuda|tensorrt (CPU always last)."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    if provider not in ("auto", *_PROVIDER_NAMES):
        raise ValueError(f"provider must be auto, cpu, cuda or tensorrt, got {provider!r}")
    if provider == "cpu":
        return ["CPUExecutionProvider"]
    wanted: list[str] = []
    if provider == "auto":
        if gpu_driver_present():
            if _loads("libnvinfer.so.10") and "TensorrtExecutionProvider" in available:
                wanted.append("TensorrtExecutionProvider")
            if "CUDAExecutionProvider" in available:
                wanted.append("CUDAExecutionProvider")
    else:
        name = _PROVIDER_NAMES[provider]
        if name not in available:
            raise ValueError(f"provider {provider!r} is not in this onnxruntime build ({sorted(available)})")
        if not gpu_driver_present():
            raise ValueError(f"provider {provider!r} needs an NVIDIA driver, and none loads here")
        if provider == "tensorrt":
            wanted.append(name)
        wanted.append("CUDAExecutionProvider")
    return [*wanted, "CPUExecutionProvider"]


def read_meta(path: str | Path) -> ModelMeta:
    """The skelact metadata of an ONNX file, without building an inference session."""
    import onnx

    p = Path(path)
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError and friends
        raise ModelError(f"{p}: not a readable ONNX file ({type(e).__name__}: {e})") from None
    props = {pr.key: pr.value for pr in model.metadata_props}
    if META_KEY not in props:
        raise ModelError(f"{p}: no '{META_KEY}' metadata entry — export it with `skelact export`")
    return ModelMeta.from_json(props[META_KEY], source=str(p))


class Engine:
    """A loaded model: ``run_window`` for window graphs, ``init_state``/``run_step`` for step graphs."""

    def __init__(self, path: str | Path, provider: str = "auto", threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: no such model file")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.intra_op_num_threads = threads or 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        providers = resolve_providers(provider)
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        except Exception as e:  # ORT raises its own exception types (InvalidGraph, Fail, ...)
            raise ModelError(f"{self.path}: ONNX Runtime cannot load it ({type(e).__name__}: {e})") from None
        custom = self.session.get_modelmeta().custom_metadata_map
        if META_KEY not in custom:
            raise ModelError(f"{self.path}: no '{META_KEY}' metadata entry — export it with `skelact export`")
        self.meta = ModelMeta.from_json(custom[META_KEY], source=str(self.path))
        self.providers = self.session.get_providers()
        self._check_signature()
        self._state_in = [s.name for s in self.meta.state]
        self._outputs = [self.meta.output_name] + [f"{s}_out" for s in self._state_in]
        first = self.session.get_inputs()[0]
        self.dtype = np.float16 if "float16" in first.type else np.float32
        log.info("loaded %s (%s mode) on %s", self.path.name, self.meta.mode, ",".join(self.providers))

    def _check_signature(self) -> None:
        ins = {i.name for i in self.session.get_inputs()}
        outs = {o.name for o in self.session.get_outputs()}
        need_in = {self.meta.input_name} | {s.name for s in self.meta.state}
        need_out = {self.meta.output_name} | {f"{s.name}_out" for s in self.meta.state}
        if not need_in <= ins or not need_out <= outs:
            raise ModelError(
                f"{self.path}: graph inputs {sorted(ins)} / outputs {sorted(outs)} do not match "
                f"its metadata (needs {sorted(need_in)} / {sorted(need_out)})"
            )

    @property
    def input_shape_tail(self) -> tuple[int, int, int]:
        """(persons, joints, channels) of one model frame."""
        return (self.meta.persons, self.meta.norm.num_joints, self.meta.norm.channels)

    def run_window(self, x: np.ndarray) -> np.ndarray:
        """(N, T, M, V, C) float32 -> (N, T, K+1) class probabilities."""
        if self.meta.mode != "window":
            raise ModelError(f"{self.path}: a {self.meta.mode}-mode model has no window graph")
        x = np.asarray(x, dtype=self.dtype)
        return self.session.run([self.meta.output_name], {self.meta.input_name: x})[0].astype(np.float32, copy=False)

    def init_state(self, batch: int = 1) -> list[np.ndarray]:
        """Zero ``carry`` state for ``batch`` tracks (zeros = a past of zero-padded frames).
        Graphs with ``ring`` state keep history outside: use ``stream.state.StateBank``."""
        if any(s.kind != "carry" for s in self.meta.state):
            raise ModelError(f"{self.path}: ring state lives in a StateBank, not in init_state/run_step pairs")
        return [np.zeros((batch, *s.shape), dtype=self.dtype) for s in self.meta.state]

    def run_step(self, x: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """One raw step-graph call: (N, M, V, C) one frame per track + the state inputs ->
        ((N, K+1) probabilities, the state outputs: next state for ``carry``, this frame's
        column for ``ring``)."""
        feeds = {self.meta.input_name: np.asarray(x, dtype=self.dtype)}
        feeds.update(zip(self._state_in, state))
        out = self.session.run(self._outputs, feeds)
        return out[0].astype(np.float32, copy=False), out[1:]
