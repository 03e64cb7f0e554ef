#!/usr/bin/env bash
# Rebuild the bundled default model (stream/assets/models/) from the bundled PRECOG data,
# with the train splits of PKU-MMD, MSRC-12 and UTKinect as negatives (background) so that
# it stays silent on activities it does not know. Their instances of classes that overlap
# PRECOG's moves (kicks, punches, pushes, throws, ...) are cut out. Training ends with the
# per-class threshold calibration on held-out negatives (written into the checkpoint).
# --augment (view, body, frame-rate, noise, dropout) makes it behave on Kinect v2 and
# MediaPipe input too.
# Deterministic given the seed; about 15 minutes on a 2-core CPU.
#   usage: scripts/make_default_model.sh [OUT_DIR] [SHARED_DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/default}
data=${2:-../shared/data}
for d in pkummd msrc12 utkinect; do
  [ -d "$data/$d" ] || { echo "make_default_model: needs $data/$d (the research datasets) for negatives" >&2; exit 2; }
done
precog=stream/assets/precog
skelact train --data "$precog" --supervision full --arch causal --epochs 50 --threads 2 --seed 0 --augment \
  --widths 16,16,32,32,32,32 --dilations 1,2,4,8,16,32 --out "$out" \
  --negatives "$data/pkummd:18,19,26,27,41" --negatives "$data/msrc12:3,6,8,10,12" \
  --negatives "$data/utkinect:6,7,8"
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
