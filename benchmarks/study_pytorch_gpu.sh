#!/usr/bin/env bash
# The PyTorch side of the real-image study on one GPU, many runs at a time.
#
#   benchmarks/study_pytorch_gpu.sh SUBSET_DIR RUNS_DIR [PYTHON]
#
# SUBSET_DIR is the image folder `benchmarks/study.py` links (10,000
# training photos, the 10,000 test photos). Trains with
# `benchmarks/pytorch_reference.py train --device cuda`, same protocol as the
# study's CPU runs, into RUNS_DIR/pytorch/ with the study's run names: first
# the twins (ONE-3 and vanilla ResNet-20, 30 epochs, seeds 0-2:
# <run>_s<seed>), then the budget sweep (8, 15 and 60 epochs, same seeds:
# <run>_e<epochs>_s<seed>). A GPU step of ResNet-20 is bound by Python and
# kernel launches, not by the GPU, so runs go in parallel (JOBS, default 6,
# then SWEEP_JOBS, default 12). Every run resumes from its checkpoint; a
# run with a report.json is skipped.
set -euo pipefail
subset=$1
runs=$2
python=${3:-python3}
here=$(cd "$(dirname "$0")" && pwd)

run_line() {  # name seed epochs output_dir; nothing for a finished run
  [[ -f $4/report.json ]] && return 0
  local branches=3
  [[ $1 == vanilla ]] && branches=1
  echo "$python $here/pytorch_reference.py train --data_dir $subset" \
    "--depth 20 --num_branches $branches --epochs $3 --batch_size 64" \
    "--seed $2 --threads 1 --device cuda --output_dir $4"
}

twins() {
  for seed in 0 1 2; do
    for name in one vanilla; do
      run_line "$name" "$seed" 30 "$runs/pytorch/${name}_s$seed"
    done
  done
}

sweep() {
  for epochs in 60 15 8; do
    for seed in 0 1 2; do
      for name in one vanilla; do
        run_line "$name" "$seed" "$epochs" \
          "$runs/pytorch/${name}_e${epochs}_s$seed"
      done
    done
  done
}

# Each run appends its output to its directory's train.log.
launch() {
  xargs -P "$1" -I{} bash -c 'cmd="{}"; out=${cmd##* }; mkdir -p "$out";
    $cmd >> "$out/train.log" 2>&1 || echo "FAILED: $cmd"'
}

twins | launch "${JOBS:-6}"
sweep | launch "${SWEEP_JOBS:-12}"
