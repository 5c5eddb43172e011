"""Reading the per-seed result directories of the CPU-scale experiments.

``<results>/<run>/seed<k>/`` holds ``run.json`` (written when a run starts,
completed when it ends: ``status`` "done") and the evaluation files of that
model (``clean.json``, ``mask_sweep.json``, ``robustness.json`` and, when
run, ``pgd_strong.json`` and ``patch.json``). Later evaluations of the same
model (``experiments/extra_eval.py``) are in ``extra_eval/`` with
their own ``run.json``; their files count once that says done. Runs that
are not done are never reported.
"""

import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import provenance  # pylint: disable=g-import-not-at-top

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
    dirs = [d]
    extra = os.path.join(d, EXTRA_EVAL, "run.json")
    if os.path.exists(extra) and provenance.finished(_read(extra)):
      dirs.append(os.path.dirname(extra))
    for name in EVAL_FILES:
      found = [os.path.join(x, f"{name}.json") for x in dirs
               if os.path.exists(os.path.join(x, f"{name}.json"))]
      rec[name] = _read(found[-1]) if found else None
    runs.setdefault(run, []).append(rec)
  return runs


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
