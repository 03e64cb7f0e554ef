"""`skelact detect` over a dataset: a tqdm bar on a terminal's stderr, none off a terminal or with --progress 0."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios

import pytest

from skelact.stream.formats.npz import save_npz_dataset
from skelact.stream.synthetic import make_dataset

SKELACT = [sys.executable, "-m", "skelact.tools.cli"]


def _stderr_on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal 120 columns wide; (exit status, what it showed)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([*SKELACT, *args], stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break
            try:
                data = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        rc = proc.wait(60)
    return rc, b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return save_npz_dataset(make_dataset(3, 90, seed=5), tmp_path_factory.mktemp("prog") / "data")


def test_progress_bar_on_a_terminal(data, tmp_path):
    rc, shown = _stderr_on_a_terminal(["detect", str(data), "-o", str(tmp_path / "e.csv")])
    assert rc == 0, shown
    assert "detect:" in shown and "/3 [" in shown and "seq/s" in shown


def test_no_bar_with_progress_0_or_off_a_terminal(data, tmp_path):
    rc, shown = _stderr_on_a_terminal(["detect", str(data), "-o", str(tmp_path / "e.csv"), "--progress", "0"])
    assert rc == 0 and "detect:" not in shown, shown
    r = subprocess.run([*SKELACT, "detect", str(data), "-o", str(tmp_path / "e.csv")], capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "3 sequences" in r.stdout
