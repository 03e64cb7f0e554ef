"""The README's main job: `skelact demo` shows paired events on the bundled model."""

from __future__ import annotations

import re
import subprocess
import sys


def test_demo_prints_paired_events_beside_ground_truth():
    r = subprocess.run([sys.executable, "-m", "skelact.tools.cli", "demo", "--speed", "3"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    starts = re.findall(r"START (\w+) .*ground truth at seq \d+: (\w+)", r.stdout)
    ends = r.stdout.count(" END ")
    assert len(starts) >= 5 and len(starts) == ends
    # the bundled model is good: most starts name the action the ground truth shows
    assert sum(a == g for a, g in starts) >= len(starts) // 2
    assert "0 rejected" in r.stdout
