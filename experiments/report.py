r"""Build the CIFAR-10 report from the committed result files.

  python experiments/report.py          # writes experiments/README.md

Reads ``experiments/results/cifar10_<scale>/<model>/seed<k>/`` (written by
``experiments/cifar10.py``: ``mask_sweep.json``, ``sparse_pixels.json``,
``run.json``, ``config.json``) for every scale present, and writes

- ``experiments/README.md``: the matrix (a row per model, the seed's row
  beside), per-attack tables with their spread, the claims with the numbers
  that support or refute them, wall times, commits and seeds;
- ``experiments/results/cifar10_<scale>/summary.json``: every number of it;
- ``.../all_sweeps.png`` and ``.../all_sparse.png``: all models in one plot.

Nothing here trains or evaluates: every number is read from the result files.
Across seeds a cell is the mean over seeds ± the sample std over seeds; with
one seed it is the mean over the eval draws ± their std (0 for α and
α-pixels, which are deterministic given the model).
"""

from __future__ import annotations

import glob
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from mdr import attacks as attacks_lib  # pylint: disable=g-import-not-at-top

RESULTS = os.path.join(REPO, "experiments", "results")

# The seed paper's only table: CIFAR-10, ResNet, clean training (accuracy, %).
SEED_TABLE = {
    "alpha": {0.0: 93.89, 0.02: 89.98, 0.05: 86.90, 0.10: 81.48, 0.15: 74.12,
              0.20: 67.11},
    "beta": {0.0: 93.89, 0.02: 90.20, 0.05: 87.73, 0.10: 82.00, 0.15: 75.49,
             0.20: 68.36},
    "gamma": {0.0: 93.89, 0.02: 65.14, 0.05: 45.96, 0.10: 27.64, 0.15: 16.00,
              0.20: 14.07},
}
MATRIX_RATIOS = (0.02, 0.05, 0.10, 0.15, 0.20)
# The columns of the reproduction: the attacks the seed's claims are about
# (plus alpha_pixels); names and symbols come from the attack registry.
ATTACKS = ("alpha", "beta", "gamma", "alpha_pixels")
SYMBOL = {n: attacks_lib.get(n).symbol for n in attacks_lib.names()}
LONG = {n: attacks_lib.get(n).display for n in attacks_lib.names()}
MODELS = ("clean", "masked", "masked_all", "mixed", "masked_sparse")
DESCRIBE = {
    "clean": "no masks in training (`configs/clean.py`)",
    "masked": "every training image masked with γ (`configs/masked.py`)",
    "masked_all": "every training image masked with α, β or γ "
                  "(`configs/masked.py`, `train.mask_types=(alpha,beta,gamma)`)",
    "mixed": "half of each batch masked with α, β or γ (`configs/mixed.py`)",
    "masked_sparse": "every training image masked with γ hiding 0–99 % "
                     "(`configs/masked.py`, `train.ratio_max=0.99`; the "
                     "others hide 0–20 % in training)",
}
COLORS = {"clean": "black", "masked": "tab:green", "masked_all": "tab:purple",
          "mixed": "tab:orange", "masked_sparse": "tab:cyan"}
THRESHOLD = 50.0  # claim (b): "more than 50 %"


def _key(r):
  return round(float(r), 6)


def load(scale_dir):
  """{model: [run]} with run = {seed, sweep, sparse, run, config}."""
  models = {}
  for path in sorted(glob.glob(os.path.join(scale_dir, "*", "seed*",
                                            "run.json"))):
    d = os.path.dirname(path)
    model = os.path.basename(os.path.dirname(d))
    with open(path) as f:
      run = json.load(f)
    with open(os.path.join(d, "mask_sweep.json")) as f:
      sweep = json.load(f)
    with open(os.path.join(d, "sparse_pixels.json")) as f:
      sparse = json.load(f)
    config = {}
    if os.path.exists(os.path.join(d, "config.json")):
      with open(os.path.join(d, "config.json")) as f:
        config = json.load(f)
    models.setdefault(model, []).append(dict(
        seed=run["seed"], sweep=sweep, sparse=sparse, run=run, config=config))
  order = [m for m in MODELS if m in models] + sorted(set(models) - set(MODELS))
  return {m: sorted(models[m], key=lambda r: r["seed"]) for m in order}


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
      per.setdefault((rec["attack"], _key(rec["ratio"])), []).append(rec)
  out = {}
  for k, recs in per.items():
    if len(recs) != len(runs):
      continue  # not measured for every seed
    mean, spread = combine([r["accuracy"] for r in recs],
                           [r["std"] for r in recs])
    out[k] = dict(mean=mean, spread=spread,
                  seeds=[r["accuracy"] for r in recs],
                  hidden_pixels=recs[0]["hidden_pixels"])
  return out


def clean_accuracy(agg):
  """Accuracy with nothing hidden (every attack at ratio 0 is the same)."""
  for attack in ATTACKS:
    if (attack, 0.0) in agg:
      return agg[(attack, 0.0)]
  raise ValueError("no ratio-0 record: the sweep must include ratio 0")


def visible_at_threshold(sparse, threshold=THRESHOLD):
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


def _pct(x, digits=0):
  return "—" if x is None else f"{x * 100:.{digits}f} %"


def _cell(entry, spread=True):
  if entry is None:
    return "—"
  if not spread:
    return f"{entry['mean']:.2f}"
  return f"{entry['mean']:.2f} ± {entry['spread']:.2f}"


def summarize(models):
  """Every number the report uses, as plain data (written to summary.json)."""
  out = {}
  for model, runs in models.items():
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
        load_avg=[r["run"].get("load_avg_1min") for r in runs],
        commands=[r["run"]["command"] for r in runs],
        machine=runs[0]["run"]["machine"],
        epochs=runs[0]["config"].get("train", {}).get("epochs"),
        model_name=runs[0]["config"].get("model", {}).get("name"),
        config_eval=runs[0]["config"].get("eval", {}),
    )
  return out


def _get(summary, model, attack, ratio):
  return summary[model]["sweep"].get(f"{attack}@{ratio:g}")


def matrix_markdown(summary):
  """The matrix: a row per model, clean + each attack at 2..20 %, means."""
  head = ["model", "seeds", "clean"] + [
      f"{SYMBOL[a]} {r * 100:.0f}%" for a in ATTACKS for r in MATRIX_RATIOS]
  lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
  seed_cells = ["**seed paper** (ResNet, clean)", "—",
                f"{SEED_TABLE['alpha'][0.0]:.2f}"]
  for a in ATTACKS:
    for r in MATRIX_RATIOS:
      seed_cells.append(f"{SEED_TABLE[a][r]:.2f}" if a in SEED_TABLE else "—")
  lines.append("| " + " | ".join(seed_cells) + " |")
  for model, s in summary.items():
    cells = [model, str(len(s["seeds"])), _cell(s["clean"], spread=False)]
    for a in ATTACKS:
      for r in MATRIX_RATIOS:
        cells.append(_cell(_get(summary, model, a, r), spread=False))
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def attack_markdown(summary, attack):
  """One attack: a row per model, clean + ratios, mean ± spread."""
  ratios = (0.0,) + MATRIX_RATIOS
  pixels = {}
  for model in summary:
    for r in ratios:
      e = _get(summary, model, attack, r)
      if e is not None:
        pixels.setdefault(r, e["hidden_pixels"])
  head = ["model"] + [f"{r * 100:.0f} %" + (f" ({pixels[r]} px)" if r in pixels
                                            else "") for r in ratios]
  lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
  if attack in SEED_TABLE:
    lines.append("| seed paper | " + " | ".join(
        f"{SEED_TABLE[attack][r]:.2f}" for r in ratios) + " |")
  for model in summary:
    lines.append(f"| {model} | " + " | ".join(
        _cell(_get(summary, model, attack, r)) for r in ratios) + " |")
  return "\n".join(lines) + "\n"


def sparse_markdown(summary):
  ratios = sorted({float(r) for s in summary.values() for r in s["sparse"]})
  head = ["model"] + [f"{(1 - r) * 100:.0f} %" for r in ratios]
  lines = ["| visible pixels → | " + " | ".join(head[1:]) + " |",
           "|---" * len(head) + "|"]
  for model, s in summary.items():
    lines.append(f"| {model} | " + " | ".join(
        _cell(s["sparse"].get(f"{r:g}")) for r in ratios) + " |")
  return "\n".join(lines) + "\n"


def plot_sweeps(path, summary, title):
  fig, axes = plt.subplots(1, len(ATTACKS), figsize=(14, 3.8), dpi=110,
                           sharey=True)
  for ax, attack in zip(axes, ATTACKS):
    ratios = (0.0,) + MATRIX_RATIOS
    if attack in SEED_TABLE:
      ax.plot([r * 100 for r in ratios], [SEED_TABLE[attack][r] for r in ratios],
              "--", color="gray", marker="x", ms=4, lw=1.2, label="seed paper (clean)")
    for model in summary:
      es = [(r, _get(summary, model, attack, r)) for r in ratios]
      es = [(r, e) for r, e in es if e is not None]
      ax.errorbar([r * 100 for r, _ in es], [e["mean"] for _, e in es],
                  yerr=[e["spread"] for _, e in es], marker="o", ms=3,
                  capsize=2, color=COLORS.get(model), label=model)
    ax.set_title(LONG[attack], fontsize=10)
    ax.set_xlabel("hidden pixels (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
  axes[0].set_ylabel("top-1 accuracy (%)")
  axes[0].legend(fontsize=8, loc="lower left")
  fig.suptitle(title, fontsize=11)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def plot_sparse(path, summary, title):
  fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
  for model, s in summary.items():
    pts = sorted((float(r), e) for r, e in s["sparse"].items())
    ax.errorbar([(1 - r) * 100 for r, _ in pts], [e["mean"] for _, e in pts],
                yerr=[e["spread"] for _, e in pts], marker="o", ms=3,
                capsize=2, color=COLORS.get(model), label=model)
  ax.axhline(THRESHOLD, color="gray", lw=1, ls="--", label="50 %")
  ax.axhline(10, color="gray", lw=1, ls=":", label="chance (10 %)")
  ax.set_xlim(102, -2)
  ax.set_xlabel("visible pixels (%; the rest hidden by γ)")
  ax.set_ylabel("top-1 accuracy (%)")
  ax.set_ylim(0, 100)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  ax.set_title(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def _delta(x):
  return f"{x:+.2f}"


def seed_noise(summary, cell):
  """Seed-to-seed std of a cell ("clean" or "attack@ratio"): the largest
  sample std over seeds among the models that have two or more seeds."""
  stds = []
  for s in summary.values():
    if len(s["seeds"]) < 2:
      continue
    e = s["clean"] if cell == "clean" else s["sweep"].get(cell)
    if e is not None:
      stds.append(e["spread"])
  return max(stds, default=0.0)


def compare(summary, model, cell):
  """(model's mean, clean model's mean, delta, significant) or None.

  A difference is significant when it exceeds twice the seed-to-seed std of
  that cell (``seed_noise``).
  """
  if model not in summary or "clean" not in summary:
    return None
  get = lambda m: (summary[m]["clean"] if cell == "clean"  # pylint: disable=g-long-lambda
                   else summary[m]["sweep"].get(cell))
  a, b = get(model), get("clean")
  if a is None or b is None:
    return None
  d = a["mean"] - b["mean"]
  return a["mean"], b["mean"], d, abs(d) > 2 * seed_noise(summary, cell)


def _change(c, symbol):
  if c is None:
    return f"{symbol} not measured"
  return (f"{symbol} {_delta(c[2])} ({c[0]:.2f} vs {c[1]:.2f}"
          f"{'' if c[3] else ', within noise'})")


NOISE_RULE = ("A difference counts only if it exceeds twice the seed-to-seed "
              "std of that cell (the largest among the models with two or "
              "more seeds; {noise}).")


def _visible(v, last):
  return "—" if v is None else (f"≤ {_pct(v)} (never below)" if last else
                                _pct(v, 1))


def claims_markdown(summary):
  """The seed's observation and claims (a)-(c), each with its numbers."""
  out = []
  at20 = lambda m, a: _get(summary, m, a, 0.2)  # pylint: disable=unnecessary-lambda-assignment
  noise = ", ".join(f"{SYMBOL[a]} at 20 %: {seed_noise(summary, f'{a}@0.2'):.2f}"
                    for a in ("alpha", "beta", "gamma"))
  noise = f"clean: {seed_noise(summary, 'clean'):.2f}, " + noise
  rule = NOISE_RULE.format(noise=noise)
  if not any(len(s["seeds"]) > 1 for s in summary.values()):
    rule = ("No model has two seeds yet, so seed-to-seed noise is unknown and "
            "every difference counts.")
  if "clean" in summary and at20("clean", "beta") and at20("clean", "gamma"):
    b, g = at20("clean", "beta"), at20("clean", "gamma")
    gap = b["mean"] - g["mean"]
    verdict = "holds" if gap >= 20 else "does not hold"
    out.append(
        f"**Central observation — γ at 20 % is far below β at 20 % on a "
        f"clean-trained model: {verdict}.** Clean model, 20 % hidden: β "
        f"{_cell(b)} ({b['hidden_pixels']} pixels), γ {_cell(g)} "
        f"({g['hidden_pixels']} pixels): a gap of {gap:.2f} points (seed "
        f"paper: 68.36 vs 14.07, a gap of 54.29). Criterion: a gap of at "
        f"least 20 points.\n")
  for model in ("masked", "masked_all", "masked_sparse"):
    dc = compare(summary, model, "clean")
    if dc is None:
      continue
    gains = {a: compare(summary, model, f"{a}@0.2") for a in ATTACKS}
    beyond = [a for a in ("alpha", "beta", "gamma") if gains[a] is not None
              and gains[a][2] > 0 and gains[a][3]]
    resists = len(beyond) == 3
    loses = dc[2] < 0 and dc[3]
    if resists and loses:
      verdict = "supported"
    elif beyond:
      rest = [SYMBOL[a] for a in ("alpha", "beta", "gamma") if a not in beyond]
      verdict = ("partly supported (resists " + ", ".join(
          SYMBOL[a] for a in beyond) + " beyond noise" + (
              "; " + ", ".join(rest) + " gain within noise" if rest else "")
                 + ("" if loses else "; no measurable loss of clean accuracy")
                 + ")")
    else:
      verdict = "not supported"
    out.append(
        f"**(a) A model trained on masked images loses some clean accuracy "
        f"but resists mask attacks — `{model}`: {verdict}.** Clean: "
        f"{_change(dc, '')[1:]} against `clean`. At 20 % hidden, against "
        f"`clean`: " + ", ".join(_change(gains[a], SYMBOL[a]) for a in ATTACKS)
        + ". Criterion: a lower clean accuracy and a higher one under each of "
        f"α, β, γ at 20 %. {rule}\n")
  lines = []
  for model, s in summary.items():
    per_seed = s["visible_at_50"]["per_seed"]
    last = [m is not None and i == m and m <= min(
        1 - float(r) for r in s["sparse"]) + 1e-9 for m, i in per_seed]
    grid = ", ".join(_pct(m) for m, _ in per_seed)
    interp = ", ".join(_visible(i, l) for (_, i), l in zip(per_seed, last))
    lines.append(f"| {model} | {grid} | {interp} |")
  few = [m for m in summary if m != "clean" and all(
      v is not None and v <= 0.10 for v, _ in
      summary[m]["visible_at_50"]["per_seed"])]
  out.append(
      "**(b) A mask-trained model classifies from only a few visible pixels, "
      "\"more than 50 %\": "
      f"{'supported for ' + ', '.join(f'`{m}`' for m in few) if few else 'not supported'}"
      ".** Criterion (we read the seed's \"more than 50 %\" as accuracy): "
      "at least 50 % accuracy with at most 10 % of the pixels visible (γ "
      "hides the rest), for every seed. Smallest visible share at "
      "which each model still scores at least 50 % (per seed; the measured "
      "grid point, and the linear interpolation of the crossing between grid "
      "points):\n\n"
      "| model | smallest visible share with ≥ 50 % (grid) | interpolated "
      "crossing of 50 % |\n|---|---|---|\n" + "\n".join(lines) + "\n")
  # The other reading of (b): the first grid point past half hidden.
  past = sorted({float(r) for s in summary.values() for r in s["sparse"]
                 if float(r) > 0.5})
  half = [(m, s["sparse"][f"{past[0]:g}"]) for m, s in summary.items()
          if past and f"{past[0]:g}" in s["sparse"]]
  if half:
    above = [m for m, e in half if e["mean"] >= THRESHOLD]
    out.append(
        "Read instead as \"classifies correctly with more than 50 % of the "
        "pixels hidden\", the curve's first grid point past half "
        f"({past[0] * 100:.0f} % hidden by γ) gives: "
        + ", ".join(f"`{m}` {_cell(e)}" for m, e in half) + "; "
        + (f"at least 50 % for {', '.join(f'`{m}`' for m in above)}"
           if above else "no model reaches 50 % there") + ".\n")
  mixed = {a: compare(summary, "mixed", f"{a}@0.2") for a in ATTACKS}
  dc = compare(summary, "mixed", "clean")
  if dc is not None:
    keeps = dc[2] >= -3
    rises = mixed["gamma"] is not None and mixed["gamma"][2] > 30
    all3 = all(mixed[a] is not None and mixed[a][2] > 0 and mixed[a][3]
               for a in ("alpha", "beta", "gamma"))
    verdict = "supported" if keeps and rises and all3 else "not supported"
    out.append(
        f"**(c) Clean + masked (mixed) training keeps clean accuracy and "
        f"resists all three attacks: {verdict}.** Clean: {_change(dc, '')[1:]} "
        f"against `clean` (the issue asks for within 3 points: "
        f"{'yes' if keeps else 'no'}). At 20 % hidden, against `clean`: "
        + ", ".join(_change(mixed[a], SYMBOL[a]) for a in ATTACKS)
        + f" (the issue asks γ to rise by more than 30 points: "
        f"{'yes' if rises else 'no'}). {rule}\n")
  return "\n".join(out)


def differences_markdown(summary):
  """Why our numbers differ from the seed's: size, length, data; shape."""
  out = []
  if "clean" in summary:
    s = summary["clean"]
    c = s["clean"]["mean"]
    out.append(
        f"Our clean-trained model reaches {c:.2f} % clean against the seed's "
        f"93.89 % ({c - 93.89:+.2f} points). The seed's ResNet is a full-size "
        f"network trained to convergence on the original CIFAR-10; ours is "
        f"`{s['model_name']}` trained for {s['epochs']:g} epochs on the JPEG "
        "copy (quality about 75; `../shared/data/README.md` puts its cost at "
        "1–2 points for a ResNet-18). A smaller, shorter-trained model is "
        "less accurate everywhere, so compare the *shape* of the curves: the "
        "share of the accuracy above chance (10 %) that each model keeps at "
        "20 % hidden, `(acc − 10) / (clean − 10)`.\n")
    rows = ["| attack at 20 % | seed paper | our clean model |",
            "|---|---|---|"]
    for a in ("alpha", "beta", "gamma"):
      e = _get(summary, "clean", a, 0.2)
      if e is None:
        continue
      rows.append(f"| {LONG[a]} | "
                  f"{(SEED_TABLE[a][0.2] - 10) / (93.89 - 10) * 100:.1f} % | "
                  f"{(e['mean'] - 10) / (c - 10) * 100:.1f} % |")
    out.append("\n".join(rows) + "\n")
  any_run = next(iter(summary.values()))
  config = any_run.get("config_eval", {})
  out.append(
      "Other differences: the seed does not say how a ratio becomes a "
      "square, nor how hidden pixels are filled. mdr hides a square of side "
      "`round(sqrt(r·H·W))` (10×10 at 10 % of 32×32) and `round(r·H·W)` "
      "scattered pixels, all channels; the per-attack tables give the pixel "
      f"counts. Hidden pixels are filled with `{config.get('fill', '?')}` "
      "(zero: black, in [0, 1] pixel space, before the model's own "
      "normalisation). α hides the square with the largest summed input "
      "gradient of the cross-entropy at the true label. β and γ are random: "
      f"each cell is a mean over {config.get('draws', '?')} draws of the "
      f"masks ({config.get('sparse_draws', '?')} for the sparse-pixel "
      "curve).\n")
  return "\n".join(out)


def _machine(m):
  """'2 CPUs AMD EPYC' from a run.json machine record (model if recorded)."""
  return " ".join(filter(None, [str(m.get("cpus", "?")), "CPUs",
                                m.get("cpu_model")]))


def rerun_markdown(record):
  """The --check table: a rerun's numbers against the committed ones."""
  lines = ["| model | seed | cells compared | max abs difference (points), "
           "in cell | cells beyond 1× / 2× their spread from the same seed's "
           "number | from the mean over seeds | largest spread "
           "shown for the model | rerun: commit, wall time, machine |",
           "|---|---|---|---|---|---|---|---|"]
  for r in record["rows"]:
    lines.append(
        f"| {r['model']} | {r['seed']} | {r['cells']} | "
        f"{r['max_abs_diff']:.4f} ({r.get('worst', '—')}, spread "
        f"{r.get('worst_spread', 0.0):.2f}) | {r.get('beyond_1x', '?')} / "
        f"{r.get('beyond_2x', '?')} | {r.get('mean_beyond_1x', '?')} / "
        f"{r.get('mean_beyond_2x', '?')} | {r['largest_spread']:.2f} | "
        f"{str(r.get('commit') or '?')[:10]}, {r.get('wall_min', '?')} min, "
        f"{_machine(r.get('machine', {}))} |")
  return "\n".join(lines) + "\n"


def rerun_verdict(record):
  """One sentence per rerun row: identical, within the spread, or not."""
  out = []
  for r in record["rows"]:
    name = f"`{r['model']}` seed {r['seed']}"
    if r["max_abs_diff"] == 0.0:
      out.append(f"{name}: the rerun is identical to the committed files in "
                 f"all {r['cells']} cells.")
    elif r.get("beyond_1x") == 0:
      out.append(f"{name}: every one of {r['cells']} cells is within its "
                 f"spread (largest difference {r['max_abs_diff']:.2f} "
                 "points).")
    else:
      before = r.get("committed_machine", {}).get("platform")
      now = r.get("machine", {}).get("platform")
      where = (f" It ran on a different platform from the committed run "
               f"(`{now}` vs `{before}`)." if before and now and before != now
               else "")
      far = r.get("mean_outside_2x", [])
      far_text = "" if not far else " Outside 2×: " + ", ".join(
          f"{c['cell']} ({c['rerun']:.2f} vs {c['mean']:.2f} ± "
          f"{c['spread']:.2f})" for c in far) + (
              f": at most {max(abs(c['rerun'] - c['mean']) for c in far):.2f} "
              "points from the mean.")
      out.append(
          f"{name}: the rerun is not identical.{where} {r['beyond_1x']} of "
          f"{r['cells']} cells differ from the committed seed-{r['seed']} "
          f"numbers by more than their spread and {r['beyond_2x']} by more "
          f"than twice it (largest difference {r['max_abs_diff']:.2f} points, "
          f"in {r['worst']}); against the mean ± spread shown, "
          f"{r.get('mean_beyond_1x', '?')} cells fall outside 1× the spread "
          f"and {r.get('mean_beyond_2x', '?')} outside 2×.{far_text}")
  return "\n".join(out) + "\n"


def same_code(commits):
  """Whether the code a run uses is the same at every commit (git), or None.

  Compares ``mdr/``, ``configs/`` and ``pyproject.toml`` of each commit with
  the first; None when git or a commit is unavailable.
  """
  import subprocess  # pylint: disable=g-import-not-at-top
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


def runs_markdown(summary):
  lines = ["| model | seeds | epochs | wall time per run (min) | commit | machine |",
           "|---|---|---|---|---|---|"]
  for model, s in summary.items():
    lines.append(
        f"| {model} | {', '.join(map(str, s['seeds']))} | {s['epochs']} | "
        f"{', '.join(f'{w:.1f}' for w in s['wall_min'])} | "
        f"{', '.join(c[:10] + ('-dirty' if c.endswith('-dirty') else '') for c in s['commits'])} | "
        f"{_machine(s['machine'])}, {s['machine'].get('devices')} |")
  shas = sorted({c.replace("-dirty", "") for s in summary.values()
                 for c in s["commits"]})
  same = same_code(shas)
  verdict = {True: "the same at all of them", False: "NOT the same at all of "
             "them: compare with care", None: "not checked (git could not compare them)"}[same]
  lines.append(
      f"\nThe code the runs use (`mdr/`, `configs/`, `pyproject.toml`) is "
      f"{verdict} ({', '.join(c[:10] for c in shas)}; `git diff --quiet <a> <b> -- mdr configs "
      "pyproject.toml`). `-dirty`: the checkout had uncommitted changes when "
      "the run was recorded (runs recorded before `run.json` had a "
      "`code_dirty` field counted any change, result files included). Wall "
      "times are for one run on a shared machine and depend on its load and "
      "on how many runs shared it; `run.json` has the 1-minute load average "
      "at the start and end of newer runs.\n")
  return "\n".join(lines) + "\n"


def scale_section(scale, summary, rel, rerun=None):
  names = {s["model_name"] for s in summary.values()}
  parts = [
      f"## CIFAR-10 (JPEG copy), {scale.upper()} scale\n",
      "Models: " + "; ".join(f"`{m}` — {DESCRIBE.get(m, m)}" for m in summary)
      + f". Network: {', '.join(sorted(map(str, names)))}. Top-1 accuracy (%) "
      "on the 10,000 test images; hidden pixels filled with "
      f"`{next(iter(summary.values()))['config_eval'].get('fill', '?')}`.\n",
      "### The matrix\n",
      "Means (over seeds where there are several). The seed paper's row is its "
      "clean-trained ResNet; it reports no α-pixels (our addition).\n",
      matrix_markdown(summary),
      f"![all sweeps]({rel}/all_sweeps.png)\n",
      "### Per attack, with spread\n",
      "Mean ± sample std over seeds for models with several seeds. For a "
      "model with one seed the ± is only the std over the eval draws of the "
      "random masks (0 for α and α-pixels, deterministic given the model): it "
      "says nothing of seed-to-seed variation, which the models with "
      "several seeds show. Column headers give the hidden pixels of 32×32.\n"]
  for attack in ATTACKS:
    parts += [f"**{LONG[attack]}**\n", attack_markdown(summary, attack)]
  parts += [
      "### Sparse pixels: γ hiding up to 99 %\n",
      "Accuracy (%) by share of *visible* pixels; mean ± spread as above.\n",
      sparse_markdown(summary),
      f"![all sparse-pixel curves]({rel}/all_sparse.png)\n",
      "### The seed's claims, tested\n",
      claims_markdown(summary),
      "### Differences from the seed\n",
      differences_markdown(summary),
      "### Runs\n",
      runs_markdown(summary),
  ]
  determinism = (
      "Training and evaluation are deterministic for a fixed config and "
      "seed on a given machine and software — `tests/test_faults.py::"
      "test_same_config_and_seed_twice_is_identical` trains twice and "
      "compares `metrics.jsonl` and both eval files byte for byte, and "
      "`tests/test_train.py::"
      "test_resume_after_interruption_equals_uninterrupted` checks that an "
      "interrupted and resumed run ends with the same loss and the same "
      "eval files as an uninterrupted one; on other hardware or library "
      "versions, floating-point differences make a rerun one more draw, "
      "whose expected spread is the seed-to-seed std shown above.\n")
  parts.append("### Reproducibility\n")
  if rerun is None:
    parts += [
        "No full rerun of a committed command has been compared with these "
        "files yet (`python experiments/cifar10.py --runs=<model>:<seed> "
        "--out=/tmp/rerun --workdirs=/tmp/rerun_w`, then `python "
        "experiments/report.py --check=/tmp/rerun/cifar10_cpu`, which adds "
        "a table here). " + determinism]
  else:
    parts += [
        "A second run of the same command, from scratch in a new workdir "
        "(`python experiments/cifar10.py --runs=<model>:<seed> --out=/tmp/rerun "
        "--workdirs=/tmp/rerun_w`), compared cell by cell — every attack and "
        "ratio of the sweep and of the sparse-pixel curve — with the "
        "committed files (`python experiments/report.py "
        "--check=/tmp/rerun/cifar10_cpu`, which writes `rerun_check.json`). "
        "A cell's spread is its ± above.\n",
        rerun_markdown(rerun), rerun_verdict(rerun),
        "The cells the seed's central observation and claim (c) rest on:\n",
        rerun_headline_markdown(rerun),
        "A spread from two or three seeds is a rough estimate (one or two "
        "degrees of freedom): where the seeds happen to agree it is small, "
        "and one more draw can fall outside it in units of that spread "
        "while being close in points.\n", determinism]
  return "\n".join(parts)


def build(results=RESULTS, out_md=None, preamble="", postscript=""):
  """Writes summary.json and the plots per scale; returns the markdown."""
  sections = []
  for scale_dir in sorted(glob.glob(os.path.join(results, "cifar10_*"))):
    scale = os.path.basename(scale_dir).split("_", 1)[1]
    models = load(scale_dir)
    if not models:
      continue
    summary = summarize(models)
    with open(os.path.join(scale_dir, "summary.json"), "w") as f:
      json.dump(summary, f, indent=1)
    title = f"CIFAR-10 (JPEG copy), {scale} scale"
    plot_sweeps(os.path.join(scale_dir, "all_sweeps.png"), summary,
                f"Mask attacks on every trained model — {title}")
    plot_sparse(os.path.join(scale_dir, "all_sparse.png"), summary,
                f"Classifying from few pixels — {title}")
    rel = os.path.relpath(scale_dir, os.path.dirname(out_md) if out_md
                          else os.path.join(REPO, "experiments"))
    rerun = None
    if os.path.exists(os.path.join(scale_dir, "rerun_check.json")):
      with open(os.path.join(scale_dir, "rerun_check.json")) as f:
        rerun = json.load(f)
    sections.append(scale_section(scale, summary, rel, rerun))
  if not sections:
    raise SystemExit(f"error: no results under {results}/cifar10_*/<model>/"
                     "seed<k>/run.json: run experiments/cifar10.py first")
  if not os.path.isdir(os.path.join(results, "cifar10_gpu")):
    sections.append(GPU_MISSING)
  text = preamble + "\n".join(sections) + postscript
  if out_md:
    with open(out_md, "w") as f:
      f.write(text)
  return text


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
      ref = {(f, r["attack"], _key(r["ratio"])): r["accuracy"]
             for f in ("sweep", "sparse") for r in mine[0][f]}
      stats = {f: aggregate(committed[model], f) for f in ("sweep", "sparse")}
      cells = []
      for f in ("sweep", "sparse"):
        for r in run[f]:
          key = (f, r["attack"], _key(r["ratio"]))
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


HEADLINE = ("sweep alpha@0", "sweep alpha@0.2", "sweep beta@0.2",
            "sweep gamma@0.2")


def rerun_headline_markdown(record):
  """The cells the claims rest on: committed, mean ± spread, rerun."""
  lines = ["| model | seed | cell | committed (same seed) | committed mean ± "
           "spread | rerun |", "|---|---|---|---|---|---|"]
  for r in record["rows"]:
    for c in r.get("per_cell", []):
      if c["cell"] in HEADLINE:
        attack, ratio = c["cell"].split()[1].split("@")
        name = ("clean" if float(ratio) == 0 else
                f"{SYMBOL[attack]} {float(ratio) * 100:.0f} %")
        lines.append(f"| {r['model']} | {r['seed']} | {name} |"
                     f" {c['committed']:.2f} | {c['mean']:.2f} ± "
                     f"{c['spread']:.2f} | {c['rerun']:.2f} |")
  return "\n".join(lines) + "\n"


PREAMBLE = """# Experiments: the seed's table and claims on CIFAR-10

The seed ("mask disclosure discrete robustness") reports one table — a
clean-trained ResNet on CIFAR-10 under the three mask attacks — and three
claims without numbers: (a) a model trained on masked images loses some clean
accuracy but resists mask attacks; (b) it classifies from only a few visible
pixels, "more than 50 %"; (c) training on clean + masked images keeps clean
accuracy and resists all three attacks. Here each is measured, with the full
matrix of trained models × attacks that the seed does not show.

*This file is generated* by `python experiments/report.py` from the result
files under `experiments/results/`; do not edit it by hand (edit the prose in
`experiments/report.py`).

## Reproduce

```bash
pip install -e '.[test]'
python experiments/cifar10.py      # CPU scale: clean (seeds 0-2), mixed (0, 1), masked, masked_all, masked_sparse (0)
python experiments/report.py       # this file, summary.json and the plots
```

Optional, not in the results below: `--runs=masked:1,masked_all:1` (second
seeds of the masked models). On a 2-core CPU one run took 14–86 minutes
depending on the model and the machine's load (see Runs); the script skips
runs whose `run.json` exists and resumes an interrupted one from its
checkpoints.

Each run is `python -m mdr.main --config configs/<name>.py:cpu
--config.data.path=../shared/data/cifar10-jpeg.zip --config.seed=<k>` (the
exact command is in each `run.json`): it trains, then writes the mask sweep
(α, β, γ, α-pixels at 0–20 % hidden) and the sparse-pixel curve (γ up to 99 %
hidden). `experiments/cifar10.py` copies the small eval files into
`experiments/results/cifar10_<scale>/<model>/seed<k>/` — `mask_sweep.json`,
`sparse_pixels.json` (the eval schema: `attack, ratio, hidden_pixels,
accuracy, std, n`), their `.md` tables and `.png` plots, `config.json` and
`run.json` (command, commit, wall time, machine). Checkpoints stay in the
git-ignored `workdirs/`. `report.py` writes `summary.json` and the two
overview plots beside the results, whatever `--out` says.

"""


GPU_MISSING = """## CIFAR-10, full scale (ResNet-18, GPU): not run

No GPU was available when these results were made, so the full-scale runs —
`python experiments/cifar10.py --scale=gpu --zip=<a carried copy of the zip>`
(ResNet-18, bf16, 200 epochs) — are still to do; they would land in
`experiments/results/cifar10_gpu/` and in a section of this file like the one
above. The CPU scale above is the deliverable.
"""


def main(argv):
  import argparse  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--results", default=RESULTS,
                      help="results root holding cifar10_<scale>/")
  parser.add_argument("--out", default=os.path.join(REPO, "experiments",
                                                    "README.md"))
  parser.add_argument("--check", default="",
                      help="a rerun's cifar10_<scale> dir: compare it with "
                      "the committed results of the same scale and exit")
  args = parser.parse_args(argv[1:])
  if args.check:
    scale_dir = os.path.join(args.results,
                             os.path.basename(os.path.normpath(args.check)))
    rows = check(args.check, scale_dir)
    if not rows:
      raise SystemExit(f"error: no run in {args.check} matches one in "
                       f"{scale_dir}")
    record = dict(rerun=args.check, rows=rows)
    with open(os.path.join(scale_dir, "rerun_check.json"), "w") as f:
      json.dump(record, f, indent=1)
    print(rerun_markdown(record))
    return
  import adversarial_report  # pylint: disable=g-import-not-at-top
  import random_mask_report  # pylint: disable=g-import-not-at-top
  sections = []
  for name, module in (("random_mask", random_mask_report),
                       ("adversarial", adversarial_report)):
    d = os.path.join(args.results, "cifar10_cpu", name)
    if os.path.isdir(d):
      sections.append(module.section(d, os.path.relpath(
          d, os.path.dirname(os.path.abspath(args.out)))))
  extra = "\n".join(s for s in sections if s)
  build(args.results, args.out, PREAMBLE,
        postscript="\n" + extra if extra else "")
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main(sys.argv)
