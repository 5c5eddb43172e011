"""The README section "Certified patch robustness": every run of every group
with a PatchCleanser (``patch_cleanser.json``) or de-randomized smoothing
(``smoothing.json``) result, read off the result files, beside the
literature's anchors; and the verdict on whether MDR's mask training gives
PatchCleanser certificates that clean training does not.

``section(results_dir, rel)`` is the certified group's section (the
``section`` of its spec); it reads every group under the results root above
it.
"""

from __future__ import annotations

import glob
import json
import os
import statistics

from experiments import specs
from experiments import stats
from mdr import intervals

STEMS = ("patch_cleanser", "smoothing")
VERDICT_P = 5            # the patch side the verdict is about
BASELINE = ("mdr", "clean")
TREATED = (("mdr", "masked_all"), ("mdr", "mixed"), ("mdr", "masked"),
           ("certified", "mixed_grid2"))
MIN_SEEDS = 3

# Literature anchors (CIFAR-10 test set), from the references' papers as the
# spec of this work quotes them; tag [P] verified against the paper, [U]
# not verified here. Not our measurements.
ANCHORS = (
    ("DS columns, ResNet-18 ~350 epochs, b = 4 (Levine & Feizi 2020)",
     "83.8", "57.6", "[P]"),
    ("Mask-DS / Mask-BN (PatchGuard)", "≈84.5", "≈57.7", "[U]"),
    ("PatchCleanser, ViT-B at 224 (ImageNet-21k pretrained), k = 6",
     "≈98.7", "≈75-80", "[U]"),
)


def _newest(seed_dir, stem):
  paths = glob.glob(os.path.join(seed_dir, "**", f"{stem}.json"),
                    recursive=True)
  if not paths:
    return None, None
  path = max(paths, key=os.path.getmtime)
  with open(path) as f:
    return json.load(f), path


def _load(directory):
  """``"start→end"``: the 1-minute load averages of the run that wrote
  the files of ``directory`` (its ``run.json``), or None."""
  path = os.path.join(directory, "run.json")
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    run = json.load(f)
  ends = [run.get("load_avg_1min_start"), run.get("load_avg_1min_end")]
  return "→".join("?" if x is None else f"{x:.1f}" for x in ends)


def collect(root: str) -> list[dict]:
  """One row per (group, run, seed, defence, votes, patch side)."""
  rows = []
  for name in specs.names():
    group = specs.get(name)
    for run in group.runs:
      for seed_dir in sorted(glob.glob(os.path.join(
          root, group.results, run.name, "seed*"))):
        seed = int(os.path.basename(seed_dir)[4:])
        for stem in STEMS:
          result, path = _newest(seed_dir, stem)
          if result is None:
            continue
          for r in result["records"]:
            if r.get("votes", "threshold") != "threshold":
              continue
            per_1000 = r.get("seconds_per_1000",
                             result.get("seconds_per_1000"))
            if per_1000 is None and "seconds" in r:
              per_1000 = r["seconds"] / r["n"] * 1000
            load = _load(os.path.dirname(path))
            rows.append(dict(
                group=name, group_label=group.label, run=run.name,
                seed=seed, defence=stem, patch=r["patch"], n=r["n"],
                certified=r["certified"], certified_k=r.get("certified_k"),
                clean=r["clean_accuracy"], passes=r["passes"],
                per_1000=per_1000, load=load, path=path,
                empirical=result.get("empirical")))
  return rows


def _mean_sd(values):
  if len(values) == 1:
    return f"{values[0]:.2f}"
  return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


def table(rows) -> list[str]:
  keys = []
  for r in rows:
    k = (r["group"], r["run"], r["defence"], r["patch"])
    if k not in keys:
      keys.append(k)
  lines = ["| model | defence | patch | seeds | n per seed | defended clean "
           "(%) | certified (%) | certified, 95 % interval (seed "
           "0) | passes per image | s per 1,000 images | load (start→end) |",
           "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
  for k in keys:
    rs = [r for r in rows if (r["group"], r["run"], r["defence"],
                              r["patch"]) == k]
    first = rs[0]
    lo, hi = intervals.wilson(first["certified_k"], first["n"]) if \
        first.get("certified_k") is not None else (None, None)
    ci = f"[{100 * lo:.1f}, {100 * hi:.1f}]" if lo is not None else "—"
    t = [r["per_1000"] for r in rs if r["per_1000"] is not None]
    model = f"{first['group_label']}: {first['run']}"
    defence = {"patch_cleanser": "PatchCleanser",
               "smoothing": "DS columns"}[first["defence"]]
    per_1000 = f"{statistics.median(t):.0f}" if t else "—"
    loads = [r["load"] for r in rs if r["load"] is not None]
    load = ", ".join(loads) if loads else "—"
    lines.append(
        f"| {model} | {defence} | {k[3]}×{k[3]} | "
        f"{','.join(str(r['seed']) for r in rs)} | {first['n']} | "
        f"{_mean_sd([r['clean'] for r in rs])} | "
        f"{_mean_sd([r['certified'] for r in rs])} | {ci} | "
        f"{first['passes']} | {per_1000} | {load} |")
  return lines


def verdict(rows) -> list[str]:
  """PatchCleanser certified accuracy at 5×5, each mask-trained model
  against the clean one: Welch's t over seeds, Holm over the comparisons;
  fewer than MIN_SEEDS seeds on either side: no verdict, the gap shown."""
  pick = lambda g, r: [x["certified"] for x in rows if x["group"] == g and
                       x["run"] == r and x["defence"] == "patch_cleanser" and
                       x["patch"] == VERDICT_P]
  base = pick(*BASELINE)
  out = ["**Does MDR's mask training give PatchCleanser certificates that "
         "clean training does not?** Certified accuracy at "
         f"{VERDICT_P}×{VERDICT_P} (k = 6 masks per axis, zero fill, the "
         "models unchanged), each mask-trained model against the clean one; "
         f"a verdict needs {MIN_SEEDS} seeds a side (Welch's t-test over "
         "seeds, Holm's correction over the comparisons below)."]
  tests, pending = [], []
  for g, r in TREATED:
    treated = pick(g, r)
    if not treated or not base:
      continue
    gap = statistics.fmean(treated) - statistics.fmean(base)
    if len(treated) >= MIN_SEEDS and len(base) >= MIN_SEEDS:
      tests.append((r, stats.welch(treated, base)))
    else:
      pending.append(f"{r}: {gap:+.2f} points on {len(treated)} seed(s) "
                     f"against {len(base)}")
  if tests:
    ps = [t["p"] for _, t in tests]
    adjusted = holm(ps)
    for (r, t), p_adj in zip(tests, adjusted):
      word = stats.verdict(dict(t, p=p_adj))
      out.append(f"- {r}: {stats.describe(t)}; Holm-adjusted p = "
                 f"{p_adj:.3g}: {word}.")
  if pending:
    out.append("- No verdict yet (fewer seeds than a verdict needs): " +
               "; ".join(pending) + ".")
  return out


def holm(p_values):
  """Holm-Bonferroni adjusted p-values, in the input order."""
  m = len(p_values)
  order = sorted(range(m), key=lambda i: p_values[i])
  adjusted, running = [0.0] * m, 0.0
  for rank, i in enumerate(order):
    running = max(running, min(1.0, (m - rank) * p_values[i]))
    adjusted[i] = running
  return adjusted


def empirical_lines(rows) -> list[str]:
  out = []
  seen = set()
  for r in rows:
    e = r.get("empirical")
    if not e or r["path"] in seen:
      continue
    seen.add(r["path"])
    c, u = e["certified"], e["uncertified"]
    out.append(
        f"- {r['group_label']}: {r['run']} seed {r['seed']} "
        f"({'DS columns' if r['defence'] == 'smoothing' else 'PatchCleanser'}"
        f", {e['side']}×{e['side']}): {c['successes']} successes on "
        f"{c['n']} certified images, {u['successes']} on {u['n']} "
        f"uncertified, correctly classified ones.")
  return out


def section(results_dir: str, rel: str) -> str:
  group = specs.get("certified")
  root = results_dir[:-len(group.results)].rstrip(os.sep)
  rows = collect(root)
  if not rows:
    return ""
  lines = [
      "## Certified patch robustness", "",
      "A certificate says that no patch of the given side, anywhere in the "
      "image and with any contents, changes the defended prediction "
      "(`mdr.certify`). PatchCleanser (Xiang et al. 2022) runs the models "
      "as they were trained, masked with its 36-mask grid (666 two-mask "
      "passes per image, zero fill, as they were trained); column "
      "de-randomized smoothing (Levine & Feizi 2020, 32 passes per image) "
      "is meant for a base model trained on bands of 4 columns "
      "(`configs/ablated.py`); a model trained otherwise is smoothed as it "
      "is, the other columns zero-filled (rows \"DS columns\" of models "
      "that were not band-trained: their smoothed accuracy shows how far "
      "they are from such a base model). Measured on a fixed subset of "
      "test images, no TTA, on this project's 2-core CPU; mean ± sd over "
      "seeds where there are several; seconds per 1,000 images are wall "
      "times as run, with the 1-minute load averages at the run's start "
      "and end (2 cores: above 2, the run shared the CPU).", ""]
  lines += table(rows)
  lines += ["", "Anchors from the literature (not measured here; [P] read "
            "in a public summary of the paper, [U] unverified; none checked "
            "against the papers' tables):", "",
            "| method | clean (%) | certified 5×5 (%) | tag |",
            "|---|---:|---:|---|"]
  lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in ANCHORS]
  emp = empirical_lines(rows)
  if emp:
    lines += ["", "Empirical check, not a proof (`mdr.certify.empirical`): "
              "the location-searched LaVAN patch against the defended "
              "prediction (on a surrogate: the mean softmax over the copies "
              "the defence classifies). A success on a certified image would "
              "be a bug:", ""] + emp
  lines += [""] + verdict(rows)
  return "\n".join(lines) + "\n"
