"""Workers as Ray actors: the backend of ``WorkerPool`` for `skelact serve --workers N`.

Ray is optional (``pip install 'skelact[cluster]'``) and imported only when a pool with
more than one worker is built: the single-worker serving path never touches it.

* No address: a private local Ray is started with ``ray.init(num_cpus=N)``, no dashboard
  and a small object store; it stops with the pool.
* ``address``: the pool joins that cluster and places its actors with the ``SPREAD``
  strategy (one per node first), each asking for ``num_cpus`` (1), ``num_gpus`` (with
  ``--worker-gpus``; the worker then runs ONNX Runtime with CUDA, untested: no GPU node
  with Ray was available) and optional custom resources per worker (to pin workers to
  labelled nodes). The model file travels with the spec, so nodes need the same
  skelact install but not the file.
* Actors restart after a crash (``max_restarts``); calls in flight when it died fail and
  are not retried (the pool ends their streams' open actions with ``reset``). Frames
  sent while it restarts wait in Ray's queue for the new process.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from .workers import (
    Reply,
    WorkerCore,
    WorkerLost,
    WorkerSpec,
    pack_inputs,
    pack_reply,
    unpack_inputs,
    unpack_reply,
)

__all__ = ["ClusterConfig", "ClusterError", "RayBackend", "require_ray"]

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'skelact[cluster]'"


class ClusterError(RuntimeError):
    """Ray is missing or the cluster cannot host the workers (one-line message)."""


def require_ray():
    """The ``ray`` module, or ClusterError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ClusterError(f"--workers > 1 runs workers on Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


@dataclass(frozen=True)
class ClusterConfig:
    """Where and how the worker actors run.

    ``address``: an existing cluster (``ray://`` or ``host:port``; ``auto`` = the one
    this machine belongs to); None starts a private local Ray with ``num_cpus=workers``.
    ``gpus_per_worker``: GPUs each actor asks for (0 = CPU). ``cpus_per_worker``: CPU
    resource each actor asks for. ``resources``: per-worker custom resources (worker i
    gets ``resources[i % len(resources)]``), e.g. ``({"node_a": 1},)``. ``spread``:
    the SPREAD scheduling strategy (ignored where ``resources`` pin workers).
    ``max_restarts``: restarts per actor (-1 = unlimited). ``object_store_mb``: object
    store of a private local Ray (MiB).
    """

    workers: int = 2
    address: str | None = None
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    resources: tuple[dict, ...] = ()
    spread: bool = True
    max_restarts: int = -1
    object_store_mb: int = 100
    namespace: str | None = None
    init_kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers!r}")
        if self.gpus_per_worker < 0 or self.cpus_per_worker < 0:
            raise ValueError("gpus_per_worker and cpus_per_worker must be >= 0")


class _Actor:
    """The actor body: a WorkerCore plus where it runs. Frames come in and replies go out
    in the packed form of ``stream.workers`` (one ``bytes`` each way per call)."""

    def __init__(self, spec: WorkerSpec, index: int) -> None:
        logging.getLogger("skelact").setLevel(logging.WARNING)
        self.w = WorkerCore(spec, index)

    def feed(self, packed: bytes) -> bytes:
        return pack_reply(self.w.feed(unpack_inputs(packed)))

    def expire(self, now: float) -> bytes:
        return pack_reply(self.w.expire(now))

    def close_all(self, reason: str, now: float) -> bytes:
        return pack_reply(self.w.close_all(reason, now))

    def stats(self) -> dict:
        return self.w.stats()

    def where(self) -> dict:
        import ray

        ctx = ray.get_runtime_context()
        return {"node": ctx.get_node_id(), "pid": os.getpid(), "providers": self.w.providers,
                "gpus": ray.get_gpu_ids()}  # fmt: skip

    def ping(self) -> int:
        return self.w.ping()


class RayBackend:
    """N ``_Actor``s; see the module docstring. ``close`` kills them (and stops a local Ray
    it started)."""

    def __init__(self, spec: WorkerSpec, cc: ClusterConfig, start_timeout_s: float = 120.0) -> None:
        ray = require_ray()
        self.ray = ray
        self.workers = cc.workers
        self.cc = cc
        self._owns = False
        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING,
                                  "configure_logging": False, **cc.init_kwargs}  # fmt: skip
            if cc.namespace:
                kw["namespace"] = cc.namespace
            if cc.address:
                kw["address"] = cc.address
                kw.pop("include_dashboard")
            else:
                kw.update(num_cpus=max(1, int(round(cc.workers * cc.cpus_per_worker))),
                          num_gpus=int(round(cc.workers * cc.gpus_per_worker)) if cc.gpus_per_worker else 0,
                          object_store_memory=cc.object_store_mb << 20)  # fmt: skip
            try:
                ray.init(**kw)
            except Exception as e:  # ConnectionError, ValueError, RuntimeError from Ray
                raise ClusterError(f"cannot start or join Ray ({cc.address or 'local'}): {e}") from None
            self._owns = True
        if spec.model_bytes is None and cc.address:  # other machines: ship the file's bytes
            with open(spec.model, "rb") as f:
                from dataclasses import replace

                spec = replace(spec, model_bytes=f.read())
        if cc.gpus_per_worker and spec.provider in ("auto", "cpu"):
            from dataclasses import replace

            spec = replace(spec, provider="cuda")
        self.spec = spec
        cls = ray.remote(_Actor)
        self.actors = []
        for i in range(cc.workers):
            opts: dict[str, Any] = {"num_cpus": cc.cpus_per_worker, "max_restarts": cc.max_restarts,
                                    "max_task_retries": 0}  # fmt: skip
            if cc.gpus_per_worker:
                opts["num_gpus"] = cc.gpus_per_worker
            if cc.resources:
                opts["resources"] = dict(cc.resources[i % len(cc.resources)])
            elif cc.spread:
                opts["scheduling_strategy"] = "SPREAD"
            self.actors.append(cls.options(**opts).remote(spec, i))
        try:  # wait until every worker has loaded its model (fails fast when unschedulable)
            refs = [a.where.remote() for a in self.actors]
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=start_timeout_s)
            if len(ready) < len(refs):
                raise ClusterError(f"{len(refs) - len(ready)} of {len(refs)} workers did not start in "
                                   f"{start_timeout_s:.0f} s: the cluster lacks the resources they ask for "
                                   f"({opts})")  # fmt: skip
            self.placement = ray.get(refs)
        except ClusterError:
            self.close()
            raise
        except ray.exceptions.RayError as e:
            self.close()
            raise ClusterError(f"workers failed to start: {str(e).splitlines()[0]}") from None

    # ------------------------------------------------------------ Backend
    # ``feed`` crosses as one bytes object each way (``stream.workers.pack_inputs`` /
    # ``pack_reply``): Ray passes bytes through without its cloudpickle path.
    def submit(self, w: int, method: str, *args: Any):
        if method == "feed":
            args = (pack_inputs(args[0]),)
        return getattr(self.actors[w], method).remote(*args)

    def key(self, handle):
        return handle

    def ready(self, handles: list, timeout: float) -> set:
        if not handles:
            return set()
        done, _ = self.ray.wait(handles, num_returns=len(handles), timeout=timeout, fetch_local=True)
        return set(done)

    def result(self, handle) -> Reply:
        ray = self.ray
        try:
            return unpack_reply(ray.get(handle))
        except ray.exceptions.RayActorError as e:  # died (crash, kill, node loss) or unavailable
            raise WorkerLost(type(e).__name__) from None
        except ray.exceptions.RayTaskError as e:  # our code raised inside the worker (it lives on)
            log.error("worker raised: %s", str(e).splitlines()[0])
            raise WorkerLost("the worker raised an exception", died=False) from None

    def describe(self, w: int) -> dict:
        return dict(self.placement[w]) if w < len(self.placement) else {}

    def kill(self, w: int, restart: bool = True) -> None:
        """Kill worker ``w``'s process (tests, failure drills); Ray restarts it when
        ``restart``."""
        self.ray.kill(self.actors[w], no_restart=not restart)

    def close(self) -> None:
        ray = self.ray
        for a in getattr(self, "actors", []):
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors = []
        if self._owns and ray.is_initialized():
            ray.shutdown()
