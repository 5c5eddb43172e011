"""``transfer``: black-box transfer: adversarial examples crafted on each run
of ``eval.transfer.sources`` tested on the evaluated model and on each
other (``mdr.transfer.suite``; ``transfer.{json,md}``)."""

from __future__ import annotations

import statistics

from mdr import transfer as transfer_lib
from mdr.evaluators import registry


def run(ctx: registry.Context):
  return transfer_lib.suite(ctx.config, ctx.workdir, ctx.model, ctx.variables,
                            ctx.dataset, ctx.others, ctx.out)


def check(config) -> None:
  tr = config.eval.transfer
  if "transfer" in config.eval.suites and (isinstance(tr.sources, str) or
                                           not tr.sources):
    registry.fail("eval.transfer.sources", tr.sources, "a non-empty list of "
                  "trained run workdirs when eval.suites has 'transfer'")
  registry.check_int("eval.transfer.images", tr.images, 0,
                     "an integer >= 0 (0 = all)")
  transfer_lib.check_config(config)


def _cell(reading, params):
  """``params``: setting (of ``mdr.transfer.SETTINGS``). Reads the group's
  transfer matrix (``reading.shared["transfer"]``: its records of the
  setting and its standard sources): the mean accuracy over the standard
  sources other than the target itself."""
  shared = reading.shared.get("transfer")
  if shared is None:
    return None, reading.shared.get("transfer_missing",
                                     "not a target of any transfer matrix"), ""
  target = f"{reading.run}_seed{reading.seed}"
  mine = [r for r in shared["records"]
          if r["target"] == target and r["setting"] == params["setting"]]
  values = [r["accuracy"] for r in mine
            if r["source"] in shared["standard"] and r["source"] != target]
  if values:
    return statistics.fmean(values), None, ""
  return None, ("not a target of the transfer matrix" if not mine else
                "no standard-network source in the transfer matrix but "
                "itself"), ""


def _sources(reading, setting):
  shared = reading.shared.get("transfer")
  target = f"{reading.run}_seed{reading.seed}"
  return {r["source"] for r in (shared or {}).get("records", [])
          if r["target"] == target and r["setting"] == setting
          and r["source"] in shared["standard"] and r["source"] != target}


def _describe(params_list, readings, names):
  """The transfer column's clause: the setting, the images and the
  standard sources of each group's matrix, and how many sources a row's
  cells average over where rows differ."""
  setting = params_list[0]["setting"]
  groups = {}
  for reading in readings:
    t = reading.shared.get("transfer")
    if t is not None and t["standard"]:
      groups.setdefault(reading.shared["group"],
                        (reading.shared["group_label"], t))
  if not groups:
    return ""
  shown = lambda t: t["settings"].get(setting, {}).get("display", setting)
  how = {(shown(t), t["images"]) for _, t in groups.values()}
  crafted = "; ".join(
      (f"{shown(t)} examples of {t['images']:,} test images "
       if len(how) > 1 else "") +
      (f"for the {label} rows " if len(groups) > 1 else "") +
      ", ".join(t["standard"]) for label, t in groups.values())
  display, images = next(iter(how))
  rows = {}
  for reading in readings:
    n = len(_sources(reading, setting))
    if n:
      rows.setdefault((reading.shared["group"], reading.run), set()).add(n)
  counts = {}
  for reading in readings:
    row = (reading.shared["group"], reading.run)
    if row in rows:
      counts.setdefault(" or ".join(map(str, sorted(rows[row]))),
                        {}).setdefault(row, reading)
  per_row = ("" if len(counts) < 2 else " (" + "; ".join(
      f"{n} source{'s' * (n != '1')} for {names(list(r.values()))}"
      for n, r in sorted(counts.items())) + ")")
  return (f"transfer: the accuracy on " +
          (f"{display} examples of {images:,} test images " if len(how) == 1
           else "the examples ") +
          f"crafted on the standard network of the row's recipe, trained "
          f"without masks ({crafted}; never on the target itself, averaged "
          f"over those sources per target seed), counting the images that "
          f"fooled the source and that the target classifies correctly when "
          f"clean" + per_row)


def _header(params):
  setting = transfer_lib.SETTINGS[params["setting"]]
  from mdr import attacks  # pylint: disable=g-import-not-at-top
  return (f"transfer {attacks.get(setting.attack).symbol} "
          f"{setting.eps:g}/255")


EVALUATOR = registry.register(registry.Evaluator(
    name="transfer", run=run, check=check,
    doc="black-box transfer from the runs of eval.transfer.sources",
    fields=("transfer.sources", "transfer.images", "transfer.settings"),
    files=("transfer",),
    table=registry.Table(key=lambda p: f"transfer_{p['setting']}",
                         header=_header, cell=_cell, describe=_describe)))
