"""CURVE helpers with real sockets on random loopback ports."""

from __future__ import annotations

import os
import stat
import time
from contextlib import contextmanager

import pytest
import zmq

from skelact.stream import protocol as P
from skelact.stream import security as S

pytestmark = pytest.mark.skipif(not zmq.has("curve"), reason="libzmq built without CURVE")

DENIED_WAIT_MS = 800  # how long a message from a rejected client is awaited (it never comes)


@pytest.fixture()
def keys(tmp_path):
    d = tmp_path / "keys"
    server = S.generate_keypair(d, "server")
    good = S.generate_keypair(d, "good")
    bad = S.generate_keypair(d, "bad")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "good.key").write_bytes(good[0].read_bytes())
    return {"server": server, "good": good, "bad": bad, "allowed": allowed}


@contextmanager
def context():
    ctx = zmq.Context()
    try:
        yield ctx
    finally:
        ctx.destroy(linger=0)


def _socket(ctx: zmq.Context, kind: int) -> zmq.Socket:
    s = ctx.socket(kind)
    s.linger = 0
    return s


def test_key_files(keys, tmp_path):
    public, secret = keys["server"]
    assert public.name == "server.key" and secret.name == "server.key_secret"
    assert stat.S_IMODE(os.stat(secret).st_mode) & 0o077 == 0
    pub, sec = S.load_keypair(secret)
    assert len(pub) == 40 and len(sec) == 40
    assert S.load_public_key(public) == pub
    assert S.load_public_key(str(secret)) == pub
    assert S.load_public_key(pub) == pub
    assert S.load_public_key(pub.decode()) == pub
    with pytest.raises(ValueError):
        S.load_keypair(public)  # public file has no secret
    with pytest.raises(ValueError):
        S.load_public_key("not-a-key")
    with pytest.raises(ValueError):
        S.load_public_key(tmp_path / "missing.key")


def test_cli_writes_pair(tmp_path, capsys):
    assert S.main([str(tmp_path / "k"), "cam0"]) == 0
    assert (tmp_path / "k" / "cam0.key").is_file() and (tmp_path / "k" / "cam0.key_secret").is_file()
    assert "Z85 public" in capsys.readouterr().out


def _send_until(push: zmq.Socket, pull: zmq.Socket, timeout_s: float) -> bool:
    """PUSH queues until the handshake completes; keep polling up to ``timeout_s``."""
    push.send_multipart(P.encode_eos("cam0"))
    return bool(pull.poll(int(timeout_s * 1000)))


def test_allowed_client_gets_through(keys):
    with context() as ctx:
        pull = _socket(ctx, zmq.PULL)
        auth = S.configure_server(ctx, [pull], keys["server"][1], keys["allowed"])
        try:
            port = pull.bind_to_random_port("tcp://127.0.0.1")
            push = _socket(ctx, zmq.PUSH)
            S.configure_client(push, keys["server"][0], keys["good"][1])
            push.connect(f"tcp://127.0.0.1:{port}")
            assert _send_until(push, pull, 5.0)
            assert P.decode_frame(pull.recv_multipart(), P.Limits()) == P.EndOfStream("cam0")
            push.close()
        finally:
            pull.close()
            auth.stop()


def test_unknown_key_and_plain_client_are_refused_and_server_keeps_serving(keys):
    with context() as ctx:
        pull = _socket(ctx, zmq.PULL)
        auth = S.configure_server(ctx, [pull], keys["server"][1], keys["allowed"])
        try:
            port = pull.bind_to_random_port("tcp://127.0.0.1")
            ep = f"tcp://127.0.0.1:{port}"
            intruder = _socket(ctx, zmq.PUSH)
            S.configure_client(intruder, keys["server"][0], keys["bad"][1])
            intruder.connect(ep)
            plain = _socket(ctx, zmq.PUSH)
            plain.connect(ep)
            wrong_server = _socket(ctx, zmq.PUSH)  # right client key, wrong server key
            S.configure_client(wrong_server, keys["bad"][0], keys["good"][1])
            wrong_server.connect(ep)
            for s in (intruder, plain, wrong_server):
                try:
                    s.send_multipart(P.encode_eos("cam0"), zmq.DONTWAIT)
                except zmq.Again:
                    pass  # no completed connection: the message cannot even be queued
            deadline = time.monotonic() + DENIED_WAIT_MS / 1000
            while time.monotonic() < deadline:
                assert not pull.poll(50), "a client without an allowed key got a message through"
            good = _socket(ctx, zmq.PUSH)
            S.configure_client(good, str(keys["server"][0]), str(keys["good"][1]))
            good.connect(ep)
            assert _send_until(good, pull, 5.0)
            pull.recv_multipart()
            assert not pull.poll(100)  # and only the allowed client's message arrived
            for s in (intruder, plain, wrong_server, good):
                s.close()
        finally:
            pull.close()
            auth.stop()


def _pub_reaches(ctx, pub, port, server_pub, client_key, wait_s) -> bool:
    sub = _socket(ctx, zmq.SUB)
    S.configure_client(sub, server_pub, client_key)
    sub.setsockopt_string(zmq.SUBSCRIBE, P.STATUS_TOPIC)
    sub.connect(f"tcp://127.0.0.1:{port}")
    deadline = time.monotonic() + wait_s
    try:
        while time.monotonic() < deadline:  # PUB drops until the subscription arrives: repeat
            pub.send_multipart(P.encode_pub(P.STATUS_TOPIC, {"v": 1, "type": "status"}))
            if sub.poll(50):
                topic, body = P.decode_pub(sub.recv_multipart())
                return topic == P.STATUS_TOPIC and body["v"] == 1
        return False
    finally:
        sub.close()


def test_pub_sub_with_curve(keys):
    with context() as ctx:
        pub = _socket(ctx, zmq.PUB)
        auth = S.configure_server(ctx, [pub], keys["server"][1], keys["allowed"])
        try:
            port = pub.bind_to_random_port("tcp://127.0.0.1")
            z85 = S.load_public_key(keys["server"][0]).decode()
            assert _pub_reaches(ctx, pub, port, z85, keys["good"][1], 5.0)
            assert not _pub_reaches(ctx, pub, port, z85, keys["bad"][1], DENIED_WAIT_MS / 1000)
        finally:
            pub.close()
            auth.stop()


def test_any_client_without_directory_and_tuple_keys(keys):
    with context() as ctx:
        pull = _socket(ctx, zmq.PULL)
        auth = S.configure_server(ctx, [pull], keys["server"][1], None)
        try:
            port = pull.bind_to_random_port("tcp://127.0.0.1")
            for client_key in (zmq.curve_keypair(), None, keys["bad"][1]):
                push = _socket(ctx, zmq.PUSH)
                S.configure_client(push, S.load_public_key(keys["server"][0]), client_key)
                push.connect(f"tcp://127.0.0.1:{port}")
                assert _send_until(push, pull, 5.0)
                pull.recv_multipart()
                push.close()
        finally:
            pull.close()
            auth.stop()


def test_configure_server_errors(keys, tmp_path):
    with context() as ctx:
        pull = _socket(ctx, zmq.PULL)
        with pytest.raises(ValueError):
            S.configure_server(ctx, [pull], keys["server"][1], tmp_path / "nope")
        with pytest.raises(ValueError):
            S.configure_server(ctx, [pull], keys["server"][0], keys["allowed"])  # public file
        # the failed attempts left no authenticator behind: a new one can start in this context
        auth = S.configure_server(ctx, [pull], keys["server"][1], keys["allowed"])
        assert pull.curve_server
        auth.stop()
        pull.close()


def test_server_can_be_configured_again_in_the_same_context(keys):
    """A restarted runtime reuses its context: the stopped authenticator's endpoint frees late."""
    with context() as ctx:
        for _ in range(5):
            pull = _socket(ctx, zmq.PULL)
            auth = S.configure_server(ctx, [pull], keys["server"][1], keys["allowed"])
            port = pull.bind_to_random_port("tcp://127.0.0.1")
            push = _socket(ctx, zmq.PUSH)
            S.configure_client(push, keys["server"][0], keys["good"][1])
            push.connect(f"tcp://127.0.0.1:{port}")
            assert _send_until(push, pull, 5.0)
            push.close()
            pull.close()
            auth.stop()
