"""The report's markdown tables, from a scale's summary or a rerun check.

The matrix (a row per model, the seed paper's row beside), one table per
attack with the spread, the sparse-pixel curve, the runs (seeds, wall
times, commits, machines) and the tables of ``report.py --check``.
"""

from experiments.report_load import same_code
from experiments.report_stats import sweep_entry
from experiments.seed_paper import ATTACKS
from experiments.seed_paper import MATRIX_RATIOS
from experiments.seed_paper import SEED_CLEAN
from experiments.seed_paper import SEED_TABLE
from experiments.seed_paper import SYMBOL
from experiments.specs.seed_paper import HEADLINE  # cells the claims rest on


def fmt_pct(x, digits=0):
  """A fraction as a percentage ("—" for None)."""
  return "—" if x is None else f"{x * 100:.{digits}f} %"


def fmt_cell(entry, spread=True):
  """A summary cell, "—" for None; with ``spread`` the two spreads apart:
  "mean ± seed std" (several seeds) and "(d draw std)" where the masks are
  random: "71.20 ± 0.41 (d 0.12)", one seed "71.20 (d 0.12)". Cells of
  summaries from before the split show "mean ± spread"."""
  if entry is None:
    return "—"
  if not spread:
    return f"{entry['mean']:.2f}"
  if "draw_std" not in entry:
    return f"{entry['mean']:.2f} ± {entry['spread']:.2f}"
  text = f"{entry['mean']:.2f}"
  if entry.get("seed_std") is not None:
    text += f" ± {entry['seed_std']:.2f}"
  if entry["draw_std"] > 0:
    text += f" (d {entry['draw_std']:.2f})"
  return text


def ratios_of(summary, attacks=ATTACKS, wanted=MATRIX_RATIOS):
  """The ratios of ``wanted`` that some model measured for some attack."""
  have = {float(k.split("@")[1]) for s in summary.values()
          for k in s["sweep"] if k.split("@")[0] in attacks}
  return tuple(r for r in wanted if any(abs(r - h) < 1e-9 for h in have))


def attacks_of(summary):
  """The report's attacks that some model measured, in ATTACKS order."""
  have = {k.split("@")[0] for s in summary.values() for k in s["sweep"]}
  return tuple(a for a in ATTACKS if a in have)


def fmt_machine(m):
  """'2 CPUs AMD EPYC' from a run.json machine record (model if recorded)."""
  return " ".join(filter(None, [str(m.get("cpus", "?")), "CPUs",
                                m.get("cpu_model")]))


def _row(cells):
  return "| " + " | ".join(cells) + " |"


def matrix_markdown(summary):
  """The matrix: a row per model, clean + each attack at 2..20 %, means."""
  cols = [(a, r) for a in attacks_of(summary)
          for r in ratios_of(summary, (a,))]
  head = ["model", "seeds", "clean"] + [
      f"{SYMBOL[a]} {r * 100:.0f}%" for a, r in cols]
  lines = [_row(head), "|---" * len(head) + "|"]
  seed_cells = ["**seed paper** (ResNet, clean)", "—",
                f"{SEED_CLEAN:.2f}"]
  for a, r in cols:
    seed_cells.append(f"{SEED_TABLE[a][r]:.2f}" if a in SEED_TABLE else "—")
  lines.append(_row(seed_cells))
  for model, s in summary.items():
    cells = [model, str(len(s["seeds"])), fmt_cell(s["clean"], spread=False)]
    for a, r in cols:
      cells.append(fmt_cell(sweep_entry(summary, model, a, r), spread=False))
    lines.append(_row(cells))
  return "\n".join(lines) + "\n"


def attack_markdown(summary, attack):
  """One attack: a row per model, clean + ratios, mean ± spread."""
  ratios = (0.0,) + ratios_of(summary, (attack,))
  pixels = {}
  for model in summary:
    for r in ratios:
      e = sweep_entry(summary, model, attack, r)
      if e is not None:
        pixels.setdefault(r, e["hidden_pixels"])
  head = ["model"] + [f"{r * 100:.0f} %" + (f" ({pixels[r]} px)" if r in pixels
                                            else "") for r in ratios]
  lines = [_row(head), "|---" * len(head) + "|"]
  if attack in SEED_TABLE:
    lines.append(_row(["seed paper"] + [f"{SEED_TABLE[attack][r]:.2f}"
                                        for r in ratios]))
  ns = {sweep_entry(summary, m, attack, r)["n"] for m in summary
        for r in ratios if sweep_entry(summary, m, attack, r)}
  ns.discard(None)
  for model in summary:
    lines.append(_row([model] + [
        fmt_cell(sweep_entry(summary, model, attack, r)) for r in ratios]))
  note = (f"\nOn {', '.join(map(str, sorted(ns)))} test images.\n"
          if ns and max(ns) < 10000 else "")
  return "\n".join(lines) + "\n" + note


def sparse_markdown(summary):
  """The sparse-pixel curve: a row per model, by share of visible pixels."""
  ratios = sorted({float(r) for s in summary.values() for r in s["sparse"]})
  head = ["model"] + [f"{(1 - r) * 100:.0f} %" for r in ratios]
  lines = [_row(["visible pixels →"] + head[1:]), "|---" * len(head) + "|"]
  for model, s in summary.items():
    lines.append(_row([model] + [fmt_cell(s["sparse"].get(f"{r:g}"))
                                 for r in ratios]))
  return "\n".join(lines) + "\n"


def runs_markdown(summary):
  """A row per model: seeds, epochs, wall times, commits, machine; and
  whether the code is the same at every commit (``same_code``)."""
  lines = [_row(["model", "seeds", "epochs", "wall time per run (min)",
                 "commit", "machine"]),
           "|---|---|---|---|---|---|"]
  for model, s in summary.items():
    commits = (c[:10] + ("-dirty" if c.endswith("-dirty") else "")
               for c in s["commits"])
    lines.append(_row([
        model, ", ".join(map(str, s["seeds"])), str(s["epochs"]),
        ", ".join(f"{w:.1f}" for w in s["wall_min"]), ", ".join(commits),
        f"{fmt_machine(s['machine'])}, {s['machine'].get('devices')}"]))
  shas = sorted({c.replace("-dirty", "") for s in summary.values()
                 for c in s["commits"]})
  verdict = {True: "the same at all of them",
             False: "NOT the same at all of them: compare with care",
             None: "not checked (git could not compare them)"}[same_code(shas)]
  lines.append(
      f"\nThe code the runs use (`mdr/`, `configs/`, `pyproject.toml`) is "
      f"{verdict} ({', '.join(c[:10] for c in shas)}; `git diff --quiet <a> "
      "<b> -- mdr configs pyproject.toml`). `-dirty`: the checkout had "
      "uncommitted changes when the run was recorded (runs recorded before "
      "`run.json` had a `code_dirty` field counted any change, result files "
      "included). Wall times are for one run on a shared machine and depend "
      "on its load and on how many runs shared it; `run.json` has the "
      "1-minute load average at the start and end of newer runs.\n")
  return "\n".join(lines) + "\n"


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
        f"{fmt_machine(r.get('machine', {}))} |")
  return "\n".join(lines) + "\n"


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
