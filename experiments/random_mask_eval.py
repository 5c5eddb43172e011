r"""Random Mask at CPU scale, part 2: the black-box transfer matrix.

After ``experiments/random_mask.sh`` (the training runs and their own
evaluations):

  python experiments/random_mask_eval.py --dest=/work/main

``transfer``: ``python -m mdr.transfer``, sources = the two standard models
and the ResNet-8 of ``experiments/fast_cpu.py`` (another architecture),
targets = every trained model, on 5,000 test images; into
``results/cifar10_cpu/random_mask/transfer``. The step writes ``run.json``
when it starts (command, commit, whether the code differs from it, machine)
and completes it when it ends; a ``run.json`` that says done is skipped on a
rerun. A source without a checkpoint stops the step with its path; a target
without one is left out and named.
"""

import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=g-import-not-at-top
import provenance
import transfer_step
# pylint: enable=g-import-not-at-top

REPO = provenance.REPO
_DEST = flags.DEFINE_string("dest", REPO, "Checkout whose workdirs/ and "
                            "experiments/results/ are used.")
_IMAGES = flags.DEFINE_integer("images", 5000, "Transfer: test images.")
_DRY = flags.DEFINE_bool("dry_run", False, "Print the commands only.")

RUNS = ("airbench_w0.25_e8_seed0", "airbench_w0.25_e8_seed1",
        "resnet_small_seed0@fast_cpu", "airbench_w0.25_e8_rm0.5_seed0",
        "airbench_w0.25_e8_rm0.5_seed1", "airbench_w0.25_e8_rm0.7_seed0",
        "airbench_w0.25_e8_rm0.7_seed1")
SOURCES = ("airbench_w0.25_e8_seed0", "airbench_w0.25_e8_seed1",
           "resnet_small_seed0@fast_cpu")


def workdir(dest, run):
  name, _, group = run.partition("@")
  return os.path.join(dest, "workdirs", group or "random_mask", name)


def main(argv):
  del argv
  dest = os.path.abspath(_DEST.value)
  results = os.path.join(dest, "experiments", "results", "cifar10_cpu",
                         "random_mask")
  data = os.path.join(dest, "..", "shared", "data", "cifar10-jpeg.zip")
  out = os.path.join(results, "transfer")
  if provenance.is_done(os.path.join(out, "run.json")):
    print(f"transfer: done, skipped ({out}/run.json; move {out} away to "
          "redo it)", flush=True)
    return
  trained = lambda r: os.path.isdir(os.path.join(workdir(dest, r),
                                                 "checkpoints"))
  untrained = [workdir(dest, r) for r in SOURCES if not trained(r)]
  if untrained:
    sys.exit(f"transfer: sources without a checkpoint: {untrained} (train "
             "them first: experiments/random_mask.sh, experiments/fast_cpu.py "
             "--runs=resnet_small:0)")
  missing = [r for r in RUNS if not trained(r)]
  if missing:
    print(f"transfer: targets left out (not trained): {missing}", flush=True)
  cmd = [sys.executable, "-m", "mdr.transfer",
         "--sources=" + ",".join(workdir(dest, r) for r in SOURCES),
         "--targets=" + ",".join(workdir(dest, r) for r in RUNS if trained(r)),
         f"--data={os.path.abspath(data)}", f"--images={_IMAGES.value}",
         f"--out={out}"]
  transfer_step.run(cmd, out, os.path.dirname(dest), _DRY.value)


if __name__ == "__main__":
  app.run(main)
