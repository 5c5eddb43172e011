#!/usr/bin/env bash
# The attacks of mdr.attacks on the CPU-scale fast model (airbench width 0.5,
# 8 epochs, seed 0; trained by experiments/fast_cpu.py) through --mode=eval,
# on small test subsets so that it takes minutes on 2 CPU cores: alpha on the
# whole split and alpha_exhaustive on 100 images at 10 and 20 % hidden, FGSM
# and PGD-20 on 200 images (one draw), LaVAN patches on 100 images; no TTA.
# The eval files are copied to
# experiments/results/fast_cpu/airbench_w0.5_e8/seed0/attacks/.
set -euo pipefail
cd "$(dirname "$0")/.."
WD=workdirs/fast_cpu/airbench_w0.5_e8_seed0
python -m mdr.main --config=configs/fast.py:cpu --config.model.width=0.5 \
  --config.train.epochs=8.0 --config.optim.warmup_epochs=1.8400 \
  --config.data.path="$(realpath ../shared/data/cifar10-jpeg.zip)" --config.seed=0 \
  --workdir=$WD --mode=eval --config.eval.tta=0 \
  --config.eval.attacks='("alpha","alpha_exhaustive","fgsm","pgd","lavan")' \
  --config.eval.suites='("clean","mask_sweep","robustness","patch")' \
  --config.eval.ratios='(0.0,0.1,0.2)' --config.eval.costly_images=100 \
  --config.eval.robust_images=200 --config.eval.draws=1 \
  --config.eval.patch_images=100 --config.eval.patch_steps=200 \
  --config.eval.patch_universal_steps=300
OUT=experiments/results/fast_cpu/airbench_w0.5_e8/seed0/attacks
mkdir -p $OUT
cp $WD/eval/{clean.json,mask_sweep.json,mask_sweep.md,mask_sweep.png,robustness.json,robustness.md,robustness.png,patch.json,patch.md,patch.png,patch_examples.png} $OUT/
