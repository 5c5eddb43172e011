r"""The costlier evaluations of trained CPU-scale models, after their training.

  python experiments/extra_eval.py --dest=/work/main \
      --runs=airbench_w0.25_e3_pgd_at:0,airbench_w0.25_e3_m2at_square_mixup:0
  python experiments/extra_eval.py --group=mdr --matrix --runs=clean:0,mixed:0
  python experiments/extra_eval.py --group=adversarial --transfer

``--group`` names the trained models' place in the model × attack matrix
(``matrix_report.GROUPS``): ``adversarial`` (the default; trained by
``experiments/adversarial.sh``) under ``results/cifar10_cpu/adversarial/``,
``random_mask`` under ``results/cifar10_cpu/random_mask/``, ``mdr`` (the
seed's models, trained by ``experiments/cifar10.py``) under
``results/cifar10_cpu/<model>/``. ``--matrix`` runs what the model × attack
matrix reads and no more: the ``robustness`` suite (PGD-20, FGSM) and the
LaVAN ``patch`` suite in the image domain, at ``MATRIX_FLAGS``; the
``robustness`` suite is left out for a run whose training evaluation
already measured PGD-20 at 8/255 on as many images (``adversarial.sh``
evaluates it), whose ``robustness.json`` the matrix then reads. For each
trained run: ``python -m mdr.main --mode=eval`` with the run's own
training command (read from its ``run.json``, so the model and data are
exactly the trained ones) and the suites of ``--suites`` (default: the
stronger white-box check ``pgd_strong``, PGD-50 with 5 restarts at 8/255 on
1,000 test images, and the LaVAN ``patch`` suite). Results go to
``<results>/<run>/seed<k>/extra_eval/`` with their own ``run.json``, written
when the step starts and completed when it ends. A run is skipped when one of
its finished evaluations already ran every suite asked for; suites it lacks
go to ``extra_eval_<suites>/`` beside it, so nothing written is replaced
(``seed_runs.load`` reads them all, the later file over the earlier).

``--transfer`` evaluates nothing else: the black-box transfer column of the
matrix (``transfer_step``: ``python -m mdr.transfer`` from the group's standard
networks onto every finished run of the group, into the group's transfer
directory, with its ``run.json``).
"""

import json
import os
import shlex
import shutil
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=g-import-not-at-top
import provenance
import transfer_step
from matrix_report import GROUPS, PGD_EPS
from seed_runs import EXTRA_EVAL, _read, extra_evals
# pylint: enable=g-import-not-at-top

REPO = provenance.REPO
_DEST = flags.DEFINE_string("dest", REPO, "Checkout whose workdirs/ and "
                            "experiments/results/ are used.")
_GROUP = flags.DEFINE_enum("group", "adversarial", [g for g, _, _ in GROUPS],
                           "Which trained models --runs names.")
_RUNS = flags.DEFINE_string("runs", "", "run:seed,... (trained runs).")
_SUITES = flags.DEFINE_list("suites", ["pgd_strong", "patch"],
                            "Evaluation suites to run.")
_EXTRA = flags.DEFINE_string(
    "extra", "", "Extra flags appended to every command (shell syntax), "
    "e.g. --extra='--config.eval.strong_images=500'.")
_DRY = flags.DEFINE_bool("dry_run", False, "Print the commands only.")
_TRANSFER = flags.DEFINE_bool(
    "transfer", False, "Only the transfer column: from the group's standard "
    "networks onto every finished run of the group (--runs not needed).")
_TRANSFER_IMAGES = flags.DEFINE_integer(
    "transfer_images", 5000, "--transfer: test images (a fixed subset).")
_DATA = flags.DEFINE_string(
    "data", "", "--transfer: the CIFAR-10 zip; default "
    "<dest>/../shared/data/cifar10-jpeg.zip.")
_MATRIX = flags.DEFINE_bool(
    "matrix", False, "The matrix's cells: suites robustness and patch with "
    "MATRIX_FLAGS (a flag of --extra replaces the same one there).")

# The settings of the matrix's PGD and LaVAN columns, as the adversarial
# rows were evaluated: PGD-20 on 500 test images (up to 8/255), the 2 %
# patch on 100 test images, in the image domain only (the matrix's).
MATRIX_SUITES = ("robustness", "patch")
MATRIX_ROBUST_IMAGES = 500
MATRIX_PGD_STEPS = 20
MATRIX_FLAGS = (f"--config.eval.robust_images={MATRIX_ROBUST_IMAGES}",
                "--config.eval.pgd_eps=(0,2,8)",
                "--config.eval.patch_images=100",
                "--config.eval.patch_domains=('image',)")


def has_matrix_pgd(seed_dir):
  """Whether the run's own evaluation (``<seed_dir>/robustness.json``)
  already holds the matrix's PGD cell: PGD-20, cross-entropy, at
  ``PGD_EPS``/255 on ``MATRIX_ROBUST_IMAGES`` test images."""
  path = os.path.join(seed_dir, "robustness.json")
  if not os.path.exists(path):
    return False
  rob = _read(path)
  return rob.get("n") == MATRIX_ROBUST_IMAGES and any(
      r["attack"] == "pgd" and r["kind"] == "sweep" and r["loss"] == "ce"
      and r["steps"] == MATRIX_PGD_STEPS
      and abs(r["eps"] * 255 - PGD_EPS) < 1e-6
      for r in rob.get("records", []))


def output_dir(seed_dir, suites):
  """Where an evaluation of ``suites`` goes, or None when a finished one
  already ran all of them: ``extra_eval/`` unless it holds a finished
  evaluation, else ``extra_eval_<suites>/``."""
  done = extra_evals(seed_dir)
  if any(set(suites) <= set(r.get("suites", ())) for _, r in done):
    return None
  first = os.path.join(seed_dir, EXTRA_EVAL)
  if first not in [d for d, _ in done]:
    return first
  return os.path.join(seed_dir, "_".join([EXTRA_EVAL, *suites]))


def eval_command(train_command, suites, extra=()):
  """The trained run's argv with ``--mode=eval``, these suites and ``extra``.

  A flag given here replaces the training command's flag of the same name
  (absl keeps the first of a repeated config override, not the last).
  """
  argv = shlex.split(train_command)
  if argv[:3] != ["python", "-m", "mdr.main"]:
    raise ValueError(f"not an mdr.main command: {train_command!r}")
  attacks = "('alpha','beta','gamma','fgsm','pgd','lavan')"
  new = ["--mode=eval",
         f"--config.eval.suites=({','.join(repr(s) for s in suites)},)",
         f"--config.eval.attacks={attacks}", *extra]
  names = {a.partition("=")[0] for a in new}
  kept = [a for a in argv[3:] if a.partition("=")[0] not in names]
  return [sys.executable, "-m", "mdr.main", *kept, *new]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  dest = os.path.abspath(_DEST.value)
  sub = {g: s for g, s, _ in GROUPS}[_GROUP.value]
  results = os.path.join(dest, "experiments", "results", "cifar10_cpu",
                         *([sub] if sub else []))
  if _TRANSFER.value:
    data = os.path.abspath(_DATA.value or os.path.join(
        dest, "..", "shared", "data", "cifar10-jpeg.zip"))
    cmd, out = transfer_step.command(
        os.path.join(dest, "experiments", "results", "cifar10_cpu"),
        _GROUP.value, data, _TRANSFER_IMAGES.value)
    transfer_step.run(cmd, out, os.path.dirname(dest), _DRY.value)
    return
  if not _RUNS.value:
    raise app.UsageError("--runs: name the trained runs, e.g. "
                         "--runs=airbench_w0.25_e3_pgd_at:0")
  for item in _RUNS.value.split(","):
    run, _, seed = item.strip().partition(":")
    seed_dir = os.path.join(results, run, f"seed{seed}")
    train = os.path.join(seed_dir, "run.json")
    if not provenance.is_done(train):
      sys.exit(f"error: {run} seed {seed} is not trained ({train} does not "
               f"say done): train it first, then evaluate it here")
    extra = shlex.split(_EXTRA.value)
    given = {a.partition("=")[0] for a in extra}
    preset = [a for a in (MATRIX_FLAGS if _MATRIX.value else ())
              if a.partition("=")[0] not in given]   # --extra wins
    if not _MATRIX.value:
      suites = _SUITES.value
    else:   # what the training evaluation measured is not measured again
      suites = [s for s in MATRIX_SUITES
                if not (s == "robustness" and has_matrix_pgd(seed_dir))]
    out = output_dir(seed_dir, suites)
    if out is None:
      print(f"{run} seed {seed}: {', '.join(suites)} done, skipped",
            flush=True)
      continue
    cmd = eval_command(json.load(open(train))["command"], suites,
                       [*preset, *extra])
    short = "python " + shlex.join(cmd[1:])
    print(f"{run} seed {seed}: {short}  -> {os.path.basename(out)}/",
          flush=True)
    if _DRY.value:
      continue
    eval_dir = os.path.join(provenance.workdir_of(cmd), "eval")
    prefixes = tuple(s + "." for s in suites) + ("patch_examples.",)

    def copy(eval_dir=eval_dir, out=out, prefixes=prefixes):
      for name in sorted(os.listdir(eval_dir)):
        if name.startswith(prefixes):
          shutil.copy(os.path.join(eval_dir, name), out)
    # The training command's relative paths are relative to a sibling
    # checkout of dest (``../main/...``): run from this checkout, a sibling.
    provenance.run_step(cmd, out, short, after=copy, run=run, seed=int(seed),
                        suites=list(suites))


if __name__ == "__main__":
  app.run(main)
