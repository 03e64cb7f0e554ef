#!/usr/bin/env bash
# Rebuild the bundled `gestures` model (stream/assets/models/gestures_*.onnx): a causal
# MSRC-12 gesture detector trained from the dataset's own action points (one labelled
# frame per gesture, no extents) with "Learning Action Completeness from Points" (LACP),
# on the shared split's train subjects. Recordings of other activities (PRECOG's punches
# and kicks, the PKU-MMD and UTKinect train splits, their gesture-like classes cut out)
# are added as background so that it stays silent on what it does not know; --augment
# (view, body, frame-rate, noise, dropout) prepares it for other sensors and MediaPipe.
# Training ends with the per-class threshold calibration (F1 of decisions against the
# action points, with held-out negatives), written into the checkpoint and the ONNX
# metadata. Deterministic given the seed; 8 epochs, about 25 minutes on a 2-core CPU.
#   usage: scripts/make_gestures_model.sh [OUT_DIR] [SHARED_DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/gestures}
data=${2:-../shared/data}
for d in msrc12 pkummd utkinect; do
  [ -d "$data/$d" ] || { echo "make_gestures_model: needs $data/$d (the research datasets)" >&2; exit 2; }
done
skelact train --data "$data/msrc12" --supervision point --method lacp --epochs 8 --threads 2 --seed 0 \
  --widths 16,16,32,32,32,32 --dilations 1,2,4,8,16,32 --augment --negative-ratio 0.5 \
  --negatives stream/assets/precog:1,2,3,4,5,6 --negatives "$data/pkummd:1,18,19,24,25,27,33,41" \
  --negatives "$data/utkinect:2,6,7,9" --out "$out"
# The last epoch, without the optimizer/resume state; only the ONNX graphs are bundled
# (MSRC-12 is research use: its weights ship in the two graphs, marked so in the metadata).
python - "$out/last.ckpt" "$out/gestures.ckpt" <<'PY'
import sys, torch
ck = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
ck["extra"].pop("resume", None)
ck["name"] = "skelact-gestures-msrc12-causal"
torch.save(ck, sys.argv[2])
PY
for mode in step window; do
  skelact export "$out/gestures.ckpt" -o "stream/assets/models/gestures_$mode.onnx" --mode $mode \
    --name skelact-gestures-msrc12-causal
done
