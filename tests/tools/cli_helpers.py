"""Running the real `skelact` CLI in tests: a subprocess, its one-line errors, PNG output,
and an environment without matplotlib (as on an install without the plot extra)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

SKELACT = [sys.executable, "-m", "skelact.tools.cli"]


def run(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*SKELACT, *args], capture_output=True, text=True, timeout=timeout, env=env)


def one_line(r: subprocess.CompletedProcess, rc: int = 2) -> str:
    """The single stderr line of a refused command (no traceback, exit ``rc``)."""
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and r.returncode == rc, (r.returncode, r.stderr)
    return lines[0]


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a real PNG file (signature and IHDR checked)."""
    b = path.read_bytes()
    assert b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR", b[:16]
    return struct.unpack(">II", b[16:24])


def env_without_matplotlib(tmp_path: Path) -> dict:
    """An environment whose Python cannot import matplotlib: a shadowing package that
    raises ImportError comes first on PYTHONPATH."""
    shadow = tmp_path / "shadow"
    (shadow / "matplotlib").mkdir(parents=True)
    (shadow / "matplotlib" / "__init__.py").write_text("raise ImportError(\"No module named 'matplotlib'\")\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(shadow), *filter(None, [env.get("PYTHONPATH")])])
    return env
