#!/bin/bash
# Packs what a training stage needs on the GPU machine into .carry/ (git-ignored
# through .git/info/exclude), compressed so that it and the working tree stay
# within the device tool's 64 MiB: the token files and, for each named
# backbone, its demo checkpoint as the stage's --init-from.
#   bash train/pack_carry.sh [BACKBONES]      (default: mamba hybrid transformer)
# The demo shards themselves must then be left out of the working tree for the
# call (train/README.md, "The demo models, stage by stage"); train/device_run.sh unpacks
# .carry into /tmp/carry on the GPU machine.
set -eu
backbones=${*:-mamba hybrid transformer}
grep -qx '/.carry/' .git/info/exclude || echo '/.carry/' >>.git/info/exclude
rm -rf .carry
mkdir -p .carry/data
xz -6 -T0 -c .data/train.bin >.carry/data/train.bin.xz
cp .data/val.bin .carry/data/val.bin
for b in $backbones; do
  src=models/demo/$b dst=.carry/models/$b
  mkdir -p "$dst"
  cp "$src"/config.json "$src"/model.safetensors.index.json "$src"/training-metrics.json "$dst"/
  for shard in "$src"/model-*.safetensors; do xz -6 -T0 -c "$shard" >"$dst/$(basename "$shard").xz"; done
done
du -sh .carry
