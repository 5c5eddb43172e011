"""``robustness``: the gradient attacks of ``eval.attacks`` (FGSM, PGD) over
``eval.pgd_eps`` on ``eval.robust_images`` test images, with the sanity
checks of ``mdr.robustness`` (margin loss, doubled steps, a large ε). Writes
``robustness.{json,md,png}``; the computation and its files are
``mdr.robustness.evaluate`` and ``mdr.robustness.write``."""

from __future__ import annotations

from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from mdr import attacks
from mdr import robustness as robustness_lib
from mdr import tta as tta_lib
from mdr import batches
from mdr.evaluators import mask_sweep
from mdr.evaluators import registry


def images_for(ctx: registry.Context, max_images: int):
  """``(images, labels, batch)`` of a fixed test subset (0 = all)."""
  imgs, labs = mask_sweep.subset(ctx.dataset, max_images,
                                 NamedSharding(ctx.mesh, P())) or (
                                     ctx.images, ctx.labels)
  return imgs, labs, min(ctx.batch, batches.eval_batch(ctx.batch,
                                                        labs.shape[0]))


def white_box(ctx: registry.Context, entry, max_images, compute, write):
  """``compute(config, model, variables, images, labels, key, batch,
  tta_wrap)`` on ``max_images`` test images with ``entry``'s stream, the
  TTA level recorded, then ``write(out, result, title)`` on process 0."""
  ec = ctx.config.eval
  imgs, labs, batch = images_for(ctx, max_images)
  result = compute(ctx.config, ctx.model, ctx.variables, imgs, labs,
                   ctx.key(entry), batch, lambda f: tta_lib.wrap(f, ec.tta))
  result["tta"] = ec.tta
  if ctx.write:
    write(ctx.out, result, ctx.title)
  return result


def run(ctx: registry.Context):
  ec = ctx.config.eval
  if not any(attacks.get(a).family == "gradient" for a in ec.attacks):
    return None
  return white_box(ctx, EVALUATOR, ec.robust_images, robustness_lib.evaluate,
                   robustness_lib.write)


def check(config) -> None:
  ec = config.eval
  eps = ec.pgd_eps
  if isinstance(eps, (str, int, float)) or not eps or any(
      isinstance(e, bool) or not isinstance(e, (int, float)) or
      not 0 <= e <= 255 for e in eps):
    registry.fail("eval.pgd_eps", eps, "a non-empty list of numbers in "
                  "[0, 255] (ε in /255 units)")
  registry.check_int("eval.pgd_steps", ec.pgd_steps, 1, "a positive integer")
  registry.check_int("eval.robust_images", ec.robust_images, 0,
                     "an integer >= 0 (0 = all)")


def _at(rob, attack, eps, loss):
  for r in (rob or {}).get("records", []):
    if (r["attack"] == attack and r["kind"] == "sweep" and r["loss"] == loss
        and abs(r["eps"] * 255 - eps) < 1e-6):
      return r["accuracy"]
  return None


def _count(reading, params):
  rob = reading.file("robustness") or {}
  for r in rob.get("records", []):
    if (r["attack"] == params["attack"] and r["kind"] == "sweep"
        and r["loss"] == params.get("loss", "ce")
        and abs(r["eps"] * 255 - params["eps"]) < 1e-6):
      return registry.subset_count(reading, r.get("n"), r["accuracy"])
  return None


def overfit(reading, params, value):
  """Catastrophic overfitting (Wong et al. 2020) of the run: trained on
  adversarial examples (its objective's registry metadata), robust to the
  one-step attack ``params["one_step"]`` at the column's ε (more than
  ``overfit_gap`` points above ``value``) and not to this column's attack
  (``value`` below ``overfit_below`` %)."""
  from mdr import objectives  # pylint: disable=g-import-not-at-top
  if "one_step" not in params or value is None:
    return False
  one = _at(reading.file("robustness"), params["one_step"], params["eps"],
            "ce")
  mode = reading.config.get("train", {}).get("mode")
  return (mode in objectives.REGISTRY and objectives.get(mode).adversarial
          and one is not None and value < params["overfit_below"]
          and one - value > params["overfit_gap"])


def _cell(reading, params):
  """``params``: attack, eps (/255), loss ("ce"), steps (for the heading);
  optionally one_step, overfit_below, overfit_gap (the † mark)."""
  rob = reading.file("robustness")
  value = _at(rob, params["attack"], params["eps"], params.get("loss", "ce"))
  if value is None:
    symbol = attacks.get(params["attack"]).symbol
    return None, ("no robustness.json" if rob is None else
                  f"robustness.json has no {symbol} at {params['eps']:g}/255"), ""
  failed = [c for c in robustness_lib.checks(rob["records"], rob.get("n"))
            if not c["passed"]
            and c["attack"].split(" vs ")[0] == params["attack"]]
  return value, None, ("†" if overfit(reading, params, value) else "") + (
      "‡" if failed else "")


def _name(params):
  return f"{attacks.get(params['attack']).symbol}-{params['steps']}"


def _describe(params_list, readings, names):
  del names
  out = []
  for p in params_list:
    sizes = {r["n"] for reading in readings
             for r in (reading.file("robustness") or {}).get("records", [])
             if r["attack"] == p["attack"] and r["kind"] == "sweep"
             and abs(r["eps"] * 255 - p["eps"]) < 1e-6 and r.get("n")}
    if sizes:
      out.append(f"{_name(p)} on {'/'.join(f'{x:,}' for x in sorted(sizes))}"
                 " test images")
  return "; ".join(out)


def _footnote(params, who, mark):
  if mark == "‡":
    return (f"‡ A sanity check of {attacks.get(params['attack']).symbol} "
            f"failed in {who} (the checks of `mdr.robustness`, recomputed "
            f"from the stored records; the section of the row's group names "
            f"it): its {_name(params)} cell is an upper bound on the "
            f"robustness, not a robustness claim.")
  one = attacks.get(params["one_step"]).symbol
  return (f"† Catastrophic overfitting (Wong et al. 2020) in {who}: its "
          f"accuracy under {one} at {params['eps']:g}/255 is more than "
          f"{params['overfit_gap']:g} points above its accuracy under "
          f"{_name(params)}, which is below {params['overfit_below']:g} % (the "
          f"model resists the one-step attack it trained on, not the "
          f"multi-step one).")


EVALUATOR = registry.register(registry.Evaluator(
    name="robustness", run=run, check=check, stream=2,
    doc="FGSM/PGD of eval.attacks over eval.pgd_eps, with sanity checks",
    fields=("attacks", "pgd_eps", "pgd_steps", "robust_images", "draws",
            "tta"),
    files=("robustness",),
    table=registry.Table(
        key=lambda p: f"{p['attack']}@{p['eps']:g}",
        header=lambda p: f"{_name(p)} {p['eps']:g}/255",
        cell=_cell, describe=_describe, footnote=_footnote, count=_count)))
