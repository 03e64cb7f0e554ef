"""The `skelact` console script: dispatches to one thin `main(argv) -> int` per subcommand.

Each subcommand lives in its own module of `skelact.tools` with a one-line ``SUMMARY``
and ``main(argv)``. Only subcommands whose module is present are listed, and modules are
imported lazily so `skelact --help` stays fast and torch-free.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import math
import os
import sys
from collections.abc import Callable

# Command name -> module in skelact.tools, in the order `--help` lists them.
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "serve": "serve",
    "publish": "publish",
    "subscribe": "subscribe",
    "detect": "detect",
    "train": "train",
    "export": "export_cmd",
    "model": "model_cmd",
    "eval": "eval_cmd",
    "plot": "plot",
    "bench": "bench",
    "data": "data_cmd",
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse, except that a usage error is ONE line on stderr (``prog: error: ...``), exit 2.

    The full usage is one ``--help`` away; a wall of usage text above the one line that
    matters hides it. Subparsers made with ``add_subparsers`` inherit the class.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def number(kind: type = float, *, gt: float | None = None, ge: float | None = None,
           le: float | None = None) -> Callable[[str], float]:  # fmt: skip
    """An argparse ``type`` for a finite ``kind`` (int or float) within bounds, checked at parse time.

    ``number(float, gt=0)`` accepts 0.5 and refuses 0, -1, nan and inf with a message that
    says what is expected (argparse prefixes the flag name).
    """

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        for bound, ok, word in ((gt, lambda v, b: v > b, ">"), (ge, lambda v, b: v >= b, ">="),
                                (le, lambda v, b: v <= b, "<=")):  # fmt: skip
            if bound is not None and not ok(value, bound):
                raise argparse.ArgumentTypeError(f"must be {word} {bound:g}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


def class_ids(text: str) -> tuple[int, ...]:
    """An argparse ``type`` for ``--classes``: comma-separated class ids, at least one, each >= 0."""
    try:
        ids = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated class ids, got {text!r}") from None
    if not ids or min(ids) < 0:
        raise argparse.ArgumentTypeError(f"expected class ids >= 0, got {text!r}")
    return ids


def stream_id(text: str) -> str:
    """An argparse ``type`` for a protocol stream id, so a bad one fails before anything runs."""
    from skelact.stream.protocol import STREAM_ID_RE  # lazy: keeps `skelact --help` light

    if not STREAM_ID_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a stream id: 1 to 64 characters from A-Z a-z 0-9 _ . : -")
    return text


def udp_address(text: str) -> str:
    """An argparse ``type`` for ``[HOST:]PORT`` (port 0-65535; 0 = any free port); returns ``text``."""
    host, _, port = text.rpartition(":")
    try:
        num = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected [HOST:]PORT, got {text!r}") from None
    if not 0 <= num <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {num}")
    if ":" in host:
        raise argparse.ArgumentTypeError(f"expected [HOST:]PORT with an IPv4 host or a name, got {text!r}")
    return text


def available() -> dict[str, str]:
    """Subcommands whose module is installed."""
    return {c: m for c, m in COMMANDS.items() if importlib.util.find_spec(f"skelact.tools.{m}")}


def _usage() -> str:
    lines = ["usage: skelact <command> [options]", "",
             "Real-time streaming skeleton action detection.", "", "commands:"]  # fmt: skip
    for cmd, mod in available().items():
        summary = getattr(importlib.import_module(f"skelact.tools.{mod}"), "SUMMARY", "")
        lines.append(f"  {cmd:<10} {summary}")
    lines += ["", "Run `skelact <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _dispatch(list(sys.argv[1:] if argv is None else argv))
        finally:
            sys.stdout.flush()  # a closed pipe shows up here, not in the interpreter's exit
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `skelact model info | head`: the reader has gone; exit quietly, as the Python docs
        # recommend (signal module, "Note on SIGPIPE"): point stdout at devnull so the
        # interpreter's final flush does not fail again.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1


def _dispatch(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from importlib.metadata import version

        print(f"skelact {version('skelact')}")
        return 0
    cmds = available()
    if argv[0] not in cmds:
        print(f"skelact: unknown command {argv[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    mod = importlib.import_module(f"skelact.tools.{cmds[argv[0]]}")
    return int(mod.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
