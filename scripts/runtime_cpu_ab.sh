#!/bin/bash
# usage: scripts/runtime_cpu_ab.sh REV [ROUNDS=3] [STREAMS=32]
#
# runtime_cpu_ms_per_frame of an older commit REV (with its own bundled step file) and of
# this tree, alternated ROUNDS times in one sitting: `skelact bench --mode step --streams
# STREAMS --duration 10`. REV runs from a git worktree through PYTHONPATH, with this
# tree's virtualenv. Commits without the key get runtime_cpu_share * duration * 1000 /
# frames processed (the same quantity). Prints one line per round.
set -euo pipefail
REV=$1; ROUNDS=${2:-3}; STREAMS=${3:-32}
cd "$(dirname "$0")/.."
TMP=$(mktemp -d)
trap 'git worktree remove --force "$TMP/wt" >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT
git worktree add -f --detach "$TMP/wt" "$REV" >/dev/null 2>&1
mkdir -p "$TMP/path" && ln -s "$TMP/wt" "$TMP/path/skelact"
MODEL=stream/assets/models/default_step.onnx
for r in $(seq 1 "$ROUNDS"); do
  PYTHONPATH="$TMP/path" .venv/bin/python -m skelact.tools.cli bench --mode step --streams "$STREAMS" \
    --duration 10 --model "$TMP/wt/$MODEL" --json "$TMP/base.json" > /dev/null 2>&1
  .venv/bin/skelact bench --mode step --streams "$STREAMS" --duration 10 --model "$MODEL" --json "$TMP/new.json" > /dev/null 2>&1
  .venv/bin/python - "$TMP" "$r" <<'PY'
import json, sys
d, r = sys.argv[1], sys.argv[2]
b, n = json.load(open(f"{d}/base.json")), json.load(open(f"{d}/new.json"))
def ms(x):
    return x.get("runtime_cpu_ms_per_frame") or x["runtime_cpu_share"] * x["duration_s"] * 1000 / (x["frames_sent"] - x["frames_dropped"])
print(f"round {r}: base {ms(b):.3f} new {ms(n):.3f} ratio {ms(n) / ms(b):.2f}  "
      f"p99 {b['e2e_ms_p99']:.1f} / {n['e2e_ms_p99']:.1f} ms  drops {b['frames_dropped']} / {n['frames_dropped']}")
PY
done
