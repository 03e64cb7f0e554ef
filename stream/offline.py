"""`skelact detect`: the runtime's detection core run over a recorded file.

Frames go through the same encode -> decode -> ``DetectorCore`` path as a live replay
into ``skelact serve``, so both emit the same events (all fields but ``emitted_at``,
``latency_ms`` and ``event_id``). The silence timeout runs on the source time ``t``.
"""

from __future__ import annotations

import logging
import time

from . import protocol as P
from .detector import DetectorConfig, DetectorCore
from .engine import Engine
from .sequence import Sequence
from .sources.replay import sequence_messages

__all__ = ["detect_sequence"]

log = logging.getLogger(__name__)


def detect_sequence(engine: Engine, seq: Sequence, cfg: DetectorConfig | None = None, stream: str | None = None,
                    scores: bool = False) -> list[dict]:  # fmt: skip
    """Run the streaming core over ``seq``; returns event (and with ``scores``, scores) bodies in order."""
    cfg = cfg or DetectorConfig()
    if scores and not cfg.scores:
        from dataclasses import replace

        cfg = replace(cfg, scores=True)
    core = DetectorCore(engine, cfg)
    limits = P.Limits()
    out: list[dict] = []
    for t, parts in sequence_messages(seq, stream or seq.id):
        msg = P.decode_frame(parts, limits)
        produced = core.expire(t) + core.feed(msg, now=t, arrival=time.monotonic())
        for o in produced:
            if o.kind not in ("event", "scores"):  # rejects/notices: the file's own problems
                log.warning("%s: %s at t=%.3f s: %s", o.stream, o.body["reason"], t, o.body["detail"])
                continue
            if o.kind == "event":
                o.body["emitted_at"] = time.time()
            out.append(o.body)
    return out
