#!/usr/bin/env bash
# Times one denoising step on the GPU with the Go engine and with the PyTorch
# reference model on the same shapes, in one run, and prints PyTorch / Go.
# Run on a GPU machine from the repository root, with the GPU binary built
# by `make gpu` (or pass its path as GPU_BINARY).
#   scripts/gpu_bench.sh [PRESETS] [LENGTHS]
#   e.g. scripts/gpu_bench.sh "1.3b:mamba,transformer" 1024,65536
set -euo pipefail
presets=${1:-"240m:mamba,hybrid,transformer;1.3b:mamba,hybrid,transformer"}
lengths=${2:-1024,4096,16384,65536}
binary=${GPU_BINARY:-bin/diffuapriel-gpu}
go_table=$(mktemp)
trap 'rm -f "$go_table"' EXIT
IFS=';' read -ra groups <<<"$presets"
for group in "${groups[@]}"; do
  "$binary" bench --backend gpu --preset "${group%%:*}" --backbones "${group#*:}" --lengths "$lengths" --repeat 5 | tee -a "$go_table"
done
python3 train/bench_torch.py --presets "$presets" --lengths "$lengths" --go "$go_table"
