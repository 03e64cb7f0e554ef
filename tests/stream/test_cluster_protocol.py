"""The real-socket protocol tests of the single runtime (test_runtime.py, test_hardening.py),
rerun unchanged against two Ray workers: their runtime factory is swapped for one whose
accepted frames run in a ``WorkerPool`` of two actors. A client cannot tell one worker
from two: same events, same rejection reasons, same counts."""

from __future__ import annotations

import pytest
import test_hardening as TH
import test_runtime as TR

ray = pytest.importorskip("ray", reason="needs Ray: pip install 'skelact[cluster]'")

from test_cluster import ray_local, ray_runtime  # noqa: E402, F401 (fixture)


@pytest.fixture
def two_workers(ray_local, monkeypatch):  # noqa: F811
    pools: list = []

    def runtime_tr(model, max_age_ms: float = 0.0, **det):
        return ray_runtime(model, pools, max_age_ms=max_age_ms, **det)

    def runtime_th(model, max_age_ms: float = 0.0, det: dict | None = None, **cfg):
        assert not cfg, f"not rerun with workers: {cfg}"
        return ray_runtime(model, pools, max_age_ms=max_age_ms, status_interval_s=0.1, **(det or {}))

    monkeypatch.setattr(TR, "_runtime", runtime_tr)
    monkeypatch.setattr(TH, "_runtime", runtime_th)
    yield
    for p in pools:
        p.close()


@pytest.mark.parametrize("which", ["step_model", "window_model"])
def test_golden(two_workers, which, request):
    TR.test_serve_equals_detect_golden(which, request)


def test_garbage_on_one_stream_does_not_disturb_the_other(two_workers, step_model):
    TR.test_two_streams_garbage_does_not_disturb_the_other(step_model)


def test_shutdown_and_timeout_close_open_actions(two_workers, step_model):
    TR.test_shutdown_and_timeout_close_open_actions(step_model)


def test_every_bad_input_is_rejected_with_its_reason(two_workers, step_model):
    TR.test_every_bad_input_is_rejected_with_its_reason(step_model)


def test_huge_t_jump(two_workers, step_model):
    TH.test_huge_valid_t_jump_neither_crashes_nor_loses_the_other_streams_end(step_model)


def test_caps_over_real_sockets(two_workers, step_model):
    TH.test_caps_over_real_sockets(step_model)  # "one" and "two" live on different workers


def test_burst_beyond_one_turn_is_not_dropped(two_workers, step_model):
    TH.test_burst_beyond_one_turn_is_not_dropped_without_age_budget(step_model)


def test_a_flooding_stream_does_not_change_a_paced_streams_events(two_workers, step_model):
    TH.test_a_flooding_stream_does_not_change_a_paced_streams_events(step_model)
