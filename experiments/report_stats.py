"""The report's numbers: means and spreads over seeds, as plain data.

``summarize`` turns the runs of a scale (``report_load.load``) into every
number the report shows (written to ``summary.json``); ``check`` compares a
rerun's result files with the committed ones, cell by cell. A cell keeps
two spreads apart: ``seed_std``, the sample std over seeds of the per-seed
accuracies (None with one seed), and ``draw_std``, the std over the eval
draws of the random masks within a seed (root mean square over seeds; 0 for
α, α* and α-pixels, deterministic given the model). ``spread`` is the first
where there are several seeds, else the second (the rerun check's unit).
"""

import math

import statistics

from experiments.claims import FEW_PIXELS_ACCURACY
from experiments.report_load import load
from experiments.report_load import ratio_key
from experiments.seed_paper import ATTACKS


def combine(values, draw_stds):
  """Mean and spread: std over seeds (ddof=1), or the draws' std for one."""
  mean = statistics.fmean(values)
  if len(values) > 1:
    return mean, statistics.stdev(values)
  return mean, draw_stds[0]


def aggregate(runs, field="sweep"):
  """{(attack, ratio): {mean, spread, seeds: [per-seed accuracy]}}."""
  per = {}
  for run in runs:
    for rec in run[field]:
      per.setdefault((rec["attack"], ratio_key(rec["ratio"])), []).append(rec)
  out = {}
  for k, recs in per.items():
    if len(recs) != len(runs):
      continue  # not measured for every seed
    accs = [r["accuracy"] for r in recs]
    mean, spread = combine(accs, [r["std"] for r in recs])
    out[k] = dict(mean=mean, spread=spread,
                  seed_std=statistics.stdev(accs) if len(accs) > 1 else None,
                  draw_std=math.sqrt(statistics.fmean(
                      r["std"] ** 2 for r in recs)),
                  seeds=accs, n=recs[0].get("n"),
                  hidden_pixels=recs[0]["hidden_pixels"])
  return out


def clean_accuracy(agg):
  """Accuracy with nothing hidden (every attack at ratio 0 is the same)."""
  for attack in ATTACKS:
    if (attack, 0.0) in agg:
      return agg[(attack, 0.0)]
  raise ValueError("no ratio-0 record: the sweep must include ratio 0")


def visible_at_threshold(sparse, threshold=FEW_PIXELS_ACCURACY):
  """Smallest visible share keeping accuracy >= threshold on a γ curve.

  ``sparse``: [(hidden ratio, accuracy)]. Walks up the hidden ratios until
  accuracy first drops below ``threshold``. Returns (measured, interpolated):
  the visible share (fraction) at the last grid point still >= threshold and
  the linear interpolation of the crossing between it and the next point.
  (None, None) if even ratio 0 is below; (v, v) if it never drops below.
  """
  pts = sorted(sparse)
  if not pts or pts[0][1] < threshold:
    return None, None
  for (r0, a0), (r1, a1) in zip(pts, pts[1:]):
    if a1 < threshold:
      r = r0 + (a0 - threshold) / (a0 - a1) * (r1 - r0)
      return 1 - r0, 1 - r
  return 1 - pts[-1][0], 1 - pts[-1][0]


def with_fill(runs, fill):
  """The runs with their ``fill`` records as ``sweep`` / ``sparse`` (runs
  without that fill are left out)."""
  return [dict(r, sweep=r["fills"][fill]["sweep"],
               sparse=r["fills"][fill]["sparse"]) for r in runs
          if fill in r.get("fills", {})]


def summarize(models, fill=None):
  """Every number the report uses, as plain data (written to summary.json).

  ``fill``: summarise the records of that fill (``report_load.load`` reads
  every fill a run has); None: the primary one (``mask_sweep.json``).
  """
  out = {}
  for model, runs in models.items():
    if fill is not None:
      runs = with_fill(runs, fill)
      if not runs:
        continue
    sweep = aggregate(runs, "sweep")
    sparse = aggregate(runs, "sparse")
    thresholds = []
    for run in runs:
      curve = [(r["ratio"], r["accuracy"]) for r in run["sparse"]]
      thresholds.append(visible_at_threshold(curve))
    mean_curve = sorted((ratio, e["mean"]) for (_, ratio), e in sparse.items())
    out[model] = dict(
        seeds=[r["seed"] for r in runs],
        clean=clean_accuracy(sweep),
        sweep={f"{a}@{r:g}": e for (a, r), e in sorted(sweep.items())},
        sparse={f"{r:g}": e for (_, r), e in sorted(sparse.items())},
        visible_at_50=dict(per_seed=thresholds,
                           mean_curve=visible_at_threshold(mean_curve)),
        wall_min=[round(r["run"]["wall_s"] / 60, 1) for r in runs],
        commits=[r["run"]["commit"] + (
            "-dirty" if r["run"].get("code_dirty") else "") for r in runs],
        load_avg=[r["run"].get("load_avg_1min") or [
            r["run"].get("load_avg_1min_start"),
            r["run"].get("load_avg_1min_end")] for r in runs],
        commands=[r["run"]["command"] for r in runs],
        machine=runs[0]["run"]["machine"],
        fill=runs[0]["sweep"][0].get("fill", runs[0]["config"].get(
            "eval", {}).get("fill")) if runs[0]["sweep"] else None,
        epochs=runs[0]["config"].get("train", {}).get("epochs"),
        model_name=runs[0]["config"].get("model", {}).get("name"),
        config_eval=runs[0]["config"].get("eval", {}),
    )
  return out


def sweep_entry(summary, model, attack, ratio):
  """A model's sweep cell {mean, spread, ...} of the summary, or None."""
  return summary[model]["sweep"].get(f"{attack}@{ratio:g}")


def check(rerun_dir, committed_dir):
  """Compares a rerun's result files with the committed ones, cell by cell.

  Returns one dict per rerun run that has a committed counterpart (same
  model and seed): ``per_cell`` — for every attack and ratio of the sweep
  and the sparse-pixel curve, the committed number of that seed, the
  rerun's, and the committed mean and spread the report shows (std over
  seeds, or over eval draws for a one-seed model) — and from it ``cells``,
  ``max_abs_diff`` and the cell it is in (``worst``), ``beyond_1x`` /
  ``beyond_2x`` (cells whose rerun differs from the same seed's number by
  more than 1× / 2× the cell's spread), ``mean_beyond_1x`` /
  ``mean_beyond_2x`` (the same against the mean; ``mean_outside_2x`` lists
  the cells beyond 2×), ``largest_spread``, the
  rerun's commit, wall time and machine, and the committed run's machine.
  """
  rerun, committed = load(rerun_dir), load(committed_dir)
  summary = summarize(committed)
  rows = []
  for model, runs in rerun.items():
    for run in runs:
      mine = [r for r in committed.get(model, []) if r["seed"] == run["seed"]]
      if not mine:
        continue
      ref = {(f, r["attack"], ratio_key(r["ratio"])): r["accuracy"]
             for f in ("sweep", "sparse") for r in mine[0][f]}
      stats = {f: aggregate(committed[model], f) for f in ("sweep", "sparse")}
      cells = []
      for f in ("sweep", "sparse"):
        for r in run[f]:
          key = (f, r["attack"], ratio_key(r["ratio"]))
          if key in ref:
            e = stats[f].get(key[1:], dict(mean=ref[key], spread=0.0))
            cells.append(dict(cell=f"{f} {r['attack']}@{key[2]:g}",
                              committed=ref[key], rerun=r["accuracy"],
                              mean=e["mean"], spread=e["spread"]))
      diff = lambda c: abs(c["rerun"] - c["committed"])
      off = lambda c: abs(c["rerun"] - c["mean"])
      worst = max(cells, key=diff, default=None)
      if worst is not None and diff(worst) == 0.0:
        worst = None  # identical: no cell to name
      eps = 1e-9  # a difference equal to the spread is within it
      far = [c for c in cells if off(c) > 2 * c["spread"] + eps]
      rows.append(dict(
          model=model, seed=run["seed"], cells=len(cells),
          max_abs_diff=diff(worst) if worst else 0.0,
          worst=worst["cell"] if worst else "—",
          worst_spread=worst["spread"] if worst else 0.0,
          beyond_1x=sum(diff(c) > c["spread"] + eps for c in cells),
          beyond_2x=sum(diff(c) > 2 * c["spread"] + eps for c in cells),
          mean_beyond_1x=sum(off(c) > c["spread"] + eps for c in cells),
          mean_beyond_2x=len(far),
          mean_outside_2x=far,
          largest_spread=max(e["spread"] for part in ("sweep", "sparse")
                             for e in summary[model][part].values()),
          commit=run["run"].get("commit"),
          wall_min=round(run["run"].get("wall_s", 0.0) / 60, 1),
          machine=run["run"].get("machine", {}),
          committed_machine=mine[0]["run"].get("machine", {}),
          per_cell=cells))
  return rows
