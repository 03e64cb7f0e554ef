"""`skelact subscribe`: print or record a runtime's events."""

from __future__ import annotations

import argparse
import json
import sys
import time

SUMMARY = "print action events from a runtime (readable lines, or --jsonl for machines)"


def build_parser() -> argparse.ArgumentParser:
    from skelact.stream import protocol as P

    p = argparse.ArgumentParser(
        prog="skelact subscribe",
        description=(
            "Subscribe to a runtime's PUB socket and print events as readable lines; --jsonl FILE "
            "also records every event body exactly as published (one JSON object per line)."
        ),
    )
    p.add_argument("--from", dest="endpoint", default=P.DEFAULT_OUT, help=f"runtime's PUB endpoint (default {P.DEFAULT_OUT})")
    p.add_argument("--stream", default=None, help="only this stream (topics compared exactly)")
    p.add_argument("--jsonl", default=None, help="append event bodies to this file")
    p.add_argument("--scores", action="store_true", help="also print scores messages")
    p.add_argument("--status", action="store_true", help="also print status messages")
    p.add_argument("--errors", action="store_true", help="also print error messages")
    p.add_argument("--count", type=int, default=None, help="exit after this many events")
    p.add_argument("--timeout", type=float, default=None, help="exit after this many seconds without a message")
    p.add_argument("--curve-server-key", default=None, help="runtime's public key file (CURVE)")
    p.add_argument("--curve-key", default=None, help="this client's secret key file (CURVE)")
    return p


def format_event(body: dict) -> str:
    """One readable line for an event body."""
    kind = body.get("type", "?").upper()
    line = (f"{body.get('stream')}/{body.get('track')}  {kind:<5} {body.get('action')} (class {body.get('class_id')})"
            f"  seq {body.get('seq')}  t {body.get('t', 0.0):.2f}s  score {body.get('score', 0.0):.2f}"
            f"  delay {body.get('delay_s', 0.0):.2f}s")  # fmt: skip
    if body.get("type") == "end":
        line += f"  duration {body.get('duration', 0.0):.2f}s  peak {body.get('peak_score', 0.0):.2f}  ({body.get('reason')})"
    return line


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    import zmq

    from skelact.stream import protocol as P

    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    if args.curve_server_key:
        from skelact.stream.security import configure_client

        configure_client(sock, args.curve_server_key, args.curve_key)
    topics = []
    if args.stream:
        topics = [P.event_topic(args.stream)] + ([P.scores_topic(args.stream)] if args.scores else []) + (
            [P.error_topic(args.stream)] if args.errors else [])  # fmt: skip
    else:
        topics = ["event/"] + (["scores/"] if args.scores else []) + (["error/"] if args.errors else [])
    if args.status:
        topics.append(P.STATUS_TOPIC)
    for t in topics:
        sock.setsockopt_string(zmq.SUBSCRIBE, t)
    try:
        sock.connect(args.endpoint)
    except zmq.ZMQError as e:
        print(f"skelact subscribe: cannot connect to {args.endpoint}: {e}", file=sys.stderr)
        return 2
    out = open(args.jsonl, "a", encoding="utf-8") if args.jsonl else None
    events = 0
    last = time.monotonic()
    try:
        while args.count is None or events < args.count:
            wait = 200 if args.timeout is None else max(0, min(200, (last + args.timeout - time.monotonic()) * 1000))
            if not sock.poll(wait):
                if args.timeout is not None and time.monotonic() - last >= args.timeout:
                    break
                continue
            try:
                topic, body = P.decode_pub(sock.recv_multipart())
            except (ValueError, P.ProtocolError):
                continue
            if body.get("v") != P.VERSION:
                continue  # unknown protocol version: ignore
            if args.stream and topic not in topics:
                continue  # prefix matches (cam0 vs cam01) are not ours
            last = time.monotonic()
            if topic.startswith("event/"):
                events += 1
                print(format_event(body), flush=True)
                if out:
                    out.write(json.dumps(body, allow_nan=False) + "\n")
                    out.flush()
            else:
                print(f"{topic}  {json.dumps(body)}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        if out:
            out.close()
        sock.close()
    return 0
