#!/bin/bash
# Runs on the GPU machine (device tool), from the repository root.
#   bash train/device_run.sh probe SECONDS
#       checks + the three demo models trained from scratch concurrently for SECONDS (throughput)
#   bash train/device_run.sh full SECONDS MAX_TOKENS [BACKBONES]
#       the first demo stage: the named backbones (default all three) from scratch, equal token
#       budget, exported into $OUT
#   bash train/device_run.sh stage SECONDS MAX_TOKENS LR INIT_ROOT [BACKBONES]
#       a further stage: each backbone continues from INIT_ROOT/<backbone> (--init-from, fresh
#       optimizer and cosine schedule from LR), compiled, exported into $OUT; checks.py runs beside
#
# Token files come from .data/ (train.bin, val.bin) or, when the working tree is
# too big to carry them plainly, from .carry/ as packed by train/pack_carry.sh
# (xz-compressed token file and init checkpoints, unpacked into /tmp/carry
# first; a later call on the same warm machine finds them there).
# Backbones go round-robin over the GPUs. At batch 256 one Mamba-heavy process
# peaks near 60 GiB (SSD intermediates and the 50k-vocabulary head), so three
# at once do not fit in one H200's 140 GiB: with one GPU run at most two.
set -u
mode=$1 budget=$2
case $mode in
  probe) max_tokens=100000000000 lr=1e-3 init_root="" backbones="mamba hybrid transformer" ;;
  full) max_tokens=$3 lr=1e-3 init_root="" backbones=${4:-mamba hybrid transformer} ;;
  stage) max_tokens=$3 lr=$4 init_root=$5 backbones=${6:-mamba hybrid transformer} ;;
  *) echo "device_run.sh: unknown mode $mode (probe, full or stage)" >&2; exit 2 ;;
esac
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
# One folder per run, so a later stage on the same (warm) machine can start
# from /tmp/last-stage/<backbone>, this run's exports.
runs=/tmp/runs/$mode-$(date +%H%M%S)
mkdir -p "$runs" "$OUT" .data /tmp/last-stage
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__)'
if [ -d .carry ]; then
  python3 - <<'EOF' || exit 1
import lzma, os, shutil
for root, _, files in os.walk(".carry"):
    for name in files:
        src = os.path.join(root, name)
        rel = os.path.relpath(src, ".carry")
        dst = os.path.join("/tmp/carry", rel[:-3] if rel.endswith(".xz") else rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if rel.endswith(".xz"):
            with lzma.open(src) as f, open(dst, "wb") as out:
                shutil.copyfileobj(f, out)
        else:
            shutil.copy(src, dst)
print("unpacked .carry into /tmp/carry")
EOF
  data=/tmp/carry/data
elif [ -f /tmp/carry/data/train.bin ]; then
  data=/tmp/carry/data  # unpacked by an earlier call on this (warm) machine
else
  data=.data
fi
for b in $backbones; do
  if [ -n "$init_root" ] && [ ! -e "$init_root/$b/config.json" ]; then
    echo "device_run.sh: no checkpoint to start $b from at $init_root/$b" >&2; exit 3
  fi
done
ngpu=$(nvidia-smi -L | wc -l)
stage_flags=()
if [ "$mode" = stage ]; then stage_flags=(--compile --min-lr-ratio 0.05); fi
checks_gpu=0
if [ "$mode" != full ]; then
  set -- $backbones
  checks_gpu=$(( $# % ngpu ))
  CUDA_VISIBLE_DEVICES=$checks_gpu python3 train/checks.py --device cuda >"$OUT/checks.log" 2>&1 &
  checks=$!
fi
pids=() i=0 failed=""
for b in $backbones; do
  init=()
  if [ -n "$init_root" ]; then init=(--init-from "$init_root/$b" --seed $((RANDOM + 1))); fi
  CUDA_VISIBLE_DEVICES=$(( i % ngpu )) python3 train/train.py --config "train/configs/demo-$b.json" --out "$runs/$b" \
    --train-data "$data/train.bin" --val-data "$data/val.bin" \
    --seq-len 256 --batch-size 256 --lr "$lr" --warmup-steps 100 \
    --max-tokens "$max_tokens" --time-budget-s "$budget" --reserve-s 25 \
    --eval-every 200 --final-eval-t-samples 8 --log-every 25 --quiet "${init[@]}" "${stage_flags[@]}" \
    >"$runs/$b.stdout" 2>&1 &
  pids+=($!) i=$((i + 1))
done
i=0
for b in $backbones; do
  wait "${pids[$i]}" || { echo "training $b exited with status $?"; failed="$failed $b"; }
  i=$((i + 1))
done
if [ "$mode" != full ]; then wait "$checks"; grep -E '^(PASS|FAIL|SKIP|checks|torch)' "$OUT/checks.log"; fi
for b in $backbones; do tail -3 "$runs/$b.stdout" | grep -v '^{' ; grep -h '"compile' "$runs/$b/log.jsonl"; done
python3 train/summarize.py $(for b in $backbones; do echo "$runs/$b"; done) | tee "$OUT/summary.txt"
mkdir -p "$runs/meta"
if [ "$mode" = probe ]; then
  for b in $backbones; do cp "$runs/$b/log.jsonl" "$runs/meta/$b.log.jsonl" 2>/dev/null; cp "$runs/$b.stdout" "$runs/meta"/ ; done
  tar -C "$runs/meta" -czf "$OUT/probe.tar.gz" .
else
  for b in $backbones; do
    # A failed stage leaves the previous stage's link alone.
    case " $failed " in *" $b "*) continue ;; esac
    cp "$runs/$b/metrics.json" "$runs/$b/export/training-metrics.json"
    ln -sfn "$runs/$b/export" "/tmp/last-stage/$b"
    mkdir -p "$OUT/$b" "$runs/meta/$b"
    cp "$runs/$b"/export/*.safetensors "$OUT/$b/"
    cp "$runs/$b"/export/*.json "$runs/$b/metrics.json" "$runs/$b/log.jsonl" "$runs/$b.stdout" "$runs/meta/$b/"
  done
  tar -C "$runs/meta" -czf "$OUT/meta.tar.gz" .
fi
ls -la "$OUT" "$OUT"/*/ 2>/dev/null | head -30
