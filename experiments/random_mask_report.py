"""The Random Mask section of experiments/README.md, from result files only.

Reads ``experiments/results/cifar10_cpu/random_mask/``: the runs
(``<run>/seed<k>/{run,clean,mask_sweep,robustness}.json``, written by
``python -m experiments.run --group=random_mask``), the
transfer matrix (``transfer/transfer.json``) and the step-cost benchmark
(``bench_train.md``). Writes ``summary.json`` and ``random_mask.png`` there and
returns the markdown section (``experiments/report.py`` appends it).

  python -m experiments.random_mask_report    # prints the section
"""

import glob
import json
import os
import statistics
import sys

from experiments import rerun_check
from experiments import specs
from mdr import robustness as robustness_lib
from experiments import stats
from experiments.specs import random_mask as spec_module
from experiments.group_results import _fmt, _read, load, robust_at, sweep_at, workdir_name  # pylint: disable=g-import-not-at-top,unused-import

SPEC = specs.get("random_mask")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "experiments", "results", "cifar10_cpu",
                       "random_mask")
MAIN = "pgd16"              # the reference's main transfer setting
OTHER_ARCH = "resnet_small"  # the source of another architecture
# (tag, long name) of the group's runs, in the spec's order; the standard
# network first.
GROUPS = tuple((r.key, r.long_name) for r in SPEC.runs)
COLORS = {r.key: r.color for r in SPEC.runs}


def group_of(run):
  """The run's tag in the group's spec, or None for a run it does not name."""
  spec = SPEC.find(run)
  return spec.key if spec else None


def summarize(runs, transfer):
  """Per group: per-seed clean, attacks and transfer accuracies."""
  groups = {}
  for run, recs in runs.items():
    if group_of(run) is None:
      continue
    g = groups.setdefault(group_of(run), dict(run=run, seeds=[]))
    for rec in recs:
      row = dict(seed=rec["seed"], workdir=workdir_name(run, rec["seed"]),
                 clean=rec["clean"]["accuracy"],
                 run_status=rec["run"].get("status"),
                 commit=rec["run"].get("commit"))
      for attack in spec_module.MASKS:
        for ratio in (0.1, 0.2):
          row[f"{attack}@{ratio:g}"] = sweep_at(rec, attack, ratio)
      for attack in (spec_module.ONE_STEP, spec_module.MULTI_STEP):
        for eps in (2, 8, 16):
          row[f"{attack}@{eps}"] = robust_at(rec, attack, eps)
      row[f"{spec_module.MULTI_STEP}_margin@8"] = robust_at(
          rec, spec_module.MULTI_STEP, 8, "margin")
      # The checks of mdr.robustness as they stand, on the stored records
      # (files written before a check existed get it too).
      rob = rec["robustness"]
      checks = (robustness_lib.checks(rob["records"], rob.get("n"))
                if rob else [])
      row["sanity_failed"] = [f"{c['check']} ({c['attack']}: {c['detail']})"
                              for c in checks if not c["passed"]]
      row["transfer"] = {}
      for r in transfer.get("records", []):
        if r["target"] == row["workdir"] and r["source"] != row["workdir"]:
          row["transfer"].setdefault(r["setting"], {})[r["source"]] = dict(
              accuracy=r["accuracy"], kept=r["kept"], follow=r["follow"])
      g["seeds"].append(row)
  return groups


def tests(groups, sources):
  """The stated tests of the claim (Welch over seeds)."""
  out = {}
  std = groups.get("standard")
  if not std:
    return out
  clean_std = [s["clean"] for s in std["seeds"]]
  other = [s for s in sources if s.startswith(OTHER_ARCH)]
  for g, _ in GROUPS[1:]:
    if g not in groups:
      continue
    rm = groups[g]["seeds"]
    t = {}
    if len(rm) >= 2 and len(std["seeds"]) >= 2:
      clean = stats.welch([s["clean"] for s in rm], clean_std)
      t["clean"] = dict(clean, verdict=stats.verdict(clean, -1))
      for src in other:
        get = lambda seeds: [s["transfer"].get(MAIN, {}).get(src, {}).get(
            "accuracy") for s in seeds]
        a, b = get(rm), get(std["seeds"])
        if None not in a + b:
          tr = stats.welch(a, b)
          t[f"transfer_from_{src}"] = dict(tr, verdict=stats.verdict(tr, +1))
    out[g] = t
  return out


def _mean(values):
  values = [v for v in values if v is not None]
  return statistics.fmean(values) if values else None


def reading(groups, sources, label):
  """The paper's claim read from the numbers (means over seeds)."""
  std = groups.get("standard")
  if not std or not sources:
    return []

  def transfer(g, src):
    return _mean([s["transfer"].get(MAIN, {}).get(src, {}).get("accuracy")
                  for s in groups[g]["seeds"]])
  lines, gains_all, clean_all = [], [], []
  for g, _ in GROUPS[1:]:
    if g not in groups:
      continue
    d_clean = _mean([s["clean"] for s in groups[g]["seeds"]]) - _mean(
        [s["clean"] for s in std["seeds"]])
    gains = [(src, transfer(g, src) - transfer("standard", src))
             for src in sources if transfer(g, src) is not None
             and transfer("standard", src) is not None]
    gains_all += [d for _, d in gains]
    clean_all.append(d_clean)
    lines.append(
        f"- {label[g]} ({len(groups[g]['seeds'])} seed(s)): on examples "
        f"transferred with PGD-20 ε 16, " + ", ".join(
            f"{d:+.1f} points from {src}" for src, d in gains) +
        f" over the standard targets; clean accuracy {d_clean:+.1f} "
        f"points.")
  if not gains_all:
    return []
  robust = ("every random-mask group resists transferred examples better "
            "than the standard models, from every source" if
            min(gains_all) > 0 else
            "the random-mask models do not resist transferred examples "
            "better from every source")
  return [f"**Reading** (differences of means over seeds): {robust}; their "
          f"clean accuracy changes by {min(clean_all):+.1f} to "
          f"{max(clean_all):+.1f} points. White-box PGD is in the first "
          f"table: if it still reaches about 0 %, the transfer robustness "
          f"is not gradient masking. This is a network of 16 channels in "
          f"its first group (width 0.25); the reference's 64-channel "
          f"ResNet-18 was not trained here, so whether the clean cost is "
          f"smaller there is not measured."] + lines


def plot(path, groups, sources):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(11, 4.2))
  ax1, ax2 = fig.subplots(1, 2, gridspec_kw=dict(width_ratios=[1, 2]))
  names = [g for g, _ in GROUPS if g in groups]
  for i, g in enumerate(names):
    ys = [s["clean"] for s in groups[g]["seeds"]]
    ax1.scatter([i] * len(ys), ys, color=COLORS[g], zorder=3)
    ax1.hlines(statistics.fmean(ys), i - 0.25, i + 0.25, color=COLORS[g])
  ax1.set_xticks(range(len(names)), names)
  ax1.set_ylabel("clean test accuracy (%), no TTA")
  ax1.set_title("Clean accuracy (dots: seeds)")
  ax1.grid(alpha=0.3)
  width = 0.8 / max(1, len(names))
  for j, g in enumerate(names):
    for i, src in enumerate(sources):
      ys = [s["transfer"].get(MAIN, {}).get(src, {}).get("accuracy")
            for s in groups[g]["seeds"]]
      ys = [y for y in ys if y is not None]
      x = i + (j - (len(names) - 1) / 2) * width
      if ys:
        ax2.bar(x, statistics.fmean(ys), width * 0.9, color=COLORS[g],
                alpha=0.35, label=g if i == 0 else None)
        ax2.scatter([x] * len(ys), ys, color=COLORS[g], zorder=3, s=14)
  ax2.set_xticks(range(len(sources)), [s.replace("_seed", "\nseed")
                                       for s in sources], fontsize=8)
  ax2.set_xlabel("source model (adversarial examples crafted on it)")
  ax2.set_ylabel("target accuracy on transferred examples (%)")
  ax2.set_title("Black-box transfer, PGD-20 ε=16/255 (bars: mean over "
                "target seeds; the source itself excluded)", fontsize=9)
  if names and sources:
    ax2.legend(fontsize=8)
  ax2.grid(alpha=0.3, axis="y")
  fig.tight_layout()
  fig.savefig(path, dpi=110)


def _minutes(runs):
  """The median wall time of the runs' run.json, as 'N min (a-b)'."""
  walls = [r["run"]["wall_s"] / 60 for recs in runs.values() for r in recs
           if r["run"].get("wall_s")]
  if not walls:
    return "an unrecorded time"
  return (f"a median of {statistics.median(walls):.0f} min "
          f"({min(walls):.0f}-{max(walls):.0f})")


def _transfer_provenance(runs, results):
  """A paragraph when the transfer matrix predates the runs' training:
  when each was measured, and the commit of each, from the run.json files."""
  path = os.path.join(results, "transfer", "run.json")
  if not os.path.exists(path):
    return []
  tr = _read(path)
  started = [r["run"].get("started", "") for recs in runs.values()
             for r in recs]
  if not started or tr.get("started", "") >= min(started):
    return []
  commits = sorted({r["run"].get("commit", "")[:7] for recs in runs.values()
                    for r in recs})
  check = rerun_check.compare(results, tr["started"])
  command = (f"`python -m experiments.rerun_check "
             f"{os.path.relpath(results, REPO)} --before={tr['started']}`")
  text = (f"The transfer matrix (`transfer/`, commit "
          f"{tr.get('commit', '')[:7]}, {tr['started'][:10]}) was measured on "
          f"an earlier training of these runs by the same commands and seeds, "
          f"whose checkpoints are gone; the runs above were retrained at "
          f"{', '.join(commits)}. ")
  if check["same"] and not check["different"] and not check["unmatched"]:
    text += (f"The retrained models reproduce the earlier ones: all "
             f"{check['same']} clean, mask-sweep and white-box cells the two "
             f"trainings share are identical to every digit ({command}), so "
             f"the matrix describes these models.")
  elif not check["same"] and not check["different"]:
    text += (f"Whether they reproduce them cannot be read here: git holds "
             f"no earlier training of them ({command}).")
  else:
    text += (f"The retrained models differ from the earlier ones in "
             f"{len(check['different'])} of "
             f"{check['same'] + len(check['different'])} shared cells, and "
             f"{len(check['unmatched'])} run(s) have no earlier training "
             f"({command}): the matrix describes the earlier models.")
  return [text, ""]


def section(results=RESULTS, rel="results/cifar10_cpu/random_mask"):
  """The markdown section (empty string when there are no results)."""
  runs = load(results)
  if not runs:
    return ""
  tpath = os.path.join(results, "transfer", "transfer.json")
  transfer = _read(tpath) if os.path.exists(tpath) else {}
  sources = [os.path.basename(s.rstrip("/")) for s in transfer.get(
      "sources", [])]
  groups = summarize(runs, transfer)
  verdicts = tests(groups, sources)
  with open(os.path.join(results, "summary.json"), "w") as f:
    json.dump(dict(groups=groups, tests=verdicts, sources=sources), f,
              indent=1)
  plot(os.path.join(results, "random_mask.png"), groups, sources)
  names = [g for g, _ in GROUPS if g in groups]
  label = dict(GROUPS)
  n_seeds = {g: len(groups[g]["seeds"]) for g in names}
  lines = [
      "## Random Mask CNN (arXiv 2007.14249) at CPU scale", "",
      "Fixed random binary masks on the early feature maps (the whitening "
      "layer and the first two conv groups of the fast network, after each "
      "batch norm, no rescaling; `mdr.models.random_mask`), clean training "
      "otherwise. The paper claims that such a network resists *black-box "
      "transfer* attacks without adversarial training, at a small clean "
      "cost.", "",
      "**Setup.** airbench at width 0.25, 8 epochs, on 2 CPU cores: a "
      "quarter of the full width and half of `configs/fast.py:cpu`'s "
      f"({_fmt([x['clean'] for x in groups.get('standard', {}).get('seeds', [])])} "
      "% clean without TTA for the standard models; one run, training and "
      f"its evaluation, took {_minutes(runs)} here, two side by side). "
      "Standard models and random-mask models on the shallow set: "
      + "; ".join(f"{label[g]}: seed(s) "
                  + ", ".join(str(x["seed"]) for x in groups[g]["seeds"])
                  for g in names if g in groups)
      + "; the third transfer source is the ResNet-8 of "
      "`fast_cpu` (`resnet_small`, seed 0). Every number here is without "
      "test-time augmentation. Mean ± std over seeds (n per row); α is "
      "deterministic, β and γ are means over 2 draws. No GPU was available, "
      "so the full-scale ResNet-18 comparison of the reference is not run.",
      "", *_transfer_provenance(runs, results),
      f"Commands: `python -m experiments.run --group=random_mask` with "
      f"`--stage=train` (training and per-model evaluation), "
      f"`--stage=transfer` (the transfer matrix), `--stage=eval "
      f"--evaluation=matrix` (LaVAN); `python -m experiments.run "
      f"--stage=report` (this section). Files: `{rel}/`.", "",
      "### Clean accuracy, white-box attacks and mask attacks", "",
      "| model | seeds | clean | FGSM 8/255 | PGD-20 2/255 | PGD-20 8/255 "
      "| PGD-20 16/255 | α 20 % | β 20 % | γ 20 % |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
  for g in names:
    s = groups[g]["seeds"]
    col = lambda k: _fmt([x[k] for x in s])
    lines.append(f"| {label[g]} | {n_seeds[g]} | {col('clean')} | "
                 f"{col('fgsm@8')} | {col('pgd@2')} | {col('pgd@8')} | "
                 f"{col('pgd@16')} | {col('alpha@0.2')} | {col('beta@0.2')} "
                 f"| {col('gamma@0.2')} |")
  pgd16 = [s["pgd@16"] for g in names for s in groups[g]["seeds"]
           if s["pgd@16"] is not None]
  failed = sorted({(f"{label[g]} seed {s['seed']}", c) for g in names
                   for s in groups[g]["seeds"] for c in s["sanity_failed"]})
  lines += ["", "White-box attacks on the first 500 test images of a fixed "
            "permutation (PGD-20: step 2.5ε/20, random start); mask attacks "
            "on all 10,000. " + (
                "The sanity checks of `mdr.robustness` (PGD's accuracy never "
                "rises with ε; twice the steps never raise it and lower it by "
                "at most 1 point; ε = 0.5 reaches 0 %; PGD never weaker than "
                "FGSM) passed on every model." if not failed else
                "Sanity checks of `mdr.robustness` that failed (recomputed "
                "from the stored records): " + ", ".join(
                    f"{g}: {c}" for g, c in failed) + "." + (
                        " Only FGSM failed, on monotonicity in ε (one signed "
                        "step of a larger ε can land on a less harmful "
                        "point); every check of PGD passed." if all(
                            "(fgsm:" in c for _, c in failed) else "")) + (
                " PGD-20 at 16/255 leaves at most "
                f"{max(pgd16):.2f} % on any model: the white-box attack is "
                "not blocked (no sign of gradient masking)." if pgd16 else ""),
            ""]
  if transfer:
    lines += [
        f"### Black-box transfer (main setting: PGD-20, ε = 16/255, step "
        f"1/255, no random start, rounded to uint8)", "",
        f"On {transfer['images']:,} test images (a fixed permutation's "
        f"first). For each source and target: the target's accuracy on the "
        f"adversarial images that fooled the source *and* that the target "
        f"classifies correctly when clean (the reference's metric). Rows: "
        f"target groups (mean ± std over the target seeds; a source is never "
        f"its own target here); columns: sources.", "",
        "| target \\ source | " + " | ".join(sources) + " |",
        "|---|" + "---:|" * len(sources)]
    for g in names:
      cells = []
      for src in sources:
        vals = [s["transfer"].get(MAIN, {}).get(src, {}).get("accuracy")
                for s in groups[g]["seeds"]]
        cells.append(_fmt([v for v in vals if v is not None], 1))
      lines.append(f"| {label[g]} | " + " | ".join(cells) + " |")
    lines += ["", "![clean accuracy and transfer](" + rel +
              "/random_mask.png)", "",
              f"The full matrices of all four settings (PGD-20 ε 16, FGSM ε "
              f"16 and 8, PGD-7 ε 8), with the kept counts and the share "
              f"of targets that predict the source's adversarial label: "
              f"`{rel}/transfer/transfer.md`.", ""]
  lines += ["### Verdict", ""]
  std_n = n_seeds.get("standard", 0)
  for g in names[1:]:
    t = verdicts.get(g, {})
    parts = []
    if "clean" in t:
      c = t["clean"]
      words = {"supported": "a significant drop",
               "contradicted": "a significant gain"}.get(
                   c["verdict"], f"no significant difference ({c['verdict']})")
      parts.append(f"clean accuracy: {stats.describe(c)} → {words}")
    for k, v in t.items():
      if k.startswith("transfer_from_"):
        parts.append(f"accuracy on examples transferred from "
                     f"{k[len('transfer_from_'):]} (the other architecture, "
                     f"a black box for every target; PGD-20 ε 16): "
                     f"{stats.describe(v)} → higher black-box robustness "
                     f"{v['verdict']}")
    if parts:
      lines.append(f"- **{label[g]}** vs standard ({n_seeds[g]} vs {std_n} "
                   f"seeds, Welch's t-test, two-sided, α = "
                   f"{stats.ALPHA}): " + "; ".join(parts) + ".")
  lines += [""] + reading(groups, sources, label) + [""]
  bench = os.path.join(results, "bench_train.md")
  if os.path.exists(bench):
    rows = [l for l in open(bench).read().splitlines() if l.startswith("| ")
            and "random mask" in l]
    lines += ["### Cost", "", "Train step of the random-mask network vs the "
              "same network without masks (`python -m experiments."
              "bench_train --variants='clean,random mask 0.5'`, median of "
              "interleaved rounds on this 2-core CPU while training ran "
              f"beside it; `{rel}/bench_train.md`): " + "; ".join(
                  f"{r.split('|')[1].strip()} {r.split('|')[6].strip()}"
                  for r in rows) + ".", ""]
  return "\n".join(lines)


if __name__ == "__main__":
  print(section())
