"""``sparse_pixels``: the seed's sparse-pixel curve: ``eval.sparse_attack``
(an occlusion attack, γ by default) over ``eval.sparse_ratios`` with
``eval.sparse_draws`` draws, once per fill like ``mask_sweep``. Writes
``sparse_pixels.{json,md,png}`` (``sparse_pixels_<fill>.*`` for the extra
fills), records as ``mask_sweep``'s."""

from __future__ import annotations

from mdr import attacks
from mdr import report
from mdr.evaluators import mask_sweep
from mdr.evaluators import registry


def run(ctx: registry.Context) -> dict:
  ec = ctx.config.eval
  out = {}
  for fill, suffix in mask_sweep.fills(ec):
    records = mask_sweep.attack_records(ctx, ec.sparse_attack,
                                        list(ec.sparse_ratios),
                                        ec.sparse_draws, fill)
    out[fill] = records
    if ctx.write:
      report.write_sparse(ctx.out, records, title=f"{ctx.title}, {fill} fill",
                          num_classes=ctx.dataset.num_classes,
                          stem="sparse_pixels" + suffix)
  return out


def check(config) -> None:
  ec = config.eval
  if ec.sparse_attack not in attacks.names("occlusion"):
    registry.fail("eval.sparse_attack", ec.sparse_attack,
                  f"one of the occlusion attacks {attacks.names('occlusion')}")
  registry.check_ratios("eval.sparse_ratios", ec.sparse_ratios)
  registry.check_int("eval.sparse_draws", ec.sparse_draws, 1,
                     "a positive integer")


def _cell(reading, params):
  """``params``: attack (the curve's), ratio (hidden share), fill."""
  ratio = params["ratio"]
  fill = params.get("fill", "zero")
  default_fill = reading.config.get("eval", {}).get("fill", fill)
  curve = reading.file("sparse_pixels")
  if curve is None:
    return None, "no sparse_pixels.json", ""
  value = [r["accuracy"] for r in curve
           if r.get("fill", default_fill) == fill
           and round(float(r["ratio"]), 6) == round(float(ratio), 6)]
  if value:
    return value[0], None, ""
  return None, f"sparse_pixels.json has no point at {ratio * 100:g} % hidden", ""


def _describe(params_list, readings, names):
  del readings, names
  return "; ".join(
      f"{attacks.get(p['attack']).symbol} with "
      f"{(1 - p['ratio']) * 100:.0f} % of the pixels visible"
      for p in params_list)


EVALUATOR = registry.register(registry.Evaluator(
    name="sparse_pixels", run=run, check=check, stream=registry.ROOT,
    doc="the sparse-pixel curve: eval.sparse_attack over eval.sparse_ratios",
    fields=("sparse_attack", "sparse_ratios", "sparse_draws", "fill",
            "extra_fills", "tta"),
    files=("sparse_pixels",),
    table=registry.Table(
        key=lambda p: f"sparse@{p['ratio']:g}",
        header=lambda p: (f"{attacks.get(p['attack']).symbol} "
                          f"{(1 - p['ratio']) * 100:.0f} % visible"),
        cell=_cell, describe=_describe)))
