"""The adversarial-training section of experiments/README.md, from result
files only.

Reads ``experiments/results/cifar10_cpu/adversarial/<run>/seed<k>/`` (written
by ``python -m experiments.run --group=adversarial``: ``run.json``, ``clean.json``,
``mask_sweep.json``, ``robustness.json`` and, where the stronger check ran,
``pgd_strong.json``). Writes ``summary.json`` and ``adversarial.png`` there
and returns the markdown section (``experiments/report.py`` appends it).

  python -m experiments.adversarial_report    # prints the section
"""

import json
import os
import statistics
import sys

from experiments import specs
from mdr import robustness as robustness_lib
from experiments import stats
from experiments.specs import adversarial as spec_module
from experiments.specs import matrix as matrix_spec
from experiments.group_results import _fmt, load, robust_at, sweep_at  # pylint: disable=g-import-not-at-top

SPEC = specs.get("adversarial")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "experiments", "results", "cifar10_cpu",
                       "adversarial")
# (group = the run's tag in its spec, label, colour), in the spec's order.
GROUPS = tuple((r.key, r.display, r.color) for r in SPEC.runs)
REFERENCE = SPEC.run(spec_module.REFERENCE).key  # M2AT's claim: vs PGD-AT
ROBUST = "pgd@8"            # the robustness of the claim: PGD-20, ε 8/255
# Catastrophic overfitting (Wong et al. 2020): robust to the single-step
# attack, not to PGD. Flagged when PGD-20 at 8/255 is below CO_PGD % and FGSM
# at 8/255 is more than CO_GAP points above it.
IMAGE_PIXELS = 32 * 32   # CIFAR-10: the patch's share of the image
CO_PGD = matrix_spec.OVERFIT_BELOW
CO_GAP = matrix_spec.OVERFIT_GAP
EQUAL_ROBUSTNESS = 1.0      # points: "equal robustness" if the mean PGD-20
                            # accuracy is at most this much lower
# Anchors from the literature (full scale, PreActResNet-18, ε = 8/255).
ANCHORS = (
    ("PGD-AT, best epoch (Rice et al. 2020 logs)", "82.9", "53.5 (PGD-10)"),
    ("PGD-AT, last epoch (Rice et al. 2020 logs)", "84.9", "45.6 (PGD-10)"),
    ("FGSM-RS, 15 epochs (Wong et al. 2020)", "86.1", "46.1 (PGD-50×10)"),
    ("Mixup-AT", "80.4", "53.7"),
    ("Cutout-AT", "82.7", "53.3"),
)


def group_of(run):
  """The run's tag in the group's spec, or None for a run it does not name."""
  spec = SPEC.find(run)
  return spec.key if spec else None


def summarize(runs):
  """Per group: the run name and one row per seed."""
  groups = {}
  for run, recs in runs.items():
    g = group_of(run)
    if g is None:
      continue
    entry = groups.setdefault(g, dict(run=run, seeds=[]))
    for rec in sorted(recs, key=lambda r: r["seed"]):
      row = dict(seed=rec["seed"], clean=rec["clean"]["accuracy"],
                 commit=rec["run"].get("commit"),
                 wall_min=rec["run"].get("wall_s", 0) / 60)
      for attack in spec_module.MASKS:
        row[f"{attack}@0.2"] = sweep_at(rec, attack, 0.2)
      for attack in (spec_module.ONE_STEP, spec_module.MULTI_STEP):
        for eps in (2, 8):
          row[f"{attack}@{eps}"] = robust_at(rec, attack, eps)
      row[f"{spec_module.MULTI_STEP}_margin@8"] = robust_at(
          rec, spec_module.MULTI_STEP, 8, "margin")
      strong = rec.get("pgd_strong")
      row["pgd_strong"] = strong["accuracy"] if strong else None
      row["pgd_strong_n"] = strong["n"] if strong else None
      row["patch_images"] = (rec.get("patch") or {}).get("n")
      row["patch"] = {f"{r['variant']}/{r['domain']}": dict(
          hit_target=r["hit_target"], not_source=r["not_source"], n=r["n"],
          side=r.get("side"), pixels=r.get("pixels"))
                      for r in (rec.get("patch") or {}).get("records", [])
                      if "/" not in r["variant"] and "→" not in r["variant"]}
      row["catastrophic"] = (
          row["pgd@8"] is not None and row["fgsm@8"] is not None and
          row["pgd@8"] < CO_PGD and row["fgsm@8"] - row["pgd@8"] > CO_GAP)
      # The checks of mdr.robustness as they stand, on the stored records
      # (files written before a check existed get it too).
      rob = rec["robustness"]
      checks = (robustness_lib.checks(rob["records"], rob.get("n"))
                if rob else [])
      row["sanity_failed"] = [f"{c['check']} ({c['attack']}: {c['detail']})"
                              for c in checks if not c["passed"]]
      entry["seeds"].append(row)
  return groups


def training_attack(results, groups):
  """``(steps, step /255, fgsm step /255, epochs, width)`` of the runs'
  ``config.json`` (PGD-AT's, else any), or None."""
  for g in (REFERENCE,) + tuple(groups):
    if g in groups:
      seed = groups[g]["seeds"][0]["seed"]
      path = os.path.join(results, groups[g]["run"], f"seed{seed}",
                          "config.json")
      if os.path.exists(path):
        with open(path) as f:
          c = json.load(f)
        adv = c["train"]["adv"]
        return (adv["steps"], adv["step"], adv["fgsm_step"],
                c["train"]["epochs"], c["model"]["width"])
  return None


def claim(m2at, ref):
  """M2AT's claim against PGD-AT: better clean accuracy at equal robustness.

  Welch's t-test over seeds on clean accuracy and on PGD-20 8/255 accuracy
  (each: ``supported`` if significantly higher, ``contradicted`` if
  significantly lower). The claim is ``supported`` when clean accuracy is
  significantly higher and the mean robust accuracy is at most
  ``EQUAL_ROBUSTNESS`` points lower and not significantly lower;
  ``contradicted`` when clean accuracy is significantly lower; ``not
  supported`` when robustness is significantly lower (or lower by more
  than ``EQUAL_ROBUSTNESS`` points with a significant clean gain: a move
  along the trade-off, not past it); otherwise ``inconclusive at n = a + b``.
  """
  clean = stats.welch([s["clean"] for s in m2at], [s["clean"] for s in ref])
  robust = stats.welch([s[ROBUST] for s in m2at], [s[ROBUST] for s in ref])
  c_v, r_v = stats.verdict(clean, +1), stats.verdict(robust, +1)
  equal = robust["diff"] >= -EQUAL_ROBUSTNESS and r_v != "contradicted"
  if c_v == "supported" and equal:
    overall = "supported"
  elif c_v == "contradicted":
    overall = "contradicted"
  elif r_v == "contradicted" or c_v == "supported":
    overall = "not supported"
  else:
    overall = f"inconclusive at n = {clean['n_a']} + {clean['n_b']}"
  return dict(clean=dict(clean, verdict=c_v),
              robust=dict(robust, verdict=r_v), verdict=overall)


def plot(path, groups):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(10.5, 4.2))
  ax1, ax2 = fig.subplots(1, 2)
  for g, label, color in GROUPS:
    if g not in groups:
      continue
    s = groups[g]["seeds"]
    xs = [x["clean"] for x in s]
    ax1.scatter(xs, [x[ROBUST] for x in s], color=color, label=label,
                zorder=3)
    ax1.scatter([statistics.fmean(xs)],
                [statistics.fmean(x[ROBUST] for x in s)], color=color,
                marker="x", s=80, zorder=3)
    for attack, marker in zip(spec_module.MASKS, ("o", "s", "^")):
      ys = [x[f"{attack}@0.2"] for x in s if x[f"{attack}@0.2"] is not None]
      if ys:
        ax2.scatter(xs[:len(ys)], ys, color=color, marker=marker, s=22,
                    zorder=3)
  ax1.set_xlabel("clean test accuracy (%)")
  ax1.set_ylabel("PGD-20 ε = 8/255 accuracy (%, 500 images)")
  ax1.set_title("Clean vs robust (dots: seeds; x: mean)", fontsize=10)
  ax1.grid(alpha=0.3)
  ax1.legend(fontsize=7)
  ax2.set_xlabel("clean test accuracy (%)")
  ax2.set_ylabel("accuracy with 20 % hidden (%)")
  ax2.set_title("Mask attacks at 20 %: α (o), β (□), γ (△)", fontsize=10)
  ax2.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=110)


def section(results=RESULTS, rel="results/cifar10_cpu/adversarial"):
  """The markdown section (empty string when there are no results)."""
  runs = load(results)
  if not runs:
    return ""
  groups = summarize(runs)
  names = [g for g, _, _ in GROUPS if g in groups]
  label = {g: l for g, l, _ in GROUPS}
  verdicts = {}
  ref = groups.get(REFERENCE, {}).get("seeds", [])
  for g in names:
    s = groups[g]["seeds"]
    if g.startswith("m2at") and len(s) >= 2 and len(ref) >= 2:
      verdicts[g] = claim(s, ref)
  setup = training_attack(results, groups)
  if setup is None:
    raise FileNotFoundError(f"no config.json in the runs of {results}")
  steps, step, fgsm_step, epochs, width = setup
  with open(os.path.join(results, "summary.json"), "w") as f:
    json.dump(dict(groups=groups, tests=verdicts), f, indent=1)
  plot(os.path.join(results, "adversarial.png"), groups)
  lines = [
      "## Adversarial training (PGD-AT, FGSM-RS, M2AT) at CPU scale", "",
      "Training objectives of `mdr.objectives`, ε = 8/255 ℓ∞: FGSM-RS "
      f"(Wong et al. 2020: one signed step of {fgsm_step:g}/255 from a "
      "uniform start in the ε-ball), PGD-AT (Madry et al.; the attack runs the model with "
      "batch statistics, as Rice et al. do) and M2AT (arXiv 2302.08066, "
      "reconstructed from its abstract: the perturbation is masked by a "
      "binary mask and two such partially perturbed images are mixed, soft "
      "labels with the same λ; every choice is a field of "
      "`config.train.m2at`). Two M2AT settings: a random square covering "
      "30-70 % of the image + mixup (λ ~ Beta(1, 1)), and Bernoulli pixels "
      "kept with probability 0.3-0.7 + cutmix; the whole batch trained "
      "this way.", "",
      f"**Setup.** airbench at width {width:g}, **{epochs:g} epochs** "
      f"({int(epochs * 48)} steps of 1,024 images: the same training budget "
      f"for every objective), on 2 CPU cores. PGD-AT and M2AT's "
      f"perturbation use **PGD-{steps}** (step {step:g}/255, uniform start) "
      "instead of the full scale's PGD-10: at this scale a "
      "PGD-10 run costs about 5× a clean one, which this machine cannot "
      "afford for 2 seeds of 4 objectives. So these are short, weak "
      "adversarial trainings; the comparison between objectives is at equal "
      "steps and equal attack, not at the literature's scale. Every number "
      "is without TTA; mean ± std over seeds (n per row; β and γ are means "
      "over 2 draws each). No GPU was available, so the full-scale "
      "ResNet-18 runs (`configs/{pgd_at,fgsm_rs,m2at}.py`) are not run.", "",
      f"Commands: `python -m experiments.run --group=adversarial` with "
      f"`--stage=train` (training and per-model evaluation), `--stage=eval "
      f"--evaluation=matrix` (LaVAN) and `--stage=transfer` (the matrix's "
      f"transfer column); `python -m experiments.run --stage=report` (this "
      f"section). Files: `{rel}/`.", "",
      "| training | seeds | clean | FGSM 8/255 | PGD-20 2/255 | PGD-20 "
      "8/255 | margin PGD-20 8/255 | α 20 % | β 20 % | γ 20 % | wall min |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
  for g in names:
    s = groups[g]["seeds"]
    col = lambda k, s=s: _fmt([x[k] for x in s])
    co = sum(x["catastrophic"] for x in s)
    lines.append(
        f"| {label[g]}{' †' * bool(co)} | {len(s)} | {col('clean')} | "
        f"{col('fgsm@8')} | "
        f"{col('pgd@2')} | {col('pgd@8')} | {col('pgd_margin@8')} | "
        f"{col('alpha@0.2')} | {col('beta@0.2')} | {col('gamma@0.2')} | "
        f"{_fmt([x['wall_min'] for x in s], 0)} |")
  failed = sorted({(f"{label[g]} seed {s['seed']}", c) for g in names
                   for s in groups[g]["seeds"] for c in s["sanity_failed"]})
  pgd_failed = [(m, c) for m, c in failed if "(pgd:" in c or "pgd vs" in c]
  lines += [
      "", "White-box attacks on the first 500 test images of a fixed "
      "permutation (PGD-20: step 2.5ε/20, random start; margin: the "
      "Carlini-Wagner margin loss); mask attacks on all 10,000. Wall "
      "minutes: the whole process (data, compilation, training, this "
      "evaluation), with two runs sharing the 2 cores, so only a rough "
      "cost. " + (
          "The sanity checks of `mdr.robustness` (PGD's accuracy never "
          "rises with ε; twice the steps never raise it and lower it by at "
          "most 1 point, else PGD had not converged; ε = 0.5 reaches 0 %; "
          "PGD never weaker than FGSM) passed on every model." if not failed
          else "Sanity checks of `mdr.robustness` that failed (recomputed "
          "from the stored records): " + "; ".join(
              f"{m}: {c}" for m, c in failed) + "." + (
                  " No check of PGD failed. The checks can show that an "
                  "attack is weak, not that it is strong: the worst case "
                  "over losses and restarts is the matrix's PGD worst-case "
                  "column." if not pgd_failed else
                  " A model with a failed PGD check is flagged: its PGD-20 "
                  "numbers are an upper bound on its robustness, not a "
                  "robustness claim.")), ""]
  kept = []
  for g in names:
    s = groups[g]["seeds"]
    clean = statistics.fmean(x["clean"] for x in s)
    shares = [statistics.fmean(x[f"{a}@0.2"] for x in s) / clean * 100
              for a in spec_module.MASKS
              if all(x[f"{a}@0.2"] is not None for x in s)]
    if len(shares) == 3 and clean > 0:
      kept.append(f"{label[g]} {shares[0]:.0f} / {shares[1]:.0f} / "
                  f"{shares[2]:.0f} %")
  if kept:
    lines += ["**Masks against adversarially trained models.** The models' "
              "clean accuracies differ widely, so the mask columns compare "
              "better as the share of a model's own clean accuracy kept at "
              "20 % hidden (α / β / γ, means over seeds): " +
              "; ".join(kept) + ".", ""]
  co = [f"{label[g]} seed {s['seed']}" for g in names
        for s in groups[g]["seeds"] if s["catastrophic"]]
  if co:
    lines += [f"† **Catastrophic overfitting** (Wong et al. 2020) in "
              f"{', '.join(co)}: PGD-20 at 8/255 below {CO_PGD:g} % while "
              f"FGSM at 8/255 is more than {CO_GAP:g} points higher: the "
              f"model resists the "
              f"single-step attack it was trained on and nothing else. Its "
              f"PGD numbers are 0, not a robustness claim.", ""]
  strong = [(g, s) for g in names for s in groups[g]["seeds"]
            if s["pgd_strong"] is not None]
  if strong:
    lines += ["**Stronger check** (PGD-50 with 5 restarts, ε = 8/255, an "
              "image counts as robust only if no restart fools the model; "
              "the mdr.main suite `pgd_strong`): " + "; ".join(
                  f"{label[g]} seed {s['seed']}: {s['pgd_strong']:.2f} % on "
                  f"{s['pgd_strong_n']:,} images (PGD-20 on 500: "
                  f"{s[ROBUST]:.2f} %)" for g, s in strong) + ".", ""]
  patched = [(g, s) for g in names for s in groups[g]["seeds"] if s["patch"]]
  if patched:
    kinds = [k for k in ("per_image/image", "per_image/network",
                         "universal/image", "universal/network")
             if any(k in s["patch"] for _, s in patched)]
    cell = lambda p: (f"{p['hit_target']:.1f} / {p['not_source']:.1f} "
                      f"(n = {p['n']})" if p else "—")
    sizes = sorted({(p["side"], p["pixels"]) for _, s in patched
                    for p in s["patch"].values() if p.get("side")})
    size = " or ".join(f"{side}×{side} patch ({px / IMAGE_PIXELS * 100:.1f} % "
                       f"of the image)" for side, px in sizes) or "patch"
    lines += [f"**LaVAN patches** (a {size}, the nearest square to LaVAN's "
              "2 %; the mdr.main "
              "suite `patch`; per image: the first " + "/".join(sorted({
                  f"{s['patch_images']:,}" for _, s in patched})) +
              " test images of a fixed permutation, at the bottom-right "
              "corner, at most 300 steps; universal: one patch for target "
              "class 0 at random positions). Targeted success / untargeted "
              "success (%) on the correctly classified images (n):", "",
              "| training | seed | " + " | ".join(
                  k.replace("/", ", ") + " domain" for k in kinds) + " |",
              "|---|---:|" + "---|" * len(kinds)]
    for g, s in patched:
      lines.append(f"| {label[g]} | {s['seed']} | " + " | ".join(
          cell(s["patch"].get(k)) for k in kinds) + " |")
    lines.append("")
  lines += ["![clean vs robust accuracy](" + rel + "/adversarial.png)", "",
            "### Verdict on M2AT's claim", "",
            f"The claim: better clean accuracy than PGD-AT at equal "
            f"robustness. Test: Welch's t-test over seeds (two-sided, α = "
            f"{stats.ALPHA}) on clean accuracy and on PGD-20 8/255 "
            f"accuracy; *supported* if clean accuracy is significantly "
            f"higher and the mean PGD-20 accuracy is at most "
            f"{EQUAL_ROBUSTNESS:g} point lower and not significantly lower.",
            ""]
  for g, v in verdicts.items():
    lines.append(
        f"- **{label[g]}** vs PGD-AT: clean {stats.describe(v['clean'])}; "
        f"PGD-20 8/255 {stats.describe(v['robust'])} → **{v['verdict']}**.")
  if not verdicts:
    lines.append("- Not tested: fewer than 2 seeds of M2AT or PGD-AT.")
  lines += ["", "Anchors at full scale (PreActResNet-18, ε = 8/255, clean / "
            "PGD accuracy, as quoted in the literature; not run here): " +
            "; ".join(f"{n}: {c} / {r}" for n, c, r in ANCHORS) + ".", ""]
  return "\n".join(lines)


if __name__ == "__main__":
  print(section())
