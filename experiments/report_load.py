"""Reading the CIFAR-10 result files, and asking git about their commits.

A scale's directory (``experiments/results/cifar10_<scale>/``) holds a
``<model>/seed<k>/`` per run, written by ``python -m experiments.run``:
``run.json`` (command, commit, wall time, machine), ``mask_sweep.json`` and
``sparse_pixels.json`` (the eval schema: ``attack, ratio, hidden_pixels,
accuracy, std, n``, and ``fill`` in newer runs) and ``config.json``; the
same two files per further fill (``mask_sweep_<fill>.json``,
``sparse_pixels_<fill>.json``, ``eval.extra_fills``); and, once a rerun has
been compared with it (``python -m experiments.report --check``),
``rerun_check.json``. Runs whose ``run.json`` is not done are left out.
"""

import glob
import json
import os
import subprocess
import sys

from experiments import provenance

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "experiments", "results")
# The trained models, in the report's order (others follow, sorted).
MODELS = ("clean", "masked", "masked_all", "mixed", "masked_sparse")
# The model trained without masks: the standard network, whose seeds are the
# sources of the black-box transfer onto the others (``--stage=transfer``).
STANDARD = "clean"


def ratio_key(r):
  """A hidden ratio as a dict key: rounded, so 0.1 and 0.10000001 match."""
  return round(float(r), 6)


def _read(path):
  with open(path) as f:
    return json.load(f)


def load(scale_dir):
  """{model: [run]} with run = {seed, sweep, sparse, run, config}."""
  models = {}
  for model, d, run in provenance.finished_runs(scale_dir):
    sweep = _read(os.path.join(d, "mask_sweep.json"))
    sparse = _read(os.path.join(d, "sparse_pixels.json"))
    config = {}
    if os.path.exists(os.path.join(d, "config.json")):
      config = _read(os.path.join(d, "config.json"))
    primary = config.get("eval", {}).get("fill", "zero")
    fills = {primary: dict(sweep=sweep, sparse=sparse)}
    for extra in sorted(glob.glob(os.path.join(d, "mask_sweep_*.json"))):
      fill = os.path.basename(extra)[len("mask_sweep_"):-len(".json")]
      other = os.path.join(d, f"sparse_pixels_{fill}.json")
      if os.path.exists(other):
        fills[fill] = dict(sweep=_read(extra), sparse=_read(other))
    models.setdefault(model, []).append(dict(
        seed=run["seed"], sweep=sweep, sparse=sparse, fills=fills, run=run,
        config=config))
  order = [m for m in MODELS if m in models] + sorted(set(models) - set(MODELS))
  return {m: sorted(models[m], key=lambda r: r["seed"]) for m in order}


def load_rerun_check(scale_dir):
  """The scale's ``rerun_check.json`` (``report.py --check``), or None."""
  path = os.path.join(scale_dir, "rerun_check.json")
  return _read(path) if os.path.exists(path) else None


def same_code(commits):
  """Whether the code a run uses is the same at every commit (git), or None.

  Compares ``mdr/``, ``configs/`` and ``pyproject.toml`` of each commit with
  the first; None when git or a commit is unavailable.
  """
  shas = sorted({c.replace("-dirty", "") for c in commits})
  for sha in shas[1:]:
    proc = subprocess.run(["git", "diff", "--quiet", shas[0], sha, "--",
                           "mdr", "configs", "pyproject.toml"], cwd=REPO,
                          capture_output=True, check=False)
    if proc.returncode not in (0, 1):
      return None
    if proc.returncode == 1:
      return False
  return True
