"""Every trained model of the CPU scale against every attack, in one table.

Reads only result files under ``experiments/results/cifar10_cpu/``:

- ``<model>/seed<k>/``: the MDR models (``clean``, ``masked``,
  ``masked_all``, ``mixed``, ``masked_sparse``; ``experiments/cifar10.py``);
  with ``transfer/transfer.json`` (``experiments/cifar10.py --transfer``);
- ``random_mask/<run>/seed<k>/`` and ``random_mask/transfer/transfer.json``
  (the standard network and the random-mask models;
  ``experiments/random_mask.sh`` and ``random_mask_eval.py``);
- ``adversarial/<run>/seed<k>/`` with its ``extra_eval/`` (the 3-epoch
  clean model, FGSM-RS, PGD-AT and both M2AT settings;
  ``experiments/adversarial.sh``) and ``adversarial/transfer/transfer.json``
  (``experiments/extra_eval.py --group=adversarial --transfer``).

Later evaluations of any of them (``experiments/extra_eval.py``: PGD, LaVAN)
are read from the seed's ``extra_eval/``.

A seed counts once its ``run.json`` says done (``seed_runs.load``). A row is
a run (a model trained under one recipe), a column an attack at one setting:
clean accuracy; α, α*, β, γ and α-pixels at 20 % hidden under zero fill
(``mask_sweep.json``); γ with 10 % of the pixels visible (90 % hidden,
``sparse_pixels.json``); PGD-20 at ε 8/255 (``robustness.json``); the LaVAN
2 % patch's targeted success in image space, per image and universal
(``patch.json``); and the accuracy on PGD ε 16/255 examples transferred from
the standard network (the ``transfer.json`` of the row's group, as
``random_mask_report`` reads it; its standard network is the clean-trained
model of the group's recipe). A cell is the mean over the row's seeds that measured it; the reasons a
cell is empty are read off the files too.

``matrix`` returns the rows, ``section`` the markdown section and ``write``
stores the rows as ``matrix.json`` in the results directory.

  python experiments/matrix_report.py   # writes matrix.json, prints the section
"""

import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=g-import-not-at-top
import adversarial_report
import provenance
import random_mask_report
from report_load import MODELS, STANDARD, ratio_key
from seed_paper import SYMBOL
from seed_runs import _read, load, robust_at, sweep_at, workdir_name
from mdr import objectives  # on the path through seed_paper
# pylint: enable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "experiments", "results", "cifar10_cpu")
RANDOM_MASK = "random_mask"
ADVERSARIAL = "adversarial"
# (group, directory under the results root or None for the root, label).
GROUPS = (("mdr", None, "MDR"),
          ("random_mask", RANDOM_MASK, "Random mask"),
          ("adversarial", ADVERSARIAL, "Adversarial"))
RATIO = 0.2          # hidden share of the mask-attack columns
SPARSE_RATIO = 0.9   # hidden share of the sparse column: 10 % visible
FILL = "zero"        # the fill of every mask column
PGD_EPS = 8          # /255
PATCH_DOMAIN = "image"   # the patch in [0, 1]: an image one could print
TRANSFER = random_mask_report.MAIN   # "pgd16": PGD-20, ε 16/255
# The groups with a transfer matrix: (its directory under the results root,
# which runs of the group are the standard network, its transfer sources).
TRANSFER_DIRS = {
    "mdr": ("transfer", lambda run: run == STANDARD),
    "random_mask": (os.path.join(RANDOM_MASK, "transfer"),
                    lambda run: random_mask_report.group_of(run) ==
                    "standard"),
    "adversarial": (os.path.join(ADVERSARIAL, "transfer"),
                    lambda run: adversarial_report.group_of(run) == "clean"),
}
IMAGE_PIXELS = 32 * 32   # CIFAR-10: the patch's share of the image
MASK_ATTACKS = ("alpha", "alpha_exhaustive", "beta", "gamma", "alpha_pixels")
# (key, header) in the table's order.
COLUMNS = (
    ("clean", "clean"),
    *((f"{a}@{RATIO:g}", f"{SYMBOL[a]} {RATIO * 100:g} %")
      for a in MASK_ATTACKS),
    (f"sparse@{SPARSE_RATIO:g}",
     f"γ {(1 - SPARSE_RATIO) * 100:.0f} % visible"),
    (f"pgd@{PGD_EPS}", f"PGD-20 {PGD_EPS}/255"),
    ("lavan_per_image", "LaVAN per image"),
    ("lavan_universal", "LaVAN universal"),
    (f"transfer_{TRANSFER}", "transfer PGD 16/255"),
)


def _mean(values):
  return statistics.fmean(values) if values else None


def _runs(results_root):
  """[(group, run, [seed record], directory of the run's seeds)]."""
  out = []
  for group, sub, _ in GROUPS:
    d = results_root if sub is None else os.path.join(results_root, sub)
    if not os.path.isdir(d):
      continue
    runs = load(d)
    if group == "mdr":
      order = ([m for m in MODELS if m in runs] +
               sorted(set(runs) - set(MODELS)))
    elif group == "random_mask":
      rank = {g: i for i, (g, _) in enumerate(random_mask_report.GROUPS)}
      order = sorted(runs, key=lambda r: (
          rank.get(random_mask_report.group_of(r), len(rank)), r))
    else:
      rank = {g: i for i, (g, _, _) in enumerate(adversarial_report.GROUPS)}
      order = sorted((r for r in runs
                      if adversarial_report.group_of(r) is not None),
                     key=lambda r: (rank.get(adversarial_report.group_of(r),
                                             len(rank)), r))
    for run in order:
      out.append((group, run, sorted(runs[run], key=lambda r: r["seed"]),
                  os.path.join(d, run)))
  return out


def _label(group, run):
  prefix = dict((g, l) for g, _, l in GROUPS)[group]
  if group == "random_mask":
    g = random_mask_report.group_of(run)
    name = (dict(random_mask_report.GROUPS)[g] if g == "standard" else
            f"drop {g[2:]}" if g.startswith("rm") else run)
  elif group == "adversarial":
    name = {g: l for g, l, _ in adversarial_report.GROUPS}.get(
        adversarial_report.group_of(run), run)
  else:
    name = run
  return f"{prefix} · {name}"


def _transfer(results_root, group):
  """(records of the main setting, names of the standard sources, the
  file's facts) of the group's ``transfer.json`` (``TRANSFER_DIRS``), or
  None when it is not there or its ``run.json`` does not say done."""
  sub, is_standard = TRANSFER_DIRS[group]
  d = os.path.join(results_root, sub)
  path = os.path.join(d, "transfer.json")
  if not os.path.exists(path):
    return None
  run_json = os.path.join(d, "run.json")
  if os.path.exists(run_json) and not provenance.finished(_read(run_json)):
    return None
  t = _read(path)
  sources = [os.path.basename(s.rstrip("/")) for s in t.get("sources", [])]
  runs_dir = os.path.dirname(d)   # the group's runs: <run>/seed<k>/

  def is_run(name):
    p = os.path.join(runs_dir, name)
    return os.path.isdir(p) and any(s.startswith("seed")
                                    for s in os.listdir(p))
  std_runs = [r for r in os.listdir(runs_dir) if is_run(r) and is_standard(r)]
  standard = [s for s in sources if any(
      s.startswith(f"{r}_seed") and s[len(r) + 5:].isdigit()
      for r in std_runs)]
  records = [r for r in t.get("records", []) if r["setting"] == TRANSFER]
  setting = t.get("settings", {}).get(TRANSFER, {})
  return dict(records=records, standard=standard, images=t.get("images"),
              display=setting.get("display", TRANSFER))


def _seed_cells(rec, seed_dir, run, group, transfer):
  """{column: (value, None) or (None, why it is not measured)}."""
  cells = {"clean": (rec["clean"]["accuracy"], None)}
  config_path = os.path.join(seed_dir, "config.json")
  config = _read(config_path) if os.path.exists(config_path) else {}
  default_fill = config.get("eval", {}).get("fill", FILL)
  sweep = rec["mask_sweep"]
  zero = [r for r in sweep or [] if r.get("fill", default_fill) == FILL]
  for attack in MASK_ATTACKS:
    key = f"{attack}@{RATIO:g}"
    value = sweep_at(dict(mask_sweep=zero), attack, RATIO)
    if value is not None:
      cells[key] = (value, None)
    elif sweep is None:
      cells[key] = (None, "no mask_sweep.json")
    elif not any(r["attack"] == attack for r in sweep):
      cells[key] = (None, f"no {attack} in mask_sweep.json")
    elif not any(r["attack"] == attack for r in zero):
      cells[key] = (None, f"mask_sweep.json has {attack} under another "
                          f"fill only")
    else:
      cells[key] = (None, f"mask_sweep.json has no {attack} at "
                          f"{RATIO * 100:g} % hidden")
  key = f"sparse@{SPARSE_RATIO:g}"
  path = os.path.join(seed_dir, "sparse_pixels.json")
  if not os.path.exists(path):
    cells[key] = (None, "no sparse_pixels.json")
  else:
    sparse = [r for r in _read(path) if r.get("fill", default_fill) == FILL]
    value = [r["accuracy"] for r in sparse
             if ratio_key(r["ratio"]) == ratio_key(SPARSE_RATIO)]
    cells[key] = ((value[0], None) if value else (
        None, f"sparse_pixels.json has no point at "
              f"{SPARSE_RATIO * 100:g} % hidden"))
  key = f"pgd@{PGD_EPS}"
  value = robust_at(rec, "pgd", PGD_EPS)
  cells[key] = ((value, None) if value is not None else (
      None, "no robustness.json" if rec["robustness"] is None else
      f"robustness.json has no PGD at {PGD_EPS}/255"))
  # Catastrophic overfitting, by adversarial_report's rule: robust to FGSM,
  # not to PGD; only for a model trained on adversarial examples (the
  # objective's registry metadata), which had a one-step attack to overfit to.
  fgsm = robust_at(rec, "fgsm", PGD_EPS)
  mode = config.get("train", {}).get("mode")
  catastrophic = (mode in objectives.REGISTRY and
                  objectives.get(mode).adversarial and
                  value is not None and fgsm is not None and
                  value < adversarial_report.CO_PGD and
                  fgsm - value > adversarial_report.CO_GAP)
  patch = rec.get("patch")
  for variant in ("per_image", "universal"):
    key = f"lavan_{variant}"
    hits = [r["hit_target"] for r in (patch or {}).get("records", [])
            if r.get("variant") == variant and
            r.get("domain") == PATCH_DOMAIN]
    cells[key] = ((_mean(hits), None) if hits else (
        None, "no patch.json" if patch is None else
        f"patch.json has no {variant} {PATCH_DOMAIN}-domain patch"))
  key = f"transfer_{TRANSFER}"
  target = workdir_name(run, rec["seed"])
  if transfer is None:
    cells[key] = (None, f"no finished {TRANSFER_DIRS[group][0]}/transfer.json"
                  if group in TRANSFER_DIRS else
                  "not a target of any transfer matrix")
    sources = set()
  else:
    mine = [r for r in transfer["records"] if r["target"] == target]
    values = [r["accuracy"] for r in mine
              if r["source"] in transfer["standard"] and r["source"] != target]
    cells[key] = ((_mean(values), None) if values else (
        None, "not a target of the transfer matrix" if not mine else
        "no standard-network source in the transfer matrix but itself"))
    sources = {r["source"] for r in mine
               if r["source"] in transfer["standard"]
               and r["source"] != target}
  return cells, config, catastrophic, sources


def _network(config):
  model = config.get("model", {})
  if not model.get("name"):
    return None
  width = model.get("width")
  return model["name"] + (f" w{width:g}" if width is not None else "")


def _one(values):
  """The single value of a list, the values joined by "/" when they differ
  (never expected), or None."""
  distinct = list(dict.fromkeys(v for v in values if v is not None))
  if not distinct:
    return None
  return distinct[0] if len(distinct) == 1 else "/".join(map(str, distinct))


def _read_all(results_root):
  """The runs (``_runs``) and the transfer matrices ({group: ``_transfer``})
  under a results root: every file the matrix reads, read once."""
  return _runs(results_root), {g: _transfer(results_root, g)
                               for g in TRANSFER_DIRS}


def matrix(results_root=RESULTS, read=None):
  """One dict per row: name, label, group, network, epochs, seeds, cells.

  ``cells``: {column: dict(value (mean over the seeds that measured it, or
  None), n, seeds (those seeds), missing ({seed: why not measured}))}.
  ``read``: ``_read_all(results_root)`` when the caller has it already.
  """
  runs, transfers = read or _read_all(results_root)
  rows = []
  for group, run, recs, run_dir in runs:
    per_seed, configs, catastrophic, sources = {}, [], [], []
    for rec in recs:
      cells, config, co, src = _seed_cells(rec, os.path.join(
          run_dir, f"seed{rec['seed']}"), run, group, transfers.get(group))
      per_seed[rec["seed"]] = cells
      configs.append(config)
      if co:
        catastrophic.append(rec["seed"])
      if src:
        sources.append(len(src))
    cells = {}
    for key, _ in COLUMNS:
      got = {s: c[key][0] for s, c in per_seed.items()
             if c[key][0] is not None}
      cells[key] = dict(
          value=_mean(list(got.values())), n=len(got), seeds=sorted(got),
          missing={s: c[key][1] for s, c in per_seed.items()
                   if c[key][0] is None})
    rows.append(dict(
        name=run, label=_label(group, run), group=group,
        network=_one([_network(c) for c in configs]),
        epochs=_one([c.get("train", {}).get("epochs") for c in configs]),
        seeds=len(recs), seed_list=sorted(per_seed), cells=cells,
        catastrophic=catastrophic, transfer_sources=sorted(set(sources))))
  return rows


def fmt_cell(cell, seeds):
  if not cell["n"]:
    return "—"
  text = f"{cell['value']:.1f}"
  return text + (f" (n={cell['n']})" if cell["n"] < seeds else "")


def _training(row):
  epochs = row["epochs"]
  epochs = (f"{epochs:g} ep" if isinstance(epochs, (int, float))
            else f"{epochs} ep" if epochs is not None else "? ep")
  return f"{row['network'] or '?'}, {epochs}"


def _names(rows, of):
  """The rows' labels; a whole group of several rows as "every <group> row"."""
  prefix = {g: l for g, _, l in GROUPS}
  out = []
  for group, _, _ in GROUPS:
    mine = [r for r in rows if r["group"] == group]
    every = [r for r in of if r["group"] == group]
    if len(mine) > 1 and len(mine) == len(every):
      out.append(f"every {prefix[group]} row")
    else:
      out += [r["label"] for r in mine]
  return ", ".join(out)


def _not_measured(rows):
  """Sentences: per column, the rows without it and the reason read off the
  files; the rows measured on only some seeds and why not on the others."""
  out = []
  for key, header in COLUMNS:
    empty, partial = {}, {}
    for row in rows:
      cell = row["cells"][key]
      if not cell["missing"]:
        continue
      why = "; ".join(sorted(set(cell["missing"].values())))
      if cell["n"] == 0:
        empty.setdefault(why, []).append(row)
      else:
        partial.setdefault((tuple(cell["seeds"]), why), []).append(row)
    parts = [f"not measured for {_names(r, rows)} ({why})"
             for why, r in empty.items()]
    parts += [f"{_names(r, rows)} only on seed{'s' * (len(seeds) > 1)} "
              f"{', '.join(map(str, seeds))} (the other seeds: {why})"
              for (seeds, why), r in partial.items()]
    if parts:
      out.append(f"**{header}**: " + "; ".join(parts) + ".")
  return out


def _facts(runs):
  """The evaluation sizes the explanatory sentence quotes, from the files."""
  mask, exhaustive, pgd, patch, side, share = (set() for _ in range(6))
  for _, _, recs, _ in runs:
    for rec in recs:
      for r in rec["mask_sweep"] or []:
        if r.get("n"):
          (exhaustive if r["attack"] == "alpha_exhaustive" else mask).add(
              r["n"])
      for r in (rec["robustness"] or {}).get("records", []):
        if (r["attack"] == "pgd" and r["kind"] == "sweep"
            and abs(r["eps"] * 255 - PGD_EPS) < 1e-6 and r.get("n")):
          pgd.add(r["n"])
      if rec.get("patch"):
        if rec["patch"].get("n"):
          patch.add(rec["patch"]["n"])
        side.update(r["side"] for r in rec["patch"].get("records", [])
                    if r.get("side"))
        share.update(r["pixels"] / IMAGE_PIXELS
                     for r in rec["patch"].get("records", [])
                     if r.get("pixels"))
  join = lambda s: "/".join(f"{x:,}" for x in sorted(s))
  return dict(mask=join(mask), exhaustive=join(exhaustive), pgd=join(pgd),
              patch=join(patch), side=join(side),
              share="/".join(f"{x * 100:.1f}" for x in sorted(share)))


def _length(rows):
  """The sentence on training length (``train.epochs`` of config.json)."""
  by_epochs = {}
  for row in rows:
    by_epochs.setdefault(row["epochs"], []).append(row)
  fmt = lambda e: f"{e:g}" if isinstance(e, (int, float)) else str(e)
  if len(by_epochs) == 1:
    (epochs,) = by_epochs
    return (f"Every row trained for {fmt(epochs)} epochs (`train.epochs` of "
            f"its `config.json`)." if epochs is not None else "")
  order = sorted(by_epochs, key=lambda e: (not isinstance(e, (int, float)),
                                           e if isinstance(e, (int, float))
                                           else 0, str(e)))
  return ("Rows differ in training length (`train.epochs` of each run's "
          "`config.json`: " + "; ".join(
              f"{fmt(e)} epochs for {_names(by_epochs[e], rows)}"
              for e in order) + "), so compare within a training length.")


def _sources_sentence(rows):
  """Says how many standard sources the transfer cells average over, when
  rows differ (a standard row's own seed is never its source)."""
  counts = {}
  for row in rows:
    if row["transfer_sources"]:
      counts.setdefault(" or ".join(map(str, row["transfer_sources"])),
                        []).append(row)
  if len(counts) < 2:
    return ""
  return (" (" + "; ".join(
      f"{n} source{'s' * (n != '1')} for {_names(r, rows)}"
      for n, r in sorted(counts.items())) + ")")


def section(results_root=RESULTS, rel="results/cifar10_cpu"):
  """The markdown section ("" when no run is done)."""
  read = _read_all(results_root)
  rows = matrix(results_root, read)
  if not rows:
    return ""
  runs, by_group = read
  facts = _facts(runs)
  transfers = [(g, t) for g, t in by_group.items()
               if t is not None and t["standard"]]
  what = [f"mask attacks at {RATIO * 100:g} % hidden with zero fill" +
          (f" on {facts['mask']} test images" if facts["mask"] else "") +
          (f", α* (the worst-case square) on {facts['exhaustive']} of them"
           if facts["exhaustive"] else ""),
          f"γ with {(1 - SPARSE_RATIO) * 100:.0f} % of the pixels visible"]
  if facts["pgd"]:
    what.append(f"PGD-20 on {facts['pgd']} test images")
  if facts["patch"]:
    what.append(
        f"LaVAN: a {facts['side']}×{facts['side']} patch ({facts['share']} % "
        f"of the image, the nearest square to LaVAN's 2 %), "
        f"with values in [0, 1], per image on the correctly classified of "
        f"{facts['patch']} test images and universal (one patch for a "
        f"target class, at random positions), its targeted success in % "
        f"(lower is more robust)")
  if transfers:
    label = {g: l for g, _, l in GROUPS}
    how = {(t["display"], t["images"]) for _, t in transfers}
    crafted = "; ".join(
        (f"{t['display']} examples of {t['images']:,} test images "
         if len(how) > 1 else "") +
        (f"for the {label[g]} rows " if len(transfers) > 1 else "") +
        ", ".join(t["standard"]) for g, t in transfers)
    display, images = next(iter(how))
    what.append(
        f"transfer: the accuracy on " +
        (f"{display} examples of {images:,} test images " if len(how) == 1
         else "the examples ") +
        f"crafted on the standard network of the row's recipe, trained "
        f"without masks ({crafted}; never on the target itself, averaged "
        f"over those sources per target seed), counting the images that "
        f"fooled the source and that the target classifies correctly when "
        f"clean" + _sources_sentence(rows))
  lines = [
      "## Every model × every attack (CPU scale)", "",
      f"Accuracy (%) of every trained model of this scale under every "
      f"attack, read from the result files under `{rel}/`, each cell the "
      f"mean over the seeds of the row that measured it (with their count "
      f"where that is fewer than the row's seeds; — where no result file "
      f"has it): " + "; ".join(what) + ".", "",
      "| model | training | seeds | " +
      " | ".join(h for _, h in COLUMNS) + " |",
      "|---|---|---:|" + "---:|" * len(COLUMNS)]
  pgd_key = f"pgd@{PGD_EPS}"
  for row in rows:
    lines.append(
        f"| {row['label']} | {_training(row)} | {row['seeds']} | " +
        " | ".join(fmt_cell(row["cells"][k], row["seeds"]) +
                   (" †" if k == pgd_key and row["catastrophic"] else "")
                   for k, _ in COLUMNS) + " |")
  notes = _not_measured(rows)
  co = [r for r in rows if r["catastrophic"]]
  if co:
    notes.append(
        "† Catastrophic overfitting (Wong et al. 2020) in " + "; ".join(
            f"{r['label']} seed{'s' * (len(r['catastrophic']) > 1)} "
            f"{', '.join(map(str, r['catastrophic']))}" for r in co) +
        f": its accuracy under FGSM at {PGD_EPS}/255 is more than "
        f"{adversarial_report.CO_GAP:g} points above its accuracy under "
        f"PGD-20, which is below {adversarial_report.CO_PGD:g} % (the model "
        f"resists the one-step attack it trained on, not the multi-step "
        f"one).")
  paragraph = ((["Not measured, as the result files show:"] if notes else [])
               + notes + [_length(rows)])
  lines += ["", " ".join(p for p in paragraph if p), ""]
  return "\n".join(lines)


def write(results_root=RESULTS):
  """Writes the rows to ``<results_root>/matrix.json``; returns its path."""
  path = os.path.join(results_root, "matrix.json")
  with open(path, "w") as f:
    json.dump(dict(columns=[dict(key=k, header=h) for k, h in COLUMNS],
                   rows=matrix(results_root)), f, indent=1,
              ensure_ascii=False)
  return path


if __name__ == "__main__":
  write()
  print(section())
