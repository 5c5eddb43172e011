"""Readable results: markdown tables and PNG plots of the eval records.

``mask_sweep.md`` follows the seed paper's layout: a row per mask ratio, a
column per attack, accuracy in percent (± std over random draws).
"""

from __future__ import annotations

import json
import os
from typing import Sequence

from matplotlib.figure import Figure

from mdr import attacks


def _name(a):
  return attacks.get(a).display if a in attacks.REGISTRY else a


def _color(a):
  return attacks.get(a).color if a in attacks.REGISTRY else None


def _pct(r: float) -> str:
  v = r * 100
  return f"{v:.0f} %" if abs(v - round(v)) < 1e-9 else f"{v:g} %"


def _cell(rec) -> str:
  deterministic = (rec["attack"] in attacks.REGISTRY and
                   not attacks.get(rec["attack"]).random)
  return (f"{rec['accuracy']:.2f}" if rec["std"] == 0 and deterministic else
          f"{rec['accuracy']:.2f} ± {rec['std']:.2f}")


def _attacks(records) -> list[str]:
  """The attacks in ``records``, in registry order (unknown ones last)."""
  seen = {r["attack"] for r in records}
  order = attacks.names()
  return [a for a in order if a in seen] + sorted(seen - set(order))


def sweep_markdown(records: Sequence[dict]) -> str:
  names = _attacks(records)
  ratios = sorted({r["ratio"] for r in records})
  at = {(r["attack"], r["ratio"]): r for r in records}
  lines = ["| mask ratio | " + " | ".join(_name(a) for a in names)
           + " |", "|---" * (len(names) + 1) + "|"]
  for ratio in ratios:
    cells = [_cell(at[(a, ratio)]) if (a, ratio) in at else "" for a in names]
    lines.append(f"| {_pct(ratio)} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def sparse_markdown(records: Sequence[dict]) -> str:
  name = _name(records[0]["attack"]) if records else "accuracy"
  lines = [f"| hidden pixels | visible pixels | {name} |", "|---|---|---|"]
  for r in sorted(records, key=lambda r: r["ratio"]):
    lines.append(f"| {_pct(r['ratio'])} ({r['hidden_pixels']}) | "
                 f"{_pct(1 - r['ratio'])} | {_cell(r)} |")
  return "\n".join(lines) + "\n"


def write_json(path, obj):
  """Writes ``obj`` as JSON atomically (a temporary file, then a rename)."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=1)
  os.replace(tmp, path)


def _dump(path, records):
  write_json(path, list(records))


def plot_sweeps(path, series, title, xlabel="hidden pixels (%)", chance=None):
  """``series``: {label: records} -> one line per (label, attack)."""
  fig = Figure(figsize=(6.4, 4.4), dpi=120)
  ax = fig.subplots()
  styles = ["-", "--", ":", "-."]
  for j, (label, records) in enumerate(series.items()):
    for a in _attacks(records):
      rs = sorted((r for r in records if r["attack"] == a),
                  key=lambda r: r["ratio"])
      name = _name(a) + (f" — {label}" if label else "")
      ax.errorbar([r["ratio"] * 100 for r in rs], [r["accuracy"] for r in rs],
                  yerr=[r["std"] for r in rs], marker="o", ms=3, capsize=2,
                  color=_color(a), ls=styles[j % len(styles)], label=name)
  if chance is not None:
    ax.axhline(chance, color="gray", lw=1, ls=":", label=f"chance ({chance:.0f} %)")
  ax.set_xlabel(xlabel)
  ax.set_ylabel("top-1 accuracy (%)")
  ax.set_ylim(0, 100)
  ax.grid(alpha=0.3)
  ax.set_title(title)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path)


def write_sweep(out, records, title, stem="mask_sweep"):
  """Writes ``out/<stem>.{json,md,png}`` of one mask sweep."""
  _dump(os.path.join(out, f"{stem}.json"), records)
  with open(os.path.join(out, f"{stem}.md"), "w") as f:
    n_all = max(r["n"] for r in records)
    subsets = {a: n for a, n in {r["attack"]: r["n"] for r in records}.items()
               if n < n_all}
    note = "".join(f" {_name(a)} ran on a fixed subset of {n} of them (one "
                   f"forward pass per square position)." if
                   attacks.REGISTRY.get(a) and attacks.get(a).costly else
                   f" {_name(a)} ran on {n} of them."
                   for a, n in subsets.items())
    f.write(f"# Mask-attack sweep: {title}\n\nTop-1 accuracy (%) on the test "
            f"split ({n_all} images);{note} random attacks: mean ± std "
            f"over draws.\n\n" + sweep_markdown(records))
  plot_sweeps(os.path.join(out, f"{stem}.png"), {"": records},
              f"Mask attacks: {title}")


def write_sparse(out, records, title, num_classes, stem="sparse_pixels"):
  """Writes ``out/<stem>.{json,md,png}`` of one sparse-pixel curve."""
  _dump(os.path.join(out, f"{stem}.json"), records)
  with open(os.path.join(out, f"{stem}.md"), "w") as f:
    f.write(f"# Sparse pixels ({_name(records[0]['attack'])}, up to "
            f"{_pct(max(r['ratio'] for r in records))} hidden): {title}\n\nTop-1 "
            f"accuracy (%) on {records[0]['n']} test images, mean ± std over "
            f"draws; chance is {100 / num_classes:.1f} %.\n\n"
            + sparse_markdown(records))
  plot_sweeps(os.path.join(out, f"{stem}.png"), {"": records},
              f"Classifying from few pixels: {title}",
              chance=100 / num_classes)
