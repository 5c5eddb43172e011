#!/bin/bash
# Adversarial training at CPU scale (experiments/README.md, "Adversarial
# training"): run from a checkout of one commit, e.g.
#   git worktree add ../adv_wt <commit> && bash ../adv_wt/experiments/adversarial.sh /work/main \
#       [seeds [objectives]]
# (seeds: a comma list, default 0,1; objectives: a comma list of run-name
# suffixes, "clean" for clean training, default all five; shells with
# disjoint runs may run side by side).
# Trains airbench width 0.25 for 3 epochs (144 steps of 1,024: the same
# training budget for every objective) with clean training, FGSM-RS (Wong et
# al.: ε 8/255, step 10/255 from a uniform start), PGD-AT and two M2AT
# settings (square mask + mixup; Bernoulli-pixel mask + cutmix). PGD-AT and
# M2AT's perturbation use PGD-2 with step 4/255 = ε/2 from a uniform start
# (2 steps instead of the full scale's 10: the CPU budget; ε/2 rather than
# 2.5ε/k because one signed step larger than ε, FGSM-RS's 10/255, overfits
# catastrophically under this recipe). The --config.train.adv.step flag does
# not reach clean or FGSM-RS training. Two seeds each.
# Evaluation without TTA: clean; α/β/γ/α-pixels at 20 % hidden (2 draws), the
# worst-case square α* at 20 % on 250 images; the sparse-pixel curve (γ up to
# 99 % hidden); FGSM and PGD-20 at ε 2 and 8/255, PGD-20 with the margin loss,
# PGD-40 and ε = 0.5 (the sanity checks) on 500 test images. Then
# `python experiments/extra_eval.py --matrix --runs=...` (the LaVAN columns)
# and `python experiments/extra_eval.py --group=adversarial --transfer` (the
# transfer column, from the clean-training runs).
set -euo pipefail
DEST=${1:-$(cd "$(dirname "$0")/.." && pwd)}   # where results and workdirs go
HERE=$(cd "$(dirname "$0")/.." && pwd)          # the checkout that runs
FLAGS=(--config.train.adv.steps=2 --config.train.adv.step=4.0
       --config.checkpoint_every_steps=48
       --config.eval.suites='("clean","mask_sweep","sparse_pixels","robustness")'
       --config.eval.attacks='("alpha","alpha_exhaustive","beta","gamma","alpha_pixels","fgsm","pgd")'
       --config.eval.costly_images=250 --config.eval.costly_ratios='(0.0,0.2)'
       --config.eval.ratios='(0.0,0.2)' --config.eval.pgd_eps='(2,8)'
       --config.eval.robust_images=500 --config.eval.draws=2 --config.eval.tta=0)
SEEDS=${2:-0,1}
OBJECTIVES=${3:-clean,fgsm_rs,pgd_at,m2at_square_mixup,m2at_pixels_cutmix}
RUNS=""
for seed in ${SEEDS//,/ }; do
  for obj in ${OBJECTIVES//,/ }; do
    [[ $obj == clean ]] && obj="" || obj="_$obj"
    RUNS+="airbench_w0.25_e3${obj}:${seed},"
  done
done
cd "$HERE"
python experiments/fast_cpu.py --runs="${RUNS%,}" \
  --out="$DEST/experiments/results/cifar10_cpu/adversarial" \
  --workdirs="$DEST/workdirs/adversarial" --extra="$(printf "%q " "${FLAGS[@]}")" "${@:4}"
