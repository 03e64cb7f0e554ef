"""The `skelact` console script: dispatches to one thin `main(argv) -> int` per subcommand.

Each subcommand lives in its own module of `skelact.tools` with a one-line ``SUMMARY``
and ``main(argv)``. Only subcommands whose module is present are listed, and modules are
imported lazily so `skelact --help` stays fast and torch-free.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys

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
    "bench": "bench",
    "data": "data_cmd",
}


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
    argv = list(sys.argv[1:] if argv is None else argv)
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
    try:
        return int(mod.main(argv[1:]) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
