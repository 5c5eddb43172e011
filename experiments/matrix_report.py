"""Every trained model of the CPU scale against every attack, in one table.

The rows: every run of every experiment group whose spec lists matrix
columns (``experiments/specs/``: ``mdr``, ``random_mask``, ``adversarial``,
in registration order; each group's runs in its spec's order), read from
the group's results directory under ``experiments/results/cifar10_cpu/``
(a seed counts once its ``run.json`` says done; later evaluations in the
seed's ``extra_eval*/`` count over its own files). The columns: the union of
the groups' columns (``experiments/specs/matrix.py``), each an evaluator of
``mdr.evaluators`` with parameters; the evaluator's ``table`` names the
column, reads each seed's cell off its files (or says why it is not
measured) and words what its columns measure. A cell is the mean over the
row's seeds that measured it; the group's transfer matrix
(``<group>/transfer/transfer.json``) feeds the transfer column.

``matrix`` returns the rows, ``section`` the markdown section and ``write``
stores the rows as ``matrix.json`` in the results directory.

  python -m experiments.matrix_report   # writes matrix.json, prints the section
"""

import json
import os
import statistics

from experiments import provenance
from experiments import specs
from experiments.group_results import _read, extra_evals, load
from experiments.specs import matrix as matrix_spec
from mdr import evaluators
from mdr import intervals

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "experiments", "results", matrix_spec.ROOT)


def groups():
  """The groups with rows in the matrix: ``(group spec, its directory under
  the matrix's results root or None for the root)``, in registration order."""
  out = []
  for name in specs.names():
    g = specs.get(name)
    if g.columns:
      rel = os.path.relpath(g.results, matrix_spec.ROOT)
      out.append((g, None if rel == "." else rel))
  return out


def columns():
  """``[(key, header, Column)]``: every matrix group's columns, each once,
  in the order they first appear."""
  out, seen = [], set()
  for g, _ in groups():
    for col in g.columns:
      table = evaluators.get(col.evaluator).table
      key = table.key(col.kwargs)
      if key not in seen:
        seen.add(key)
        out.append((key, table.header(col.kwargs), col))
  return out


def _mean(values):
  return statistics.fmean(values) if values else None


def _runs(results_root):
  """[(group, run, [seed record], directory of the run's seeds)]: the
  group's runs in its spec's order, then any other run found, sorted."""
  out = []
  for group, sub in groups():
    d = results_root if sub is None else os.path.join(results_root, sub)
    if not os.path.isdir(d):
      continue
    runs = load(d)
    order = ([r.name for r in group.runs if r.name in runs] +
             sorted(set(runs) - {r.name for r in group.runs}))
    for run in order:
      out.append((group, run, sorted(runs[run], key=lambda r: r["seed"]),
                  os.path.join(d, run)))
  return out


def _label(group, run):
  spec = group.find(run)
  return f"{group.label} · {spec.display if spec else run}"


def _transfer(results_root, group, sub):
  """(records, names of the standard sources, the file's facts) of the
  group's ``transfer.json``, or None when it is not there or its
  ``run.json`` does not say done."""
  d = os.path.join(results_root, *([sub] if sub else []), group.transfer.out)
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
  std_runs = [r for r in os.listdir(runs_dir) if is_run(r)
              and group.find(r) is not None
              and group.find(r).role == "standard"]
  standard = [s for s in sources if any(
      s.startswith(f"{r}_seed") and s[len(r) + 5:].isdigit()
      for r in std_runs)]
  return dict(records=t.get("records", []), standard=standard,
              images=t.get("images"), settings=t.get("settings", {}))


def _reading(rec, seed_dir, run, shared):
  """The ``mdr.evaluators.Reading`` of one seed: its files (a later
  evaluation's over an earlier one), config and the group's transfer."""
  config_path = os.path.join(seed_dir, "config.json")
  config = _read(config_path) if os.path.exists(config_path) else {}
  dirs = [seed_dir] + [x for x, _ in extra_evals(seed_dir)]
  cache = {}

  def file(stem):
    if stem not in cache:
      if stem in rec:
        cache[stem] = rec[stem]
      else:
        found = [os.path.join(x, f"{stem}.json") for x in dirs
                 if os.path.exists(os.path.join(x, f"{stem}.json"))]
        cache[stem] = _read(found[-1]) if found else None
    return cache[stem]
  return evaluators.Reading(file=file, config=config, run=run,
                            seed=rec["seed"], shared=shared)


def _transfer_rel(group):
  """The group's transfer directory relative to the matrix's root."""
  return os.path.normpath(os.path.join(
      os.path.relpath(group.results, matrix_spec.ROOT), group.transfer.out))


def _shared(group, transfer):
  base = dict(group=group.name, group_label=group.label)
  if group.transfer is None:
    return dict(base, transfer=None,
                transfer_missing="not a target of any transfer matrix")
  return dict(base, transfer=transfer, transfer_missing=(
      f"no finished {_transfer_rel(group)}/transfer.json"
      if transfer is None else None))


def _seed_cells(reading, cols):
  """{column: (value, why not measured, mark, (k, n) or None)}: ``(k, n)``
  when the cell is a proportion on a subset of the test split."""
  out = {}
  for key, _, col in cols:
    table = evaluators.get(col.evaluator).table
    value, why, mark = table.cell(reading, col.kwargs)
    count = (table.count(reading, col.kwargs)
             if table.count and value is not None else None)
    out[key] = (value, why, mark, count)
  return out


def _sources(reading, settings):
  """The standard sources the row's transfer cells (of these settings)
  average over."""
  transfer = reading.shared.get("transfer")
  if transfer is None:
    return set()
  target = f"{reading.run}_seed{reading.seed}"
  return {r["source"] for r in transfer["records"]
          if r["target"] == target and r["source"] in transfer["standard"]
          and r["source"] != target and r["setting"] in settings}


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
  """The runs (``_runs``) and the transfer matrices ({group name:
  ``_transfer``}) under a results root: every file the matrix reads, once."""
  return _runs(results_root), {g.name: _transfer(results_root, g, sub)
                               for g, sub in groups() if g.transfer}


def matrix(results_root=RESULTS, read=None):
  """One dict per row: name, label, group, network, epochs, seeds, cells.

  ``cells``: {column: dict(value (mean over the seeds that measured it, or
  None), n, seeds (those seeds), missing ({seed: why not measured}))}.
  ``catastrophic``: the seeds whose PGD cell is marked † (catastrophic
  overfitting).
  ``read``: ``_read_all(results_root)`` when the caller has it already.
  """
  runs, transfers = read or _read_all(results_root)
  cols = columns()
  settings = {c.kwargs["setting"] for _, _, c in cols if "setting" in c.kwargs}
  rows = []
  for group, run, recs, run_dir in runs:
    per_seed, configs, marks, sources = {}, [], {}, []
    shared = _shared(group, transfers.get(group.name))
    for rec in recs:
      reading = _reading(rec, os.path.join(run_dir, f"seed{rec['seed']}"),
                         run, shared)
      cells = _seed_cells(reading, cols)
      per_seed[rec["seed"]] = cells
      configs.append(reading.config)
      for key, (_, _, mark, _) in cells.items():
        for symbol in mark:
          marks.setdefault(key, {}).setdefault(symbol, []).append(rec["seed"])
      src = _sources(reading, settings)
      if src:
        sources.append(len(src))
    cells = {}
    for key, _, _ in cols:
      got = {s: c[key][0] for s, c in per_seed.items()
             if c[key][0] is not None}
      cells[key] = dict(
          value=_mean(list(got.values())), n=len(got), seeds=sorted(got),
          missing={s: c[key][1] for s, c in per_seed.items()
                   if c[key][0] is None})
      counts = [c[key][3] for c in per_seed.values() if c[key][3]]
      if counts and len(counts) == len(got):
        k, n = sum(k for k, _ in counts), sum(n for _, n in counts)
        lo, hi = intervals.wilson(k, n)
        cells[key].update(images=n, interval=[100 * lo, 100 * hi])
    rows.append(dict(
        name=run, label=_label(group, run), group=group.name,
        network=_one([_network(c) for c in configs]),
        epochs=_one([c.get("train", {}).get("epochs") for c in configs]),
        seeds=len(recs), seed_list=sorted(per_seed), cells=cells,
        catastrophic=sorted({s for v in marks.values()
                             for s in v.get("†", ())}),
        transfer_sources=sorted(set(sources)), _marks=marks))
  return rows


def fmt_cell(cell, seeds):
  """The mean over seeds, its 95 % interval where the cell is a proportion
  on a subset (the seeds' images pooled), and the count of seeds where it is
  fewer than the row's."""
  if not cell["n"]:
    return "—"
  text = f"{cell['value']:.1f}"
  if cell.get("interval"):
    lo, hi = cell["interval"]
    text += f" [{lo:.1f}, {hi:.1f}]"
  return text + (f" (n={cell['n']})" if cell["n"] < seeds else "")


def _training(row):
  epochs = row["epochs"]
  epochs = (f"{epochs:g} ep" if isinstance(epochs, (int, float))
            else f"{epochs} ep" if epochs is not None else "? ep")
  return f"{row['network'] or '?'}, {epochs}"


def _names(rows, of):
  """The rows' labels; a whole group of several rows as "every <group> row"."""
  out = []
  for group, _ in groups():
    mine = [r for r in rows if r["group"] == group.name]
    every = [r for r in of if r["group"] == group.name]
    if len(mine) > 1 and len(mine) == len(every):
      out.append(f"every {group.label} row")
    else:
      out += [r["label"] for r in mine]
  return ", ".join(out)


def _not_measured(rows):
  """Sentences: per column, the rows without it and the reason read off the
  files; the rows measured on only some seeds and why not on the others."""
  out = []
  for key, header, _ in columns():
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


def _readings(read):
  """Every seed's ``Reading``, row by row (for the evaluators' clauses)."""
  runs, transfers = read
  out = []
  for group, run, recs, run_dir in runs:
    shared = _shared(group, transfers.get(group.name))
    out += [_reading(rec, os.path.join(run_dir, f"seed{rec['seed']}"), run,
                     shared) for rec in recs]
  return out


def _what(read, rows):
  """The clauses saying what the columns measure: one per evaluator, in the
  order its columns first appear (``Table.describe``)."""
  readings = _readings(read)
  by_evaluator = {}
  for _, _, col in columns():
    by_evaluator.setdefault(col.evaluator, []).append(col.kwargs)

  def names(some):
    keys = {(r.shared["group"], r.run) for r in some}
    return _names([row for row in rows
                   if (row["group"], row["name"]) in keys], rows)
  out = []
  for name, params in by_evaluator.items():
    describe = evaluators.get(name).table.describe
    text = describe(params, readings, names) if describe else ""
    if text:
      out.append(text)
  return out


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


def section(results_root=RESULTS, rel="results/cifar10_cpu"):
  """The markdown section ("" when no run is done)."""
  read = _read_all(results_root)
  rows = matrix(results_root, read)
  if not rows:
    return ""
  cols = columns()
  lines = [
      "## Every model × every attack (CPU scale)", "",
      f"Accuracy (%) of every trained model of this scale under every "
      f"attack, read from the result files under `{rel}/`, each cell the "
      f"mean over the seeds of the row that measured it (with their count "
      f"where that is fewer than the row's seeds; — where no result file "
      f"has it; in brackets, for a cell measured on a subset of the test "
      f"images, the 95 % Wilson interval of the share over the images of "
      f"its seeds pooled: the sampling of test images, apart from the "
      f"spread over seeds, which the sections above show): " +
      "; ".join(_what(read, rows)) + ".", "",
      "| model | training | seeds | " +
      " | ".join(h for _, h, _ in cols) + " |",
      "|---|---|---:|" + "---:|" * len(cols)]
  for row in rows:
    lines.append(
        f"| {row['label']} | {_training(row)} | {row['seeds']} | " +
        " | ".join(fmt_cell(row["cells"][k], row["seeds"]) +
                   (" " + "".join(row["_marks"][k]) if row["_marks"].get(k)
                    else "")
                   for k, _, _ in cols) + " |")
  notes = _not_measured(rows)
  for key, _, col in cols:
    footnote = evaluators.get(col.evaluator).table.footnote
    symbols = sorted({m for r in rows for m in r["_marks"].get(key, {})})
    for symbol in symbols if footnote else ():
      marked = [(r, r["_marks"][key][symbol]) for r in rows
                if symbol in r["_marks"].get(key, {})]
      notes.append(footnote(col.kwargs, "; ".join(
          f"{r['label']} seed{'s' * (len(seeds) > 1)} "
          f"{', '.join(map(str, seeds))}" for r, seeds in marked), symbol))
  paragraph = ((["Not measured, as the result files show:"] if notes else [])
               + notes + [_length(rows)])
  lines += ["", " ".join(p for p in paragraph if p), ""]
  return "\n".join(lines)


def write(results_root=RESULTS):
  """Writes the rows to ``<results_root>/matrix.json``; returns its path."""
  path = os.path.join(results_root, "matrix.json")
  rows = [{k: v for k, v in row.items() if not k.startswith("_")}
          for row in matrix(results_root)]
  with open(path, "w") as f:
    json.dump(dict(columns=[dict(key=k, header=h) for k, h, _ in columns()],
                   rows=rows), f, indent=1, ensure_ascii=False)
  return path


if __name__ == "__main__":
  write()
  print(section())
