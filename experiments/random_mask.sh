#!/bin/bash
# Random Mask CNN at CPU scale (experiments/README.md, "Random Mask"): run
# from a checkout of one commit, e.g.
#   git worktree add ../rm_wt <commit> && bash ../rm_wt/experiments/random_mask.sh /work/main
# Trains airbench width 0.25, 8 epochs: standard models and random-mask models
# (drop 0.5 and 0.7 on the shallow stages), seeds 0 and 1 of each; a second
# argument list, e.g. --runs=airbench_w0.25_e8:0,airbench_w0.25_e8_rm0.5:0,
# picks a subset (one shell per seed runs two side by side). Each is
# evaluated without TTA on: clean, the mask sweep
# (α/β/γ/α-pixels at 10 and 20 %, the worst-case square α* at 20 % on 250
# images), the sparse-pixel curve (γ up to 99 % hidden), white-box
# FGSM/PGD-20 on 500 images: every mask and PGD column of the model × attack
# matrix. Then `python experiments/random_mask_eval.py` (the transfer column)
# and `python experiments/extra_eval.py --group=random_mask --matrix
# --runs=...` (the LaVAN columns).
set -euo pipefail
DEST=${1:-$(cd "$(dirname "$0")/.." && pwd)}   # where results and workdirs go
HERE=$(cd "$(dirname "$0")/.." && pwd)          # the checkout that runs
EVAL=(--config.eval.suites='("clean","mask_sweep","sparse_pixels","robustness")'
      --config.eval.attacks='("alpha","alpha_exhaustive","beta","gamma","alpha_pixels","fgsm","pgd")'
      --config.eval.costly_images=250 --config.eval.costly_ratios='(0.0,0.2)'
      --config.eval.ratios='(0.0,0.1,0.2)' --config.eval.pgd_eps='(0,2,8,16)'
      --config.eval.robust_images=500 --config.eval.draws=2 --config.eval.tta=0)
cd "$HERE"
python experiments/fast_cpu.py \
  --runs=airbench_w0.25_e8:0,airbench_w0.25_e8_rm0.5:0,airbench_w0.25_e8_rm0.7:0,airbench_w0.25_e8:1,airbench_w0.25_e8_rm0.5:1,airbench_w0.25_e8_rm0.7:1 \
  --out="$DEST/experiments/results/cifar10_cpu/random_mask" \
  --workdirs="$DEST/workdirs/random_mask" --extra="$(printf "%q " "${EVAL[@]}")" "${@:2}"
