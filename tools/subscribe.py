"""`skelact subscribe`: print or record a runtime's events."""

from __future__ import annotations

import argparse
import json
import sys
import time

SUMMARY = "print action events from a runtime (readable lines, or --jsonl for machines)"


ANSWER_WITHIN_S = 3.0  # a runtime publishes status about once a second: warn after this many without one


def build_parser() -> argparse.ArgumentParser:
    from skelact.stream import protocol as P
    from skelact.stream.client import parse_endpoint

    from .cli import ArgumentParser, number, stream_id

    p = ArgumentParser(
        prog="skelact subscribe",
        description=(
            "Subscribe to a runtime's PUB socket and print events as readable lines; --jsonl FILE "
            "also records the event bodies exactly as published, one JSON object per line. The runtime's status (about once a second) is the "
            f"heartbeat: with none in the first {ANSWER_WITHIN_S:g} s a warning goes to stderr, and "
            "--timeout exits with status 1 when no runtime was ever heard."
        ),
    )
    p.add_argument("--from", dest="endpoint", default=P.DEFAULT_OUT, type=parse_endpoint, help=f"runtime's PUB endpoint (default {P.DEFAULT_OUT})")
    p.add_argument("--stream", default=None, type=stream_id, help="only this stream (topics compared exactly)")
    p.add_argument("--jsonl", default=None, help="append the event bodies to this file, raw (one JSON object a line)")
    p.add_argument("--scores", action="store_true", help="also print scores messages")
    p.add_argument("--status", action="store_true",
                   help="also print the runtime's status, one summary line each")
    p.add_argument("--errors", action="store_true", help="also print error messages")
    p.add_argument("--count", type=number(int, ge=1), default=None, help="exit after this many events")
    p.add_argument("--timeout", type=number(float, gt=0), default=None,
                   help="exit after this many seconds without a message (status 1 if no runtime was heard)")
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


def format_status(body: dict) -> str:
    """One readable line for a status body (the raw body is about 1 KB)."""

    def num(key: str, fmt: str = "") -> str:
        v = body.get(key)
        return format(v, fmt) if isinstance(v, (int, float)) and not isinstance(v, bool) else "?"

    return (f"status  runtime {body.get('runtime_id', '?')}  up {num('uptime_s', '.0f')} s  streams {num('streams')}"
            f"  frames in {num('frames_in')} rejected {num('frames_rejected')} dropped {num('frames_dropped')}"
            f"  events {num('events_out')}  infer p99 {num('infer_ms_p99', '.2f')} ms")  # fmt: skip


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.curve_key and not args.curve_server_key:
        print("skelact subscribe: --curve-key needs --curve-server-key (the runtime's public key)", file=sys.stderr)
        return 2
    import zmq

    from skelact.stream import protocol as P
    from skelact.stream.client import ClientError, Curve, sub_socket

    topics = []
    if args.stream:
        topics = [P.event_topic(args.stream)] + ([P.scores_topic(args.stream)] if args.scores else []) + (
            [P.error_topic(args.stream)] if args.errors else [])  # fmt: skip
    else:
        topics = ["event/"] + (["scores/"] if args.scores else []) + (["error/"] if args.errors else [])
    if args.status:
        topics.append(P.STATUS_TOPIC)
    try:  # status is the heartbeat: always listen to it
        sock = sub_socket(zmq.Context.instance(), args.endpoint, topics + ([] if args.status else [P.STATUS_TOPIC]),
                          curve=Curve.from_args(args.curve_server_key, args.curve_key))  # fmt: skip
    except ClientError as e:
        print(f"skelact subscribe: {e}", file=sys.stderr)
        return 2
    try:
        out = open(args.jsonl, "a", encoding="utf-8") if args.jsonl else None
    except OSError as e:
        print(f"skelact subscribe: cannot write {args.jsonl}: {e.strerror or e}", file=sys.stderr)
        sock.close()
        return 2
    events = 0
    start = last = time.monotonic()
    heard = warned = False  # a status seen / the "nobody there" warning given
    rc = 0
    try:
        while args.count is None or events < args.count:
            wait = 200 if args.timeout is None else max(0, min(200, (last + args.timeout - time.monotonic()) * 1000))
            if not sock.poll(wait):
                now = time.monotonic()
                if args.timeout is not None and now - last >= args.timeout:
                    if not heard:
                        print(f"skelact subscribe: no runtime heard at {args.endpoint} in {now - start:.0f} s "
                              "(no status message); is `skelact serve` publishing there?", file=sys.stderr)  # fmt: skip
                        rc = 1
                    break
                if not heard and not warned and now - start >= ANSWER_WITHIN_S:
                    warned = True
                    print(f"skelact subscribe: warning: no status from a runtime at {args.endpoint} within "
                          f"{ANSWER_WITHIN_S:g} s; is `skelact serve` publishing there? Still waiting.",
                          file=sys.stderr, flush=True)  # fmt: skip
                continue
            try:
                topic, body = P.decode_pub(sock.recv_multipart())
            except (ValueError, P.ProtocolError):
                continue
            if body.get("v") != P.VERSION:
                continue  # unknown protocol version: ignore
            if topic == P.STATUS_TOPIC:
                heard = True
                if not args.status:
                    continue  # only the heartbeat: neither shown nor counted as a message
            elif topic.startswith(P.STATUS_TOPIC):
                continue  # a prefix match of "status", not the status topic
            if args.stream and topic not in topics:
                continue  # prefix matches (cam0 vs cam01) are not ours
            last = time.monotonic()
            if topic.startswith("event/"):
                events += 1
                print(format_event(body), flush=True)
                if out:  # recorded events: one event body per line, nothing else (docs/protocol.md)
                    out.write(json.dumps(body, allow_nan=False) + "\n")
                    out.flush()
            elif topic == P.STATUS_TOPIC:
                print(format_status(body), flush=True)
            else:
                print(f"{topic}  {json.dumps(body)}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        if out:
            out.close()
        sock.close()
    return rc
