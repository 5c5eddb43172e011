r"""Random Mask at CPU scale, part 2: evaluations over the trained runs.

After ``experiments/random_mask.sh`` (the training runs):

  python experiments/random_mask_eval.py --dest=/work/main

1. ``baseline``: the standard seed-0 model of ``experiments/fast_cpu.py``
   (airbench width 0.25, 8 epochs, same recipe) evaluated with
   ``--mode=eval`` and the same evaluation as the Random Mask runs, into
   ``results/cifar10_cpu/random_mask/airbench_w0.25_e8/seed0``.
2. ``transfer``: ``python -m mdr.transfer``, sources = the two standard
   models and the ResNet-8 of ``fast_cpu`` (another architecture), targets
   = every model, on 5,000 test images; into
   ``results/cifar10_cpu/random_mask/transfer``.

Each step writes ``run.json`` when it starts (command, commit, whether the
code differs from it, machine) and completes it when it ends; a step whose
``run.json`` says done is skipped on a rerun.
"""

import os
import shlex
import shutil
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import provenance  # pylint: disable=g-import-not-at-top

REPO = provenance.REPO
_DEST = flags.DEFINE_string("dest", REPO, "Checkout whose workdirs/ and "
                            "experiments/results/ are used.")
_STEPS = flags.DEFINE_string("steps", "baseline,transfer", "Steps to run.")
_IMAGES = flags.DEFINE_integer("images", 5000, "Transfer: test images.")
_DRY = flags.DEFINE_bool("dry_run", False, "Print the commands only.")

EVAL = ["--config.eval.suites=('clean','mask_sweep','sparse_pixels',"
        "'robustness')",
        "--config.eval.attacks=('alpha','alpha_exhaustive','beta','gamma',"
        "'alpha_pixels','fgsm','pgd')",
        "--config.eval.costly_images=250", "--config.eval.costly_ratios=(0.0,0.2)",
        "--config.eval.ratios=(0.0,0.1,0.2)", "--config.eval.pgd_eps=(0,2,8,16)",
        "--config.eval.robust_images=500", "--config.eval.draws=2",
        "--config.eval.tta=0"]
RUNS = ("airbench_w0.25_e8_seed0@fast_cpu", "airbench_w0.25_e8_seed1",
        "resnet_small_seed0@fast_cpu", "airbench_w0.25_e8_rm0.5_seed0",
        "airbench_w0.25_e8_rm0.5_seed1", "airbench_w0.25_e8_rm0.7_seed0",
        "airbench_w0.25_e8_rm0.7_seed1")
SOURCES = ("airbench_w0.25_e8_seed0@fast_cpu", "airbench_w0.25_e8_seed1",
           "resnet_small_seed0@fast_cpu")


def workdir(dest, run):
  name, _, group = run.partition("@")
  return os.path.join(dest, "workdirs", group or "random_mask", name)


def run_step(name, cmd, out, after=None):
  if provenance.is_done(os.path.join(out, "run.json")):
    print(f"{name}: done, skipped", flush=True)
    return
  short = "python " + shlex.join(cmd[1:]).replace(os.path.dirname(REPO) +
                                                  os.sep, "../")
  print(f"{name}: {short}", flush=True)
  if not _DRY.value:
    provenance.run_step(cmd, out, short, after=after, step=name)


def main(argv):
  del argv
  dest = os.path.abspath(_DEST.value)
  results = os.path.join(dest, "experiments", "results", "cifar10_cpu",
                         "random_mask")
  data = os.path.join(dest, "..", "shared", "data", "cifar10-jpeg.zip")
  steps = _STEPS.value.split(",")
  if "baseline" in steps:
    wd = workdir(dest, RUNS[0])
    out = os.path.join(results, "airbench_w0.25_e8", "seed0")
    cmd = [sys.executable, "-m", "mdr.main", "--mode=eval",
           "--config=configs/fast.py:cpu", "--config.model.width=0.25",
           "--config.train.epochs=8.0", "--config.optim.warmup_epochs=1.8400",
           f"--config.data.path={os.path.abspath(data)}", "--config.seed=0",
           f"--workdir={wd}", *EVAL]

    def copy():
      for name in ("config.json", "metrics.jsonl"):
        shutil.copy(os.path.join(wd, name), out)
      for name in sorted(os.listdir(os.path.join(wd, "eval"))):
        if name.endswith((".json", ".md", ".png")):
          shutil.copy(os.path.join(wd, "eval", name), out)
    run_step("baseline", cmd, out, copy)
  if "transfer" in steps:
    out = os.path.join(results, "transfer")
    trained = lambda r: os.path.isdir(os.path.join(workdir(dest, r),
                                                   "checkpoints"))
    missing = [r for r in RUNS if not trained(r)]
    if missing:
      print(f"transfer: left out (not trained): {missing}", flush=True)
    cmd = [sys.executable, "-m", "mdr.transfer",
           "--sources=" + ",".join(workdir(dest, r) for r in SOURCES),
           "--targets=" + ",".join(workdir(dest, r) for r in RUNS
                                   if trained(r)),
           f"--data={os.path.abspath(data)}", f"--images={_IMAGES.value}",
           f"--out={out}"]
    run_step("transfer", cmd, out)


if __name__ == "__main__":
  app.run(main)
