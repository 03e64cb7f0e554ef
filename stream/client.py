"""Client sockets for talking to a runtime: a PUSH that feeds it, a SUB that listens to it.

Every producer and subscriber needs the same few settings, in the same order (ZeroMQ
applies most options only to connections made after they are set): linger, the
high-water mark, the CURVE client keys, then ``connect``. They live here so that a bad
endpoint or an unreadable key file gives the same one-line :class:`ClientError`
everywhere, instead of a traceback from deep inside pyzmq.

The runtime binds; clients connect (docs/protocol.md, "Sockets")::

    ctx = zmq.Context.instance()
    push = push_socket(ctx, "tcp://127.0.0.1:5555", hwm=100)           # a live source
    sub = sub_socket(ctx, "tcp://127.0.0.1:5556", ["event/cam0", "status"])

ZeroMQ subscriptions are prefix matches: a subscriber still compares each received
topic with the ones it wants (``event/cam0`` also matches ``event/cam01``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

import zmq

__all__ = ["ClientError", "Curve", "connect", "parse_endpoint", "push_socket", "sub_socket"]

# transport://address; the address itself is checked by ZeroMQ when connecting
_ENDPOINT_RE = re.compile(r"(tcp|ipc|inproc|pgm|epgm|norm|ws|wss|tipc|vmci|udp)://\S+")


class ClientError(ValueError):
    """A client socket cannot be set up (bad endpoint, unusable key file): one line saying why."""


@dataclass(frozen=True)
class Curve:
    """CURVE client keys (docs/protocol.md, "Security").

    ``server_key``: the runtime's public key, its ``.key`` file or the 40-character Z85
    text. ``client_key``: this client's ``.key_secret`` file; None makes a throw-away
    pair (only a runtime that admits any key lets it in).
    """

    server_key: str | os.PathLike
    client_key: str | os.PathLike | None = None

    @classmethod
    def from_args(cls, server_key: str | None, client_key: str | None) -> Curve | None:
        """The keys from two CLI options; None when no server key is given (no CURVE)."""
        return cls(server_key, client_key) if server_key else None


def parse_endpoint(text: str) -> str:
    """``text`` when it has the shape of a ZeroMQ endpoint (``tcp://HOST:PORT``,
    ``ipc://PATH``, ...), else ValueError; usable as an argparse ``type``, so a typo fails
    before anything starts."""
    if not _ENDPOINT_RE.fullmatch(text):
        raise ValueError(f"not a ZeroMQ endpoint (TRANSPORT://ADDRESS, e.g. tcp://127.0.0.1:5555): {text!r}")
    return text


parse_endpoint.__name__ = "endpoint"  # argparse names the type in its message


def _configure_curve(sock: zmq.Socket, curve: Curve) -> None:
    from .security import configure_client, load_public_key  # lazy: zmq.auth only with CURVE

    try:
        load_public_key(curve.server_key)  # first: a bad key is the error, not a warning about the other
        configure_client(sock, curve.server_key, curve.client_key)
    except (OSError, ValueError) as e:  # missing or foreign key file, bad Z85 text
        raise ClientError(f"CURVE keys: {e}") from None


def connect(sock: zmq.Socket, endpoint: str) -> zmq.Socket:
    """``sock.connect(endpoint)``; a malformed endpoint raises ClientError (``sock`` stays
    open: the caller closes it, after whatever it attached, such as a monitor)."""
    try:
        sock.connect(endpoint)
    except zmq.ZMQError as e:
        raise ClientError(f"cannot connect to {endpoint}: {e}") from None
    return sock


def _connected(sock: zmq.Socket, endpoint: str) -> zmq.Socket:
    try:
        return connect(sock, endpoint)
    except ClientError:
        sock.close(0)
        raise


def _socket(ctx: zmq.Context, kind: int, linger_ms: int, curve: Curve | None) -> zmq.Socket:
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, int(linger_ms))
    if curve is not None:
        try:
            _configure_curve(sock, curve)
        except ClientError:
            sock.close(0)
            raise
    return sock


def push_socket(ctx: zmq.Context, endpoint: str | None, *, hwm: int = 1000, linger_ms: int = 1000,
                curve: Curve | None = None) -> zmq.Socket:  # fmt: skip
    """A PUSH socket to a runtime's PULL endpoint.

    ``hwm``: messages queued before a send would block (``SNDHWM``); a live source sends
    with ``NOBLOCK`` and counts what did not fit, so this bounds its queue and its
    latency. ``linger_ms``: how long ``close()`` keeps trying to deliver what is still
    queued (the eos, the last frames). ``endpoint`` None leaves the socket unconnected
    (attach a monitor first, then :func:`connect`). Raises ClientError.
    """
    sock = _socket(ctx, zmq.PUSH, linger_ms, curve)
    sock.setsockopt(zmq.SNDHWM, int(hwm))
    return sock if endpoint is None else _connected(sock, endpoint)


def sub_socket(ctx: zmq.Context, endpoint: str, topics: Iterable[str], *, hwm: int | None = None,
               linger_ms: int = 0, curve: Curve | None = None) -> zmq.Socket:  # fmt: skip
    """A SUB socket on a runtime's PUB endpoint, subscribed to ``topics`` (prefixes).

    ``hwm``: messages buffered before the PUB side drops for this subscriber (``RCVHWM``;
    None keeps ZeroMQ's 1000, 0 = unbounded, for measurements that must not lose any).
    A subscriber has nothing worth delivering at close, hence linger 0. Raises ClientError.
    """
    sock = _socket(ctx, zmq.SUB, linger_ms, curve)
    if hwm is not None:
        sock.setsockopt(zmq.RCVHWM, int(hwm))
    for t in topics:
        sock.setsockopt_string(zmq.SUBSCRIBE, t)
    return _connected(sock, endpoint)
