r"""Build the CIFAR-10 report from the committed result files.

  python -m experiments.report          # writes experiments/README.md

Reads ``experiments/results/cifar10_<scale>/<model>/seed<k>/`` (written by
``python -m experiments.run``: ``mask_sweep.json``, ``sparse_pixels.json``,
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

This module holds the command line, the report's prose sections and
``build``; the rest is in its neighbours: ``report_load`` (result files,
git), ``report_stats`` (means, spreads, the rerun check), ``claims`` (the
seed's claims and their thresholds, as data), ``seed_paper`` (the seed's
table, the attacks and ratios), ``report_tables`` and ``report_plots``.
Their public names are importable from here too.
"""

from __future__ import annotations

import glob
import json
import os
import sys

# pylint: disable=g-import-not-at-top,unused-import,g-multiple-import
# The names below are re-exported: callers import them from this module.
from experiments import claims
from experiments import report_load
from experiments import stats
from experiments.claims import compare
from experiments.report_load import REPO, RESULTS, MODELS, load, same_code
from experiments.report_plots import COLORS, plot_sparse, plot_sweeps
from experiments.report_stats import (aggregate, check, clean_accuracy, combine,
                          summarize, sweep_entry, visible_at_threshold)
from experiments.report_tables import (HEADLINE, attack_markdown, attacks_of, fmt_cell,
                           fmt_machine,
                           fmt_pct, matrix_markdown, rerun_headline_markdown,
                           rerun_markdown, runs_markdown, sparse_markdown)
from experiments.seed_paper import (ATTACKS, LONG, MATRIX_RATIOS, SEED_ATTACKS,
                        SEED_CLEAN, SEED_TABLE, SYMBOL)
from experiments.specs.seed_paper import (CENTRAL_ATTACKS, RANDOM_PIXELS,
                                          SALIENT_SQUARE, WORST_SQUARE)
# pylint: enable=g-import-not-at-top,unused-import,g-multiple-import

THRESHOLD = claims.FEW_PIXELS_ACCURACY  # claim (b): "more than 50 %"
DESCRIBE = {
    "clean": "no masks in training (`configs/clean.py`)",
    "masked": "every training image masked with γ (`configs/masked.py`)",
    "masked_all": "every training image masked with α, β or γ "
                  "(`configs/masked.py`, "
                  "`train.mask_types=(alpha,beta,gamma)`)",
    "mixed": "half of each batch masked with α, β or γ (`configs/mixed.py`)",
    "masked_sparse": "every training image masked with γ hiding 0–99 % "
                     "(`configs/masked.py`, `train.ratio_max=0.99`; the "
                     "others hide 0–20 % in training)",
}
TEST_RULE = (
    "Each criterion is a t-test over seeds (two-sided, α = 0.05): Welch's "
    "test between two models, a paired test between two cells of one model, "
    "with the criterion's threshold subtracted first; \"supported\" means "
    "significant in the stated direction, \"contradicted\" significant "
    "against it, \"inconclusive at n = …\" neither (or fewer than 2 seeds: "
    "no test). A claim is supported when every criterion is.")


def _change(c, symbol):
  """A compare() result: "α +6.00 (69.00 vs 63.00, p = 0.01)"."""
  if c is None:
    return f"{symbol} not measured"
  ma, mb, d, test, _ = c
  p = (f", Welch p = {test['p']:.2g}, n = {test['n_a']} vs {test['n_b']}"
       if test else ", no test at n = 1")
  return f"{symbol} {d:+.2f} ({ma:.2f} vs {mb:.2f}{p})"


def _visible(v, last):
  return "—" if v is None else (f"≤ {fmt_pct(v)} (never below)" if last else
                                fmt_pct(v, 1))


def _yes(ok):
  return "yes" if ok else "no"


def _criterion(outcome):
  """"supported (Δ = …, Welch t = …, p = …)" of one criterion."""
  if outcome.test is None:
    return outcome.verdict
  return f"{outcome.verdict} ({stats.describe(outcome.test)})"


def _central_markdown(summary):
  """The central observation, on the clean-trained model."""
  claim = claims.CLAIM["central"]
  (model,) = claim.models
  if model not in summary:
    return []
  b, g = (sweep_entry(summary, model, a, claims.RATIO)
          for a in CENTRAL_ATTACKS)
  if not b or not g:
    return []
  gap = claims.evaluate(claim, summary, model)["gap"]
  return [
      f"**Central observation — {claim.statement}: "
      f"{claims.claim_verdict({'gap': gap})}.** Clean model, 20 % hidden: β "
      f"{fmt_cell(b)} ({b['hidden_pixels']} pixels), γ {fmt_cell(g)} "
      f"({g['hidden_pixels']} pixels): a gap of {gap.value:.2f} points (seed "
      "paper: 68.36 vs 14.07, a gap of 54.29). Criterion: a gap of at least "
      f"{claims.CENTRAL_GAP:g} points, paired over seeds: "
      f"{_criterion(gap)}.\n"]


def _masked_markdown(summary):
  """Claim (a), once per mask-trained model."""
  claim = claims.CLAIM["a"]
  out = []
  for model in claims.tested_models(claim, summary):
    result = claims.evaluate(claim, summary, model)
    if result is None:
      continue
    verdict = claims.claim_verdict(result)
    out.append(
        f"**(a) {claim.statement} — `{model}`: {verdict}.** Against `clean`: "
        "clean accuracy lower: " + _criterion(result["clean"]) + "; at 20 % "
        "hidden higher under " + "; ".join(
            f"{SYMBOL[a]}: {_criterion(result[a])}" for a in SEED_ATTACKS)
        + "." + _worst_square(claims.CLAIM["a_worst"], summary, model)
        + "\n")
  return out


def _worst_square(claim, summary, model):
  """The claim's verdict once more with α* in place of α, and α's gap to
  α* on the model (both at RATIO); "" where α* was not measured."""
  a = sweep_entry(summary, model, SALIENT_SQUARE, claims.RATIO)
  x = sweep_entry(summary, model, WORST_SQUARE, claims.RATIO)
  if a is None or x is None:
    return ""
  result = claims.evaluate(claim, summary, model)
  return (f" With {SYMBOL[WORST_SQUARE]} (every position of the square, "
          f"the worst per image, on {x['n']} images) in place of α: "
          f"{claims.claim_verdict(result)}, higher than `clean` under α*: "
          f"{_criterion(result[WORST_SQUARE])}; α leaves "
          f"{a['mean'] - x['mean']:.1f} points of accuracy that α* takes "
          f"({fmt_cell(a)} vs {fmt_cell(x)}).")


def _few_pixels_markdown(summary):
  """Claim (b), and its other reading at the first grid point past half."""
  claim = claims.CLAIM["b"]
  lines = []
  for model, s in summary.items():
    per_seed = s["visible_at_50"]["per_seed"]
    last = [m is not None and i == m and m <= min(
        1 - float(r) for r in s["sparse"]) + 1e-9 for m, i in per_seed]
    grid = ", ".join(fmt_pct(m) for m, _ in per_seed)
    interp = ", ".join(_visible(i, l) for (_, i), l in zip(per_seed, last))
    lines.append(f"| {model} | {grid} | {interp} |")
  outcomes = {m: claims.evaluate(claim, summary, m)["visible"]
              for m in claims.tested_models(claim, summary)}
  few = [m for m, o in outcomes.items() if o.verdict == "supported"]
  verdict = ("supported for " + ", ".join(f"`{m}`" for m in few) if few
             else "not supported")
  crit = claim.criteria[0]
  undecided = []
  for m, o in outcomes.items():
    if o.verdict.startswith("inconclusive"):
      k = sum(claims.passes(crit, v) for v in o.value)
      undecided.append(f"`{m}` {o.verdict}: " + (
          f"its seed {'passes' if k else 'fails'}" if len(o.value) == 1
          else f"{k} of its {len(o.value)} seeds pass"))
  if undecided:
    verdict += (" for the models with enough seeds; " +
                "; ".join(undecided))
  out = [
      f"**(b) {claim.statement}: {verdict}.** Criterion (we read the seed's "
      "\"more than 50 %\" as accuracy): at least "
      f"{claims.FEW_PIXELS_ACCURACY:.0f} % accuracy with at most "
      f"{claims.FEW_PIXELS_VISIBLE * 100:.0f} % of the pixels visible (γ "
      "hides the rest), for every seed. Smallest visible share at "
      "which each model still scores at least 50 % (per seed; the measured "
      "grid point, and the linear interpolation of the crossing between grid "
      "points):\n\n"
      "| model | smallest visible share with ≥ 50 % (grid) | interpolated "
      "crossing of 50 % |\n|---|---|---|\n" + "\n".join(lines) + "\n"]
  # The other reading of (b): the first grid point past half hidden.
  other = claims.CLAIM["b_hidden"]
  past = claims.past_half(summary)
  half = [(m, s["sparse"][past]) for m, s in summary.items()
          if past is not None and past in s["sparse"]]
  if half:
    above = [m for m, _ in half
             if claims.evaluate(other, summary, m)["accuracy"].passed]
    out.append(
        f"Read instead as \"{other.statement}\", the curve's first grid point "
        f"past half ({float(past) * 100:.0f} % hidden by γ) gives: "
        + ", ".join(f"`{m}` {fmt_cell(e)}" for m, e in half) + "; "
        + (f"at least 50 % for {', '.join(f'`{m}`' for m in above)}"
           if above else "no model reaches 50 % there") + ".\n")
  return out


def _mixed_markdown(summary):
  """Claim (c), on the mixed-trained model."""
  claim = claims.CLAIM["c"]
  (model,) = claim.models
  result = claims.evaluate(claim, summary, model)
  if result is None:
    return []
  return [
      f"**(c) {claim.statement}: {claims.claim_verdict(result)}.** Against "
      f"`clean`: clean accuracy at most {claims.MIXED_CLEAN_DROP:g} points "
      f"lower: {_criterion(result['clean'])}; γ at 20 % more than "
      f"{claims.MIXED_GAMMA_GAIN:g} points higher: "
      f"{_criterion(result['gamma_rise'])}; higher at all under "
      + "; ".join(f"{SYMBOL[a]}: {_criterion(result[a])}"
                  for a in SEED_ATTACKS) + "."
      + _worst_square(claims.CLAIM["c_worst"], summary, model) + "\n"]


def claims_markdown(summary):
  """The seed's observation and claims (a)-(c), each with its numbers."""
  return "\n".join([TEST_RULE + "\n"] + _central_markdown(summary)
                   + _masked_markdown(summary)
                   + _few_pixels_markdown(summary) + _mixed_markdown(summary))


def exhaustive_markdown(summary):
  """α (saliency) against α* (the worst-case square), per model."""
  rows = []
  for model in summary:
    a = sweep_entry(summary, model, SALIENT_SQUARE, claims.RATIO)
    x = sweep_entry(summary, model, WORST_SQUARE, claims.RATIO)
    x0 = sweep_entry(summary, model, WORST_SQUARE, 0.0)
    if a is None or x is None:
      continue
    rows.append(f"| {model} | {fmt_cell(a)} | {fmt_cell(x)} | "
                f"{fmt_cell(x0, spread=False)} | {x['n']} |")
  if not rows:
    return ""
  return (
      "α picks the square with the largest input-gradient saliency; α* "
      "tries every position of the same square and keeps, per image, the "
      "worst one — the attack α approximates. The gap is how much the "
      "seed's heuristic leaves on the table. α* runs on a fixed subset of "
      "the test images (n below; its 0 % column is the clean accuracy on "
      "that subset), α on all of them.\n\n"
      "| model | α at 20 % | α* at 20 % | clean on the α* subset | α* "
      "images |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def fill_markdown(summaries):
  """The same cells under each fill: is γ's damage the pepper or the loss?"""
  fills = list(summaries)
  if len(fills) < 2:
    return ""
  models = [m for m in summaries[fills[0]] if all(m in summaries[f]
                                                  for f in fills)]
  head = ["model"] + [f"{SYMBOL[a]} 20 %, {f}" for a in SEED_ATTACKS
                      for f in fills] + [f"γ 10 % visible, {f}" for f in fills]
  lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
  tests = []
  for m in models:
    cells = [m]
    for a in SEED_ATTACKS:
      for f in fills:
        cells.append(fmt_cell(sweep_entry(summaries[f], m, a, claims.RATIO)))
    for f in fills:
      cells.append(fmt_cell(summaries[f][m]["sparse"].get("0.9")))
    lines.append("| " + " | ".join(cells) + " |")
    g = [claims.seeds_of(summaries[f], m,
                         f"{RANDOM_PIXELS}@{claims.RATIO:g}")
         for f in fills[:2]]
    if all(g):
      test, word = claims.test_difference(g[1], g[0], paired=True)
      tests.append(f"`{m}`: γ at 20 % under {fills[1]} minus {fills[0]} fill "
                   + (stats.describe(test) if test else word))
  return (
      "Every attack of the sweep and the sparse-pixel curve, once with "
      "hidden pixels set to zero (black) and once to the training set's "
      "mean colour (`eval.extra_fills`). If γ's damage were the information "
      "removed, the fill would not matter; if it is the black pepper (a "
      "shift of the input distribution), mean fill removes much of it.\n\n"
      + "\n".join(lines) + "\n\nPaired over seeds (the same models under "
      "both fills): " + "; ".join(tests) + ".\n")


def differences_markdown(summary):
  """Why our numbers differ from the seed's: size, length, data; shape."""
  out = []
  if "clean" in summary:
    s = summary["clean"]
    c = s["clean"]["mean"]
    out.append(
        f"Our clean-trained model reaches {c:.2f} % clean against the seed's "
        f"{SEED_CLEAN:.2f} % ({c - SEED_CLEAN:+.2f} points). The seed's "
        "ResNet is a full-size network trained to convergence on the original "
        f"CIFAR-10; ours is `{s['model_name']}` trained for {s['epochs']:g} "
        "epochs on the JPEG "
        "copy (quality about 75; `../shared/data/README.md` puts its cost at "
        "1–2 points for a ResNet-18). A smaller, shorter-trained model is "
        "less accurate everywhere, so compare the *shape* of the curves: the "
        "share of the accuracy above chance (10 %) that each model keeps at "
        "20 % hidden, `(acc − 10) / (clean − 10)`.\n")
    rows = ["| attack at 20 % | seed paper | our clean model |",
            "|---|---|---|"]
    for a in SEED_ATTACKS:
      e = sweep_entry(summary, "clean", a, 0.2)
      if e is None:
        continue
      seed = (SEED_TABLE[a][0.2] - 10) / (SEED_CLEAN - 10)
      rows.append(f"| {LONG[a]} | {seed * 100:.1f} % | "
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


SPREAD_NOTE = (
    "Each cell keeps two spreads apart: `mean ± std over seeds` (models "
    "with several seeds; the seeds column gives n) and `(d …)`, the std "
    "over the eval draws of the random masks within a seed (root mean "
    "square over seeds; absent for α, α* and α-pixels, which are "
    "deterministic given the model). The draw spread says how much a cell "
    "moves with the masks drawn; only the seed spread says how much it "
    "moves with the training run, and the verdicts test over seeds.")


SCALE_TITLE = {
    "cpu": "CPU scale: the fast network (airbench, width 0.25, 8 epochs)",
    "cpu_resnet8": "the first CPU scale: ResNet-8, 8 epochs",
    "gpu": "full scale (GPU)",
}


def summary_fill(summary):
  """The fill of a summary's records ("zero" for runs before fills)."""
  return next(iter(summary.values())).get("fill") or "zero"


def scale_section(scale, summary, rel, rerun=None, by_fill=None):
  names = {s["model_name"] for s in summary.values()}
  parts = [
      f"## CIFAR-10 (JPEG copy), {SCALE_TITLE.get(scale, scale)}\n",
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
      SPREAD_NOTE + " Column headers give the hidden pixels of 32×32.\n"]
  for attack in attacks_of(summary):
    parts += [f"**{LONG[attack]}**\n", attack_markdown(summary, attack)]
  exhaustive = exhaustive_markdown(summary)
  if exhaustive:
    parts += ["### The saliency square α against the worst-case square α*\n",
              exhaustive]
  parts += [
      "### Sparse pixels: γ hiding up to 99 %\n",
      "Accuracy (%) by share of *visible* pixels; mean ± spread as above.\n",
      sparse_markdown(summary),
      f"![all sparse-pixel curves]({rel}/all_sparse.png)\n",
      "### The seed's claims, tested\n",
      claims_markdown(summary)]
  fills = by_fill or {}
  if len(fills) > 1:
    parts += ["### Fill: zero against mean\n", fill_markdown(fills)]
    for fill, other in fills.items():
      if fill != summary_fill(summary):
        parts += [f"**The claims again, with {fill} fill** (the same models "
                  "and tests; only the hidden pixels' value differs):\n",
                  claims_markdown(other)]
  parts += [
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
        "files yet (`python -m experiments.run --group=mdr --runs=<model>:<seed> "
        "--out=/tmp/rerun --workdirs=/tmp/rerun_w`, then `python -m "
        "experiments.report --check=/tmp/rerun/cifar10_cpu`, which adds "
        "a table here). " + determinism]
  else:
    parts += [
        "A second run of the same command, from scratch in a new workdir "
        "(`python -m experiments.run --group=mdr --runs=<model>:<seed> "
        "--out=/tmp/rerun --workdirs=/tmp/rerun_w`), compared cell by cell "
        "— every attack and ratio of the sweep and of the sparse-pixel curve "
        "— with the "
        "committed files (`python -m experiments.report "
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
    fills = sorted({f for runs in models.values() for r in runs
                    for f in r["fills"]})
    by_fill = {summary_fill(summary): summary}
    for fill in fills:
      if fill not in by_fill:
        by_fill[fill] = summarize(models, fill)
    with open(os.path.join(scale_dir, "summary.json"), "w") as f:
      json.dump(summary, f, indent=1)
    for fill, other in by_fill.items():
      if other is not summary:
        with open(os.path.join(scale_dir, f"summary_{fill}.json"), "w") as f:
          json.dump(other, f, indent=1)
    title = f"CIFAR-10 (JPEG copy), {scale} scale"
    plot_sweeps(os.path.join(scale_dir, "all_sweeps.png"), summary,
                f"Mask attacks on every trained model — {title}")
    plot_sparse(os.path.join(scale_dir, "all_sparse.png"), summary,
                f"Classifying from few pixels — {title}")
    rel = os.path.relpath(scale_dir, os.path.dirname(out_md) if out_md
                          else os.path.join(REPO, "experiments"))
    sections.append(scale_section(scale, summary, rel,
                                  report_load.load_rerun_check(scale_dir),
                                  by_fill))
  if not sections:
    raise SystemExit(f"error: no results under {results}/cifar10_*/<model>/"
                     "seed<k>/run.json: run python -m experiments.run "
                     "--group=mdr first")
  if not os.path.isdir(os.path.join(results, "cifar10_gpu")):
    sections.append(GPU_MISSING)
  text = preamble + "\n".join(sections) + postscript
  if out_md:
    with open(out_md, "w") as f:
      f.write(text)
  return text


PREAMBLE = """# Experiments: the seed's table and claims on CIFAR-10

The seed ("mask disclosure discrete robustness") reports one table — a
clean-trained ResNet on CIFAR-10 under the three mask attacks — and three
claims without numbers: (a) a model trained on masked images loses some clean
accuracy but resists mask attacks; (b) it classifies from only a few visible
pixels, "more than 50 %"; (c) training on clean + masked images keeps clean
accuracy and resists all three attacks. Here each is measured, with the full
matrix of trained models × attacks that the seed does not show.

*This file is generated* by `python -m experiments.report` from the result
files under `experiments/results/`; do not edit it by hand (edit the prose in
`experiments/report.py`).

## Reproduce

```bash
pip install -e '.[test]'
python -m experiments.run --help                  # the experiment groups
python -m experiments.run --group=mdr              # CPU scale: clean, masked, mixed (seeds 0-2), then masked_all, masked_sparse
python -m experiments.run --group=mdr --stage=eval --evaluation=matrix   # PGD, LaVAN
python -m experiments.run --group=mdr --stage=transfer   # black-box transfer from the clean seeds
python -m experiments.run --stage=report           # this file, summary.json and the plots
```

Each group (`mdr`, `random_mask`, `adversarial`, `frontier`, ...) is one spec,
`experiments/specs/<group>.py`: its runs and their flags, seeds, evaluation
settings, later evaluations and transfer matrix; the runner and the reports
read it.

The last three feed the model × attack matrix at the end of this file: the
PGD and LaVAN columns of the seed's models (`extra_eval/` in each seed's
directory, with its own `run.json`) and their transfer column
(`results/cifar10_cpu/transfer/`).

`--group=mdr_resnet8` makes the first CPU scale (ResNet-8) and
`--group=mdr_gpu` the full-width fast network on one GPU. The runner skips
runs whose `run.json` says done and resumes an interrupted one from its
checkpoints.

Each run is `python -m mdr.main --config configs/<name>.py:<scale>
--config.data.path=../shared/data/cifar10-jpeg.zip --config.seed=<k>` (the
exact command is in each `run.json`): it trains, then writes the mask sweep
(α, β, γ, α-pixels at 0–20 % hidden, and at the fast-network scales the
worst-case square α* on a fixed subset, each under zero and mean fill) and
the sparse-pixel curve (γ up to 99 % hidden). The runner copies
the small eval files into `experiments/results/cifar10_<scale>/<model>/seed<k>/`
— `mask_sweep.json`, `sparse_pixels.json` (the eval schema: `attack, fill,
ratio, hidden_pixels, accuracy, std, n`), `mask_sweep_mean.json` and
`sparse_pixels_mean.json` (mean fill), their `.md` tables and `.png` plots (the plots stay
uncommitted),
`config.json`, `metrics.jsonl` and `run.json` (written when the run starts:
command, commit, whether the code had uncommitted changes, machine, the
checkpoint step it resumed from; completed when it ends: status, wall time,
load). Checkpoints stay in the git-ignored `workdirs/`. `report.py` writes
`summary.json` (and `summary_mean.json`) and the two overview plots beside
the results.

"""


GPU_MISSING = """## CIFAR-10 on one GPU: not run

No GPU was available when these results were made. `python -m
experiments.run --group=mdr_gpu --data=<the zip>` trains and evaluates
three seeds each of `clean`, `masked` and `mixed` on the full-width fast
network (airbench94's recipe, 9.9 epochs, bf16; `configs/<name>.py:gpu`),
with the same evaluation as the CPU scale on all 10,000 test images; its
results would land in `experiments/results/cifar10_gpu/` and a section of
this file like the ones above.
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
  import importlib  # pylint: disable=g-import-not-at-top
  from experiments import specs  # pylint: disable=g-import-not-at-top
  sections = []
  for name in specs.names():   # each group's own section, in spec order
    group = specs.get(name)
    d = os.path.join(args.results, group.results)
    if group.section and os.path.isdir(d):
      module = importlib.import_module(f"experiments.{group.section}")
      sections.append(module.section(d, os.path.relpath(
          d, os.path.dirname(os.path.abspath(args.out)))))
  from experiments import matrix_report
  cpu = os.path.join(args.results, "cifar10_cpu")
  if os.path.isdir(cpu):
    sections.append(matrix_report.section(cpu, os.path.relpath(
        cpu, os.path.dirname(os.path.abspath(args.out)))))
    matrix_report.write(cpu)
  from experiments import lavan_report
  sections.append(lavan_report.section(args.results, os.path.relpath(
      args.results, os.path.dirname(os.path.abspath(args.out)))))
  extra = "\n".join(s for s in sections if s)
  build(args.results, args.out, PREAMBLE,
        postscript="\n" + extra if extra else "")
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main(sys.argv)
