"""``pgd_strong``: the stronger white-box check: PGD with
``eval.strong_restarts`` random restarts of ``eval.strong_steps`` steps at
``eval.strong_eps``/255 with each loss of ``eval.strong_losses``, an image
robust only if no loss × restart fools the model (the worst case per image),
on ``eval.strong_images`` test images. Writes ``pgd_strong.{json,md}``
(``mdr.robustness.strong`` and ``write_strong``)."""

from __future__ import annotations

from mdr import robustness as robustness_lib
from mdr.evaluators import registry
from mdr.evaluators import robustness as robustness_eval


def run(ctx: registry.Context) -> dict:
  return robustness_eval.white_box(
      ctx, EVALUATOR, ctx.config.eval.strong_images, robustness_lib.strong,
      robustness_lib.write_strong)


def check(config) -> None:
  ec = config.eval
  registry.check_int("eval.strong_steps", ec.strong_steps, 1,
                     "a positive integer")
  registry.check_int("eval.strong_restarts", ec.strong_restarts, 1,
                     "a positive integer")
  registry.check_int("eval.strong_images", ec.strong_images, 0,
                     "an integer >= 0 (0 = all)")
  eps = ec.strong_eps
  if isinstance(eps, bool) or not isinstance(eps, (int, float)) or \
      not 0 < eps <= 255:
    registry.fail("eval.strong_eps", eps,
                  "a number in (0, 255] (ε in /255 units)")
  losses = tuple(ec.strong_losses)
  if (not losses or len(set(losses)) < len(losses)
      or any(l not in ("ce", "margin") for l in losses)):
    registry.fail("eval.strong_losses", losses,
                  "distinct losses of ('ce', 'margin'), at least one")


def _file(reading, params):
  strong = reading.file("pgd_strong")
  if strong is None:
    return None, "no pgd_strong.json"
  if abs(strong["eps"] * 255 - params["eps"]) > 1e-6:
    return None, f"pgd_strong.json is at {strong['eps'] * 255:g}/255"
  if len(strong.get("losses", ())) < 2:
    return None, "pgd_strong.json has one loss only"
  return strong, None


def _cell(reading, params):
  """``params``: eps (/255). The worst case per image over the losses ×
  restarts of ``pgd_strong.json``."""
  strong, why = _file(reading, params)
  return (None, why, "") if strong is None else (strong["accuracy"], None, "")


def _count(reading, params):
  strong, _ = _file(reading, params)
  if strong is None:
    return None
  return registry.subset_count(reading, strong["n"], strong["accuracy"])


def _describe(params_list, readings, names):
  del params_list, names
  runs = {(s["steps"], s["restarts"], " and ".join(s["losses"]), s["n"])
          for s in (r.file("pgd_strong") for r in readings)
          if s and len(s.get("losses", ())) >= 2}
  return "; ".join(
      f"PGD worst case: per image the worst over the {losses} losses × "
      f"{restarts} restarts of PGD-{steps}, on {n:,} test images"
      for steps, restarts, losses, n in sorted(runs))


EVALUATOR = registry.register(registry.Evaluator(
    name="pgd_strong", run=run, check=check, stream=4,
    doc="PGD with restarts and losses at eval.strong_eps (the worst case "
        "per image)",
    fields=("strong_steps", "strong_restarts", "strong_images", "strong_eps",
            "strong_losses", "tta"),
    files=("pgd_strong",),
    table=registry.Table(
        key=lambda p: f"pgd_worst@{p['eps']:g}",
        header=lambda p: f"PGD worst case {p['eps']:g}/255",
        cell=_cell, describe=_describe, count=_count)))
