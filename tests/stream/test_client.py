"""Client sockets (`skelact.stream.client`): options, CURVE keys and one-line errors over real sockets."""

from __future__ import annotations

import pytest
import zmq

from skelact.stream.client import ClientError, Curve, push_socket, sub_socket
from skelact.stream.security import configure_server, generate_keypair


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.term()


def _bound(ctx, kind):
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    return sock, f"tcp://127.0.0.1:{port}"


def test_push_socket_options_and_delivery(ctx):
    pull, ep = _bound(ctx, zmq.PULL)
    push = push_socket(ctx, ep, hwm=7, linger_ms=250)
    try:
        assert push.getsockopt(zmq.SNDHWM) == 7 and push.getsockopt(zmq.LINGER) == 250
        push.send_multipart([b"h", b"p"])
        assert pull.poll(2000) and pull.recv_multipart() == [b"h", b"p"]
    finally:
        push.close(0)
        pull.close(0)


def test_unconnected_push_socket(ctx):
    push = push_socket(ctx, None)
    try:
        assert push.getsockopt(zmq.LAST_ENDPOINT) == b""
    finally:
        push.close(0)


def test_sub_socket_gets_its_topics_only(ctx):
    pub, ep = _bound(ctx, zmq.PUB)
    sub = sub_socket(ctx, ep, ["event/cam0", "status"], hwm=0)
    try:
        assert sub.getsockopt(zmq.RCVHWM) == 0 and sub.getsockopt(zmq.LINGER) == 0
        got = None
        for _ in range(100):  # a PUB drops everything until the subscription has arrived
            pub.send_multipart([b"scores/cam0", b"{}"])
            pub.send_multipart([b"event/cam0", b"{}"])
            if sub.poll(20):
                got = sub.recv_multipart()
                break
        assert got == [b"event/cam0", b"{}"]
    finally:
        sub.close(0)
        pub.close(0)


def test_curve_client_reaches_a_curve_server(ctx, tmp_path):
    _, server_secret = generate_keypair(tmp_path, "server")
    client_public, client_secret = generate_keypair(tmp_path, "cam0")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "cam0.key").write_bytes(client_public.read_bytes())
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.LINGER, 0)
    auth = configure_server(ctx, [pull], server_secret, allowed)
    try:
        port = pull.bind_to_random_port("tcp://127.0.0.1")
        curve = Curve.from_args(str(tmp_path / "server.key"), str(client_secret))
        push = push_socket(ctx, f"tcp://127.0.0.1:{port}", curve=curve)
        try:
            push.send(b"hello")
            assert pull.poll(5000) and pull.recv() == b"hello"
        finally:
            push.close(0)
    finally:
        pull.close(0)
        auth.stop()


def test_curve_from_args():
    assert Curve.from_args(None, None) is None and Curve.from_args("", "x") is None
    assert Curve.from_args("s.key", None) == Curve("s.key", None)


@pytest.mark.parametrize("make, needle", [
    (lambda ctx: push_socket(ctx, "nonsense"), "cannot connect to nonsense"),
    (lambda ctx: sub_socket(ctx, "tcp://", ["event/"]), "cannot connect to tcp://"),
    (lambda ctx: push_socket(ctx, "tcp://127.0.0.1:9", curve=Curve("/no/such.key")), "CURVE keys"),
    (lambda ctx: sub_socket(ctx, "tcp://127.0.0.1:9", [], curve=Curve("x" * 40 + "!")), "CURVE keys"),
])  # fmt: skip
def test_errors_are_one_line_and_leave_no_socket(ctx, make, needle):
    with pytest.raises(ClientError, match=needle) as e:
        make(ctx)
    assert "\n" not in str(e.value)
    # every socket made was closed: terminating the context does not hang
