"""CURVE authentication and encryption for the runtime's sockets (pyzmq ``zmq.auth``).

Key files are the ZeroMQ certificate files written by ``zmq.auth.create_certificates``:
``NAME.key`` holds the public key, ``NAME.key_secret`` the public and the secret key
(Z85 text). The runtime loads its own ``.key_secret`` and a directory of allowed client
``.key`` files; a client needs the runtime's public key (Z85 text or its ``.key`` file)
and its own ``.key_secret``.

Generate keys from a shell::

    python -m skelact.stream.security keys/ server      # keys/server.key{,_secret}
    python -m skelact.stream.security keys/ cam0        # keys/cam0.key{,_secret}

(or ``python -c "import zmq.auth; zmq.auth.create_certificates('keys', 'server')"``).

One ``ThreadAuthenticator`` serves one ``zmq.Context``: use a context per runtime when
several CURVE runtimes live in one process.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

__all__ = [
    "generate_keypair",
    "load_keypair",
    "load_public_key",
    "configure_server",
    "configure_client",
    "main",
]

log = logging.getLogger(__name__)

_Z85_KEY_LEN = 40  # a 32-byte CURVE key in Z85 text


def generate_keypair(directory: str | os.PathLike, name: str) -> tuple[Path, Path]:
    """Write ``directory/name.key`` (public) and ``directory/name.key_secret`` (both keys);
    returns their paths. The directory is created; the secret file is made owner-only."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(d), name)
    try:
        os.chmod(secret, 0o600)
    except OSError:  # e.g. a file system without POSIX modes
        log.warning("could not restrict permissions of %s", secret)
    return Path(public), Path(secret)


def load_keypair(secret_file: str | os.PathLike) -> tuple[bytes, bytes]:
    """(public, secret) Z85 keys from a ``.key_secret`` certificate file."""
    public, secret = zmq.auth.load_certificate(str(secret_file))
    if not secret:
        raise ValueError(f"{secret_file} holds no secret key (pass the .key_secret file)")
    return public, secret


def _is_z85_key(value: str | bytes) -> bool:
    if len(value) != _Z85_KEY_LEN:
        return False
    try:
        z85.decode(value)
    except (ValueError, KeyError, TypeError):
        return False
    return True


def load_public_key(key: str | bytes | os.PathLike) -> bytes:
    """A public key as Z85 bytes from a certificate file (``.key`` or ``.key_secret``)
    or the 40-character Z85 text itself (an existing file of that name wins)."""
    path = os.fsdecode(key)
    if os.path.isfile(path):  # a file wins: some 40-character paths are valid Z85 text
        public, _ = zmq.auth.load_certificate(path)
        return public
    if isinstance(key, (str, bytes)) and _is_z85_key(key):
        return key.encode("ascii") if isinstance(key, str) else bytes(key)
    raise ValueError(f"{key!r} is neither a 40-character Z85 key nor a key file")


def configure_server(ctx: zmq.Context, sockets: Iterable[zmq.Socket], secret_file: str | os.PathLike,
                     clients_dir: str | os.PathLike | None) -> ThreadAuthenticator:  # fmt: skip
    """Make ``sockets`` CURVE servers with the key pair in ``secret_file``; call before
    ``bind``. Only clients whose public key is a ``.key`` file in ``clients_dir`` get in
    (None: any client with a key pair gets in, encrypted but not authenticated — a
    warning is logged). Returns the started authenticator: ``stop()`` it after closing
    the sockets. Only one authenticator may run per context at a time. Raises
    ValueError for unusable key files or directories (before starting anything)."""
    public, secret = load_keypair(secret_file)
    d = None if clients_dir is None else Path(clients_dir)
    if d is not None and not d.is_dir():
        raise ValueError(f"CURVE client key directory {d} does not exist")
    auth = _start_authenticator(ctx)
    try:
        if d is None:
            log.warning("CURVE without a client key directory: any client may connect (encrypted only)")
            auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
        else:
            if not any(d.glob("*.key")):
                log.warning("CURVE client key directory %s holds no .key files: no client can connect", d)
            auth.configure_curve(domain="*", location=str(d))
        for s in sockets:
            s.curve_secretkey = secret
            s.curve_publickey = public
            s.curve_server = True
    except BaseException:
        auth.stop()
        raise
    return auth


def _start_authenticator(ctx: zmq.Context, timeout_s: float = 2.0) -> ThreadAuthenticator:
    """Start a ThreadAuthenticator. A previous one stopped in the same context releases
    its ZAP endpoint asynchronously, so "address in use" is retried for ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        auth = ThreadAuthenticator(ctx, log=logging.getLogger(__name__ + ".auth"))
        try:
            auth.start()
            return auth
        except zmq.ZMQError as e:
            if auth.zap_socket is not None:
                auth.zap_socket.close(linger=0)
                auth.zap_socket = None
            if e.errno != zmq.EADDRINUSE or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def configure_client(sock: zmq.Socket, server_key: str | bytes | os.PathLike,
                     client_key: str | os.PathLike | tuple[bytes, bytes] | None) -> None:  # fmt: skip
    """Make ``sock`` a CURVE client of the runtime; call before ``connect``.

    ``server_key``: the runtime's public key (Z85 text, or its ``.key`` file).
    ``client_key``: this client's ``.key_secret`` file or a (public, secret) Z85 pair;
    None generates a throw-away pair (only useful with a server that admits any key).
    """
    if client_key is None:
        log.warning("no CURVE client key given: using a throw-away key pair")
        public, secret = zmq.curve_keypair()
    elif isinstance(client_key, tuple):
        public, secret = client_key
    else:
        public, secret = load_keypair(client_key)
    sock.curve_serverkey = load_public_key(server_key)
    sock.curve_publickey = public
    sock.curve_secretkey = secret


def main(argv: list[str] | None = None) -> int:
    """``python -m skelact.stream.security DIR NAME``: write a key pair."""
    p = argparse.ArgumentParser(prog="python -m skelact.stream.security",
                                description="Write a CURVE key pair DIR/NAME.key (public) and DIR/NAME.key_secret.")  # fmt: skip
    p.add_argument("directory")
    p.add_argument("name")
    args = p.parse_args(argv)
    public, secret = generate_keypair(args.directory, args.name)
    pub, _ = zmq.auth.load_certificate(str(public))
    sys.stdout.write(f"public key  {public}\nsecret key  {secret}\nZ85 public  {pub.decode('ascii')}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
