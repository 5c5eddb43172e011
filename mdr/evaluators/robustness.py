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


EVALUATOR = registry.register(registry.Evaluator(
    name="robustness", run=run, check=check, stream=2,
    doc="FGSM/PGD of eval.attacks over eval.pgd_eps, with sanity checks",
    fields=("attacks", "pgd_eps", "pgd_steps", "robust_images", "draws",
            "tta"),
    files=("robustness",)))
