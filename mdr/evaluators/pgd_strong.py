"""``pgd_strong``: the stronger white-box check: PGD with
``eval.strong_restarts`` random restarts of ``eval.strong_steps`` steps at
``eval.strong_eps``/255, an image robust only if no restart fools the model,
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


EVALUATOR = registry.register(registry.Evaluator(
    name="pgd_strong", run=run, check=check, stream=4,
    doc="PGD with restarts at eval.strong_eps (worst case over restarts)",
    fields=("strong_steps", "strong_restarts", "strong_images", "strong_eps",
            "tta"),
    files=("pgd_strong",)))
