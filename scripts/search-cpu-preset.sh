#!/usr/bin/env bash
# The search behind the cpu preset: each candidate trains on the first 55,000 training images and is scored on the
# last 5,000 (--validation-size 5000), never on the test set; the time is the wall clock of the whole command.
# Each candidate's flags go over the recipe as the search started from it (the cpu preset before the search
# chose its 32-channel first block, one 1×1 convolution a block and no dropout): a later flag wins.
# Run from the repository root on an otherwise idle machine: bash scripts/search-cpu-preset.sh [CANDIDATE...]
set -euo pipefail
recipe="--blocks 48-5-1-2,96-3-1-1,128-3-1-1,10-3-1-1 --pointwise-convs 2 --dropout 0.5 --epochs 6"
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
declare -A candidates=(
  [lr0.2-e6]="--lr 0.2 --epochs 6"
  [lr0.1-e6]="--lr 0.1 --epochs 6"
  [lr0.4-e6]="--lr 0.4 --epochs 6"
  [lr0.2-e5]="--lr 0.2 --epochs 5"
  [lr0.4-e6-b256]="--lr 0.4 --epochs 6 --batch-size 256"
  # Narrower and shallower at 28×28, where a step spends most of its time (docs/benchmarks.md)
  [b32-pw1-e6]="--blocks 32-5-1-2,96-3-1-1,128-3-1-1,10-3-1-1 --pointwise-convs 1 --epochs 6"
  [b32-pw1-e5]="--blocks 32-5-1-2,96-3-1-1,128-3-1-1,10-3-1-1 --pointwise-convs 1 --epochs 5"
  [b32-pw1-e5-d0]="--blocks 32-5-1-2,96-3-1-1,128-3-1-1,10-3-1-1 --pointwise-convs 1 --epochs 5 --dropout 0"
  [b32-pw1-e5-d0-c192]="--blocks 32-5-1-2,96-3-1-1,192-3-1-1,10-3-1-1 --pointwise-convs 1 --epochs 5 --dropout 0"
  [pw1-e5]="--pointwise-convs 1 --epochs 5"
  [b32-e5]="--blocks 32-5-1-2,96-3-1-1,128-3-1-1,10-3-1-1 --epochs 5"
)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(lr0.2-e6 lr0.1-e6 lr0.4-e6 lr0.2-e5 lr0.4-e6-b256)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for name in "${names[@]}"; do
  start=$(date +%s%N)
  # shellcheck disable=SC2086 # the candidate's flags are words
  NIN_HOME="$home" .venv/bin/python -m nin_core train --preset cpu --validation-size 5000 $recipe ${candidates[$name]} \
    --name "$name" --quiet > /dev/null
  printf '%-16s %5d s  ' "$name" $(( ($(date +%s%N) - start) / 1000000000 ))
  NIN_HOME="$home" .venv/bin/python -c "
from nin_core.runs.store import RunStore
run = RunStore().list_runs()[0]
print(f\"val acc {run.final['test_acc']:.4f}  train acc {run.final['train_acc']:.4f}  \"
      f\"{run.final['examples_per_sec']:.0f} examples/s  load {open('/proc/loadavg').read().split()[0]}\")"
done
