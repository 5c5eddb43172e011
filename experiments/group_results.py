"""Reading the per-seed result directories of the CPU-scale experiments.

``<results>/<run>/seed<k>/`` holds ``run.json`` (written when a run starts,
completed when it ends: ``status`` "done") and the evaluation files of that
model (``clean.json``, ``mask_sweep.json``, ``robustness.json`` and, when
run, ``pgd_strong.json`` and ``patch.json``). Later evaluations of the same
model (``python -m experiments.run --stage=eval``) are in ``extra_eval/`` (and
``extra_eval_<suites>/`` for later suites) with their own ``run.json``;
their files count once that says done, a later evaluation's file over an
earlier one of the same name. Runs that are not done are never reported.
"""

import json
import os
import statistics
import sys

from experiments import provenance

EVAL_FILES = ("mask_sweep", "robustness", "pgd_strong", "patch")
EXTRA_EVAL = "extra_eval"


def _read(path):
  with open(path) as f:
    return json.load(f)


def load(results):
  """{run: [seed record]} of the trained models evaluated here."""
  runs = {}
  for run, d, run_json in provenance.finished_runs(results):
    rec = dict(seed=int(os.path.basename(d)[4:]), run=run_json,
               clean=_read(os.path.join(d, "clean.json")))
    dirs = [d] + [x for x, _ in extra_evals(d)]
    for name in EVAL_FILES:
      found = [os.path.join(x, f"{name}.json") for x in dirs
               if os.path.exists(os.path.join(x, f"{name}.json"))]
      rec[name] = _read(found[-1]) if found else None
    runs.setdefault(run, []).append(rec)
  return runs


def extra_evals(seed_dir):
  """``(directory, run.json record)`` of the seed's finished later
  evaluations (``extra_eval/``, ``extra_eval_<suites>/``), oldest first (by
  the time each ended)."""
  found = []
  for name in sorted(os.listdir(seed_dir)):
    path = os.path.join(seed_dir, name, "run.json")
    if ((name == EXTRA_EVAL or name.startswith(EXTRA_EVAL + "_"))
        and os.path.exists(path)):
      record = _read(path)
      if provenance.finished(record):
        found.append((os.path.dirname(path), record))
  return sorted(found, key=lambda x: x[1].get("finished", ""))


def workdir_name(run, seed):
  return f"{run}_seed{seed}"


def sweep_at(rec, attack, ratio):
  for r in rec["mask_sweep"] or []:
    if r["attack"] == attack and abs(r["ratio"] - ratio) < 1e-9:
      return r["accuracy"]
  return None


def robust_at(rec, attack, eps255, loss="ce"):
  for r in (rec["robustness"] or {}).get("records", []):
    if (r["attack"] == attack and r["kind"] == "sweep" and r["loss"] == loss
        and abs(r["eps"] * 255 - eps255) < 1e-6):
      return r["accuracy"]
  return None


def _fmt(values, digits=2):
  values = [v for v in values if v is not None]
  if not values:
    return "—"
  if len(values) == 1:
    return f"{values[0]:.{digits}f}"
  return (f"{statistics.fmean(values):.{digits}f} ± "
          f"{statistics.stdev(values):.{digits}f}")
