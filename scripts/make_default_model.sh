#!/usr/bin/env bash
# Rebuild the bundled default model (stream/assets/models/) from the bundled PRECOG data.
# Deterministic given the seed; takes about 8 minutes on a 2-core CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/default}
precog=stream/assets/precog
skelact train --data "$precog" --supervision full --arch causal --epochs 50 --threads 1 --seed 0 \
  --widths 16,16,32,32,32,32 --dilations 1,2,4,8,16,32 --out "$out"
# The last epoch (not the best held-out one: the held-out split is the test split), without
# the optimizer/resume state, so the file stays small.
python - "$out/last.ckpt" stream/assets/models/default.ckpt <<'PY'
import sys, torch
ck = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
ck["extra"].pop("resume", None)
ck["name"] = "skelact-default-precog-causal"
torch.save(ck, sys.argv[2])
PY
skelact export stream/assets/models/default.ckpt -o stream/assets/models/default_step.onnx --mode step --name skelact-default-precog-causal
skelact export stream/assets/models/default.ckpt -o stream/assets/models/default_window.onnx --mode window --name skelact-default-precog-causal
