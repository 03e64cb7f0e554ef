"""Two Ray nodes on loopback (``ray.cluster_utils.Cluster``: a head and one worker node,
127.0.0.1, a temporary directory, small object stores, a custom resource per node): the
runtime joins the cluster by address, places one worker per node, and every stream's
events equal the single-process run. Stops only the cluster it started."""

from __future__ import annotations

import shutil
import tempfile
import time

import pytest
from harness import Harness

from skelact.stream.detector import DetectorConfig
from skelact.stream.engine import Engine
from skelact.stream.offline import detect_sequence
from skelact.stream.runtime import Runtime, RuntimeConfig
from skelact.stream.synthetic import make_sequence
from skelact.stream.workers import WorkerPool, WorkerSpec, shard_of

ray = pytest.importorskip("ray", reason="needs Ray: pip install 'skelact[cluster]'")

from ray._private import ray_constants  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from skelact.stream.cluster import ClusterConfig, RayBackend  # noqa: E402

WALL = {"emitted_at", "latency_ms", "event_id"}
STORE = 80 << 20


@pytest.fixture(scope="module")
def two_nodes():
    if ray.is_initialized():
        ray.shutdown()
    # A driver joining "127.0.0.1:port" would rewrite it to this machine's outward IP, where a
    # loopback-bound head is not listening: keep the driver on loopback too (this process only).
    mp = pytest.MonkeyPatch()
    mp.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
    tmp = tempfile.mkdtemp(prefix="skray", dir="/tmp")  # short: Ray's socket paths have a length limit
    t0 = time.monotonic()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {"node_a": 1}, "object_store_memory": STORE, "include_dashboard": False,
        "node_ip_address": "127.0.0.1", "temp_dir": tmp})  # fmt: skip
    try:
        cluster.add_node(num_cpus=1, resources={"node_b": 1}, object_store_memory=STORE,
                         node_ip_address="127.0.0.1")  # fmt: skip
        cluster.wait_for_nodes()
        print(f"\n2-node cluster up in {time.monotonic() - t0:.1f} s")
        yield cluster
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()  # only the nodes this fixture started; never `ray stop`
        shutil.rmtree(tmp, ignore_errors=True)
        mp.undo()


def _nodes(placement) -> list[str]:
    return [p["node"] for p in placement]


def test_spread_places_one_worker_per_node(two_nodes, step_model):
    d = DetectorConfig()
    be = RayBackend(WorkerSpec(str(step_model), d, provider="cpu"),
                    ClusterConfig(workers=2, address=two_nodes.address))  # SPREAD, no pinning  # fmt: skip
    try:
        assert len(set(_nodes(be.placement))) == 2
    finally:
        be.close()


def test_streams_on_both_nodes_equal_the_single_process_run(two_nodes, step_model):
    names = ["cam0", "cam1", "cam2", "golden"]  # workers 1, 0, 1, 0
    assert sorted({shard_of(s, 2) for s in names}) == [0, 1]
    seqs = {s: make_sequence(s, num_frames=300, seed=i) for i, s in enumerate(names)}
    single = {s: detect_sequence(Engine(step_model), q, stream=s) for s, q in seqs.items()}
    d = DetectorConfig()
    be = RayBackend(WorkerSpec(str(step_model), d, provider="cpu"),
                    ClusterConfig(workers=2, address=two_nodes.address,
                                  resources=({"node_a": 1}, {"node_b": 1})))  # fmt: skip
    pool = WorkerPool(be, d)
    head = ray.get_runtime_context().get_node_id()  # the driver (front) runs on the head
    assert _nodes(be.placement)[0] == head and _nodes(be.placement)[1] != head
    cfg = RuntimeConfig(in_endpoint="tcp://127.0.0.1:*", out_endpoint="tcp://127.0.0.1:*", detector=d,
                        status_interval_s=0.2, max_age_ms=0.0)  # fmt: skip
    h = Harness(Runtime(Engine(step_model), cfg, core=pool))
    try:
        assert h.replay_interleaved(seqs, 60.0)
        h.poll(0.5)
    finally:
        h.close()
        pool.close()
    for s in names:
        live = [b for b in h.bodies("event/") if b["stream"] == s]
        assert live and [{k: v for k, v in e.items() if k not in WALL} for e in live] == \
            [{k: v for k, v in e.items() if k not in WALL} for e in single[s]], s  # fmt: skip
        assert all(e["latency_ms"] >= 0 for e in live)
    workers = h.bodies("status")[-1]["workers"]
    assert all(w["frames"] > 0 for w in workers)
