"""`skelact detect`: the runtime's detection core run over a recorded file.

Frames go through the same encode -> decode -> ``DetectorCore`` path as a live replay
into ``skelact serve``, so both emit the same events (all fields but ``emitted_at``,
``latency_ms`` and ``event_id``). The silence timeout runs on the source time ``t``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from . import protocol as P
from .detector import DetectorConfig, DetectorCore
from .engine import Engine
from .sequence import Sequence
from .sources.replay import sequence_messages

__all__ = ["detect_messages", "detect_sequence"]

log = logging.getLogger(__name__)


def detect_messages(engine: Engine, items: Iterable[tuple[float, list]], cfg: DetectorConfig | None = None
                    ) -> list[dict]:  # fmt: skip
    """Run the streaming core over encoded ``(t, [header, payload])`` messages (what a
    producer would send: a replay, a video's MediaPipe frames): decode, expire on the
    source time ``t``, feed. Returns event (and with ``cfg.scores``, scores) bodies in
    order; rejections and notices (the input's own problems) are logged."""
    core = DetectorCore(engine, cfg or DetectorConfig())
    limits = P.Limits()
    out: list[dict] = []
    for t, parts in items:
        msg = P.decode_frame(parts, limits)
        for o in core.expire(t) + core.feed(msg, now=t, arrival=time.monotonic()):
            if o.kind not in ("event", "scores"):
                log.warning("%s: %s at t=%.3f s: %s", o.stream, o.body["reason"], t, o.body["detail"])
                continue
            if o.kind == "event":
                o.body["emitted_at"] = time.time()
            out.append(o.body)
    return out


def detect_sequence(engine: Engine, seq: Sequence, cfg: DetectorConfig | None = None, stream: str | None = None,
                    scores: bool = False) -> list[dict]:  # fmt: skip
    """Run the streaming core over ``seq``; returns event (and with ``scores``, scores) bodies in order."""
    cfg = cfg or DetectorConfig()
    if scores and not cfg.scores:
        from dataclasses import replace

        cfg = replace(cfg, scores=True)
    return detect_messages(engine, sequence_messages(seq, stream or seq.id), cfg)
