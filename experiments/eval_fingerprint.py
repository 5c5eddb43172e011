"""Whether a code change moved any evaluation result: trains two tiny runs
(tests' tiny_config, synthetic data, seconds), evaluates the second with
every evaluator, every attack, TTA 1, two fills and the first as a transfer
source, and copies its eval/ to OUT. Run it before and after a change and
compare the folders (only the ``seconds`` fields may differ):

  python -m experiments.eval_fingerprint /tmp/before    # at the old commit
  python -m experiments.eval_fingerprint /tmp/after
  python -m experiments.eval_fingerprint --compare /tmp/before /tmp/after

Every registered attack (``mdr.attacks``) is evaluated: the report's columns
first, in their order (``experiments/specs/seed_paper.py``), then the others
in registration order.
"""

import json
import os
import shutil
import sys

from experiments import provenance
from experiments.specs import seed_paper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _strip(obj):
  if isinstance(obj, dict):
    return {k: _strip(v) for k, v in obj.items() if k != "seconds"}
  if isinstance(obj, list):
    return [_strip(v) for v in obj]
  return obj


def compare(a, b):
  names = sorted(set(os.listdir(a)) | set(os.listdir(b)))
  differ = []
  for name in names:
    pa, pb = os.path.join(a, name), os.path.join(b, name)
    if not (os.path.exists(pa) and os.path.exists(pb)):
      differ.append(f"{name}: only in one")
    elif open(pa, "rb").read() != open(pb, "rb").read():
      if name.endswith(".json") and _strip(json.load(open(pa))) == _strip(
          json.load(open(pb))):
        print(f"{name}: equal but for seconds")
      else:
        differ.append(name)
  print(f"{len(names)} files, {len(differ)} differ: {differ}")
  return not differ


def every_attack():
  """Every registered attack: the report's columns, then the others."""
  from mdr import attacks  # pylint: disable=g-import-not-at-top
  first = tuple(a for a in seed_paper.ATTACKS if a in attacks.names())
  return first + tuple(a for a in attacks.names() if a not in first)


def main(out):
  tiny_config = provenance.load_module(
      os.path.join(REPO, "tests", "conftest.py")).tiny_config
  from mdr import train  # pylint: disable=g-import-not-at-top
  wd = out + "_workdirs"
  shutil.rmtree(wd, ignore_errors=True)
  shutil.rmtree(out, ignore_errors=True)
  train.train_and_evaluate(tiny_config(**{"train.mode": "clean",
                                          "eval.suites": ()}), wd + "/src")
  c = tiny_config(**{
      "train.mode": "mixed",
      "eval.suites": ("clean", "mask_sweep", "sparse_pixels", "robustness",
                      "pgd_strong", "patch", "transfer"),
      "eval.attacks": every_attack(),
      "eval.extra_fills": ("mean",), "eval.costly_images": 40, "eval.tta": 1,
      "eval.pgd_eps": (0, 8), "eval.pgd_steps": 3, "eval.robust_images": 40,
      "eval.strong_steps": 3, "eval.strong_restarts": 2,
      "eval.strong_images": 24, "eval.patch_images": 24,
      "eval.patch_steps": 5, "eval.patch_universal_steps": 5,
      "eval.patch_location": "bottom_right",
      "eval.patch_transfer_workdirs": (wd + "/src",),
      "eval.transfer.sources": (wd + "/src",), "eval.transfer.images": 40,
      "eval.transfer.settings": ("fgsm8",)})
  train.train_and_evaluate(c, wd + "/main")
  shutil.copytree(wd + "/main/eval", out)


if __name__ == "__main__":
  if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
    print(__doc__)
    sys.exit(0 if len(sys.argv) > 1 else 2)
  if sys.argv[1] == "--compare":
    sys.exit(0 if compare(sys.argv[2], sys.argv[3]) else 1)
  main(sys.argv[1])
