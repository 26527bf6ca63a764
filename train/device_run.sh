#!/bin/bash
# Runs on the GPU machine (device tool), from the repository root, with
# .data/train.bin and .data/val.bin carried along.
#   bash train/device_run.sh probe SECONDS           checks + the three demo models trained
#                                                    concurrently for SECONDS (throughput)
#   bash train/device_run.sh full SECONDS MAX_TOKENS [BACKBONES]
#                                                    the demo training: the named backbones (default
#                                                    all three) concurrently, equal token budget,
#                                                    exported into $OUT
# At batch 256 one Mamba-heavy process peaks near 60 GiB (SSD intermediates and
# the 50k-vocabulary head), so three at once do not fit in an H200's 140 GiB:
# the demos ran as "hybrid transformer", then "mamba" alone.
set -u
mode=$1 budget=$2 max_tokens=${3:-100000000000} backbones=${4:-mamba hybrid transformer}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
runs=/tmp/runs
mkdir -p "$runs" "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__)'
if [ "$mode" = probe ]; then
  python3 train/checks.py --device cuda >"$OUT/checks.log" 2>&1 &
  checks=$!
fi
pids=()
for b in $backbones; do
  python3 train/train.py --config "train/configs/demo-$b.json" --out "$runs/$b" \
    --train-data .data/train.bin --val-data .data/val.bin \
    --seq-len 256 --batch-size 256 --lr 1e-3 --warmup-steps 100 \
    --max-tokens "$max_tokens" --time-budget-s "$budget" --reserve-s 25 \
    --eval-every 200 --final-eval-t-samples 8 --log-every 25 --quiet \
    >"$runs/$b.stdout" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || echo "a training process exited with status $?"; done
if [ "$mode" = probe ]; then wait "$checks"; cat "$OUT/checks.log" | grep -E '^(PASS|FAIL|SKIP|checks|torch)'; fi
for b in $backbones; do tail -3 "$runs/$b.stdout" | grep -v '^{' ; done
python3 train/summarize.py $(for b in $backbones; do echo "$runs/$b"; done) | tee "$OUT/summary.txt"
if [ "$mode" = full ]; then
  for b in $backbones; do
    mkdir -p "$OUT/$b"
    cp "$runs/$b"/export/*.safetensors "$OUT/$b/"
    mkdir -p "/tmp/meta/$b"
    cp "$runs/$b"/export/*.json "$runs/$b/metrics.json" "$runs/$b/log.jsonl" "/tmp/meta/$b/"
  done
  tar -C /tmp/meta -czf "$OUT/meta.tar.gz" .
else
  mkdir -p /tmp/meta
  for b in $backbones; do cp "$runs/$b/log.jsonl" "/tmp/meta/$b.log.jsonl" 2>/dev/null; cp "$runs/$b.stdout" /tmp/meta/ ; done
  tar -C /tmp/meta -czf "$OUT/probe.tar.gz" .
fi
ls -la "$OUT" "$OUT"/*/ 2>/dev/null | head -30
