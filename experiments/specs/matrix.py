"""The columns of the CPU-scale model × attack matrix (``matrix_report``).

Each column is an evaluator of ``mdr.evaluators`` with its parameters; the
evaluator's ``table`` names the column and reads its cell off the result
files. Every group that lists these columns has rows in the matrix; a
group may add columns of its own (they follow these).
"""

import json
import os

from experiments.specs import Column
from experiments.specs import Evaluation

ROOT = "cifar10_cpu"   # the matrix's groups live under results/<ROOT>/
RATIO = 0.2            # hidden share of the mask-attack columns
SPARSE_RATIO = 0.9     # hidden share of the sparse column: 10 % visible
FILL = "zero"          # the fill of every mask column
PGD_EPS = 8            # /255
TRANSFER = "pgd16"     # mdr.transfer's main setting: PGD-20, ε 16/255
# Catastrophic overfitting (Wong et al. 2020): robust to the one-step attack,
# not to PGD; flagged when PGD-20 at 8/255 is below OVERFIT_BELOW % and
# FGSM at 8/255 more than OVERFIT_GAP points above it.
OVERFIT_BELOW = 5.0
OVERFIT_GAP = 20.0

COLUMNS = (
    Column.of("clean"),
    *(Column.of("mask_sweep", attack=a, ratio=RATIO, fill=FILL)
      for a in ("alpha", "alpha_exhaustive", "beta", "gamma", "alpha_pixels")),
    Column.of("sparse_pixels", attack="gamma", ratio=SPARSE_RATIO, fill=FILL),
    Column.of("robustness", attack="pgd", eps=PGD_EPS, loss="ce", steps=20,
              one_step="fgsm", overfit_below=OVERFIT_BELOW,
              overfit_gap=OVERFIT_GAP),
    Column.of("pgd_strong", eps=PGD_EPS),
    Column.of("patch", variant="per_image", domain="image"),
    Column.of("patch", variant="universal", domain="image"),
    Column.of("transfer", setting=TRANSFER),
)

# The later evaluation that fills the matrix's PGD and LaVAN cells of a
# trained run: PGD-20 on 500 test images (up to 8/255), the 2 % patch on 100
# test images in the image domain (the robustness suite is left out when the
# run's own evaluation already measured that PGD cell).
ROBUST_IMAGES = 500
PGD_STEPS = 20
EVAL_ATTACKS = "('alpha','beta','gamma','fgsm','pgd','lavan')"
EVAL_FLAGS = (f"--config.eval.robust_images={ROBUST_IMAGES}",
              "--config.eval.pgd_eps=(0,2,8)",
              "--config.eval.patch_images=100",
              "--config.eval.patch_domains=('image',)",
              # The patch's sanity runs: success must not fall from 100 to
              # 300 to the full 1,000 steps, nor from a 3x3 to the 5x5 to a
              # 7x7 patch.
              "--config.eval.patch_sanity_steps=(100,300)",
              "--config.eval.patch_sanity_sides=(3,7)")


def has_pgd_cell(reading_robustness):
  """Whether a ``robustness.json`` (parsed) holds the matrix's PGD cell:
  PGD-20, cross-entropy, at PGD_EPS/255 on ROBUST_IMAGES test images."""
  rob = reading_robustness or {}
  return rob.get("n") == ROBUST_IMAGES and any(
      r["attack"] == "pgd" and r["kind"] == "sweep" and r["loss"] == "ce"
      and r["steps"] == PGD_STEPS and abs(r["eps"] * 255 - PGD_EPS) < 1e-6
      for r in rob.get("records", []))


def own_eval_flags(ratios, pgd_eps):
  """The evaluation a matrix group's runs make when they train, as the
  Random Mask and adversarial rows were made: clean, the mask sweep at
  ``ratios`` (hidden shares: a tuple's text, e.g. "(0.0,0.2)") with α* at
  20 % on 250 images, the sparse-pixel curve, FGSM/PGD-20 at ``pgd_eps``
  (/255, text) on 500 images, 2 draws, no TTA."""
  return (
      "--config.eval.suites=(\"clean\",\"mask_sweep\",\"sparse_pixels\","
      "\"robustness\")",
      "--config.eval.attacks=(\"alpha\",\"alpha_exhaustive\",\"beta\","
      "\"gamma\",\"alpha_pixels\",\"fgsm\",\"pgd\")",
      "--config.eval.costly_images=250",
      "--config.eval.costly_ratios=(0.0,0.2)",
      f"--config.eval.ratios={ratios}", f"--config.eval.pgd_eps={pgd_eps}",
      "--config.eval.robust_images=500", "--config.eval.draws=2",
      "--config.eval.tta=0")


def _skip_measured(seed_dir):
  """The suites a run's own evaluation already measured for the matrix."""
  path = os.path.join(seed_dir, "robustness.json")
  if os.path.exists(path):
    with open(path) as f:
      if has_pgd_cell(json.load(f)):
        return ("robustness",)
  return ()


ATTACKS_FLAG = f"--config.eval.attacks={EVAL_ATTACKS}"
# The later evaluations every matrix group offers (``--stage=eval
# --evaluation=<name>``).
EVALUATIONS = {
    "matrix": Evaluation(
        suites=("robustness", "patch"), flags=(ATTACKS_FLAG, *EVAL_FLAGS),
        skip=_skip_measured,
        doc="the matrix's PGD-20 and LaVAN cells (PGD left out where the "
            "run's own evaluation measured it)"),
    "strong": Evaluation(
        suites=("pgd_strong", "patch"), flags=(ATTACKS_FLAG,),
        doc="the stronger white-box check (PGD-50 × 5 restarts) and LaVAN"),
    "certify": Evaluation(
        suites=("patch_cleanser",), flags=("--config.eval.tta=0",),
        doc="PatchCleanser's certificates of the model as trained (p = 2, "
            "5; 36 masks; 500 test images)"),
    "smooth": Evaluation(
        suites=("smoothing",), flags=("--config.eval.tta=0",),
        doc="column de-randomized smoothing of the model as trained (bands "
            "of 4 columns, the rest zero-filled; p = 2, 5; 500 test images)"),
}
