"""``mask_sweep``: every occlusion attack of ``eval.attacks`` over
``eval.ratios``, top-1 accuracy on the whole test split (``costly`` attacks
on ``eval.costly_images`` at ``eval.costly_ratios``), once per fill
(``eval.fill``, then each of ``eval.extra_fills``).

alpha and alpha_pixels use the evaluated model's own saliency for the true
label; random attacks (beta, gamma) are drawn ``eval.draws`` times and report
mean and sample standard deviation (ddof=1) over draws. Each example's mask
key is derived from (attack, draw, example index), so results do not depend
on the batch size or device count.

Writes ``mask_sweep.{json,md,png}`` (and ``mask_sweep_<fill>.*`` for each of
``eval.extra_fills``). JSON records are ``{"attack", "fill", "ratio",
"hidden_pixels", "accuracy", "std", "n"}`` with accuracy and std in percent,
ratio a fraction, n the number of test images.
"""

from __future__ import annotations

import functools
import time

from absl import logging
import jax
import jax.numpy as jnp

from mdr import attacks
from mdr import data as data_lib
from mdr import masks
from mdr import report
from mdr import saliency as saliency_lib
from mdr import tta as tta_lib
from mdr import batches
from mdr.evaluators import registry
from mdr.runtime import to_global


def hidden_pixels(attack: str, ratio: float, height: int, width: int) -> int:
  """Pixels an attack touches at ``ratio`` (from its registry entry)."""
  return int(attacks.get(attack).pixels(ratio, height, width))


def make_correct_fn(model, attack: str, fill: str, mean, batch_sharding,
                    tta: int = 0):
  """jitted (variables, images_u8, labels, start, key, ratios[R], draws[D])
  -> correct counts [D, R] for one batch starting at ``start``."""
  spec = attacks.get(attack)

  @functools.partial(jax.jit, static_argnames=("batch",))
  def correct(variables, images_u8, labels_all, start, key, ratios, draws,
              batch):
    n = labels_all.shape[0]
    idx = start + jnp.arange(batch)
    valid = idx < n
    idx = jnp.minimum(idx, n - 1)   # the last batch is padded, then masked
    images = images_u8[idx].astype(jnp.float32) / 255.0
    labels = labels_all[idx]
    images = jax.lax.with_sharding_constraint(images, batch_sharding)
    logits_fn = tta_lib.wrap(lambda x: model.apply(variables, x, train=False),
                             tta)
    sal = None
    if spec.needs_saliency:
      sal = saliency_lib.input_gradient(logits_fn, images, labels)

    def one(draw, ratio):
      dkey = jax.random.fold_in(key, draw)
      keys = jax.vmap(lambda i: jax.random.fold_in(dkey, i))(idx)

      def fill_fn(x, m):
        if fill == "noise":  # per-example noise: independent of the batching
          return jax.vmap(lambda img, mm, k: masks.apply(
              img, mm, fill, key=jax.random.fold_in(k, 1)))(x, m, keys)
        return masks.apply(x, m, fill, mean=mean)

      ctx = attacks.MaskContext(logits_fn, images, labels, sal, fill_fn)
      x = fill_fn(images, spec.masks(ctx, keys, ratio))
      pred = jnp.argmax(logits_fn(x), -1)
      return jnp.sum((pred == labels) & valid)

    per_draw = lambda d: jax.lax.map(lambda r: one(d, r), ratios)
    return jax.lax.map(per_draw, draws)

  return correct


def sweep(model, variables, images_u8, labels, attack, ratios, draws, key,
          fill, mean, batch, batch_sharding, tta=0):
  """Accuracy (percent) per draw and ratio: ``[draws, len(ratios)]``."""
  fn = make_correct_fn(model, attack, fill, mean, batch_sharding, tta)
  n = labels.shape[0]
  r = jnp.asarray(ratios, jnp.float32)
  d = jnp.arange(draws)
  counts = batches.count_over_batches(
      lambda start, size: fn(variables, images_u8, labels, start, key, r, d,
                             batch=size), n, batch)
  return counts / n * 100.0


def subset(dataset, max_images: int, sharding):
  """(images, labels) of the first ``max_images`` of a fixed permutation of
  the test split (``mdr.data.subsample``), or None for the whole split."""
  n = len(dataset.test.labels)
  if not max_images or max_images >= n:
    return None
  idx = data_lib.subsample(n, max_images)
  return (to_global(dataset.test.images[idx], sharding),
          to_global(dataset.test.labels[idx].astype("int32"), sharding))


def attack_records(ctx: registry.Context, attack, ratios, draws, fill):
  """The records of one attack over ``ratios`` under ``fill``."""
  from jax.sharding import NamedSharding  # pylint: disable=g-import-not-at-top
  from jax.sharding import PartitionSpec as P  # pylint: disable=g-import-not-at-top
  ec = ctx.config.eval
  t = time.perf_counter()
  spec = attacks.get(attack)
  costly = (subset(ctx.dataset, ec.costly_images, NamedSharding(ctx.mesh, P()))
            if spec.costly else None)
  imgs, labs = costly or (ctx.images, ctx.labels)
  if spec.costly and ec.costly_ratios:
    ratios = list(ec.costly_ratios)
  n_used = int(labs.shape[0])
  h, w = ctx.dataset.image_shape[:2]
  acc = sweep(ctx.model, ctx.variables, imgs, labs, attack, ratios,
              draws if spec.random else 1,
              jax.random.fold_in(ctx.eval_key, attacks.salt(attack)),
              fill, ctx.mean, min(ctx.batch, n_used),
              NamedSharding(ctx.mesh, P("data")), ec.tta)
  logging.info("eval %s (%s fill) over %d ratios x %d draws on %d images: "
               "%.1f s", attack, fill, len(ratios), acc.shape[0], n_used,
               time.perf_counter() - t)
  return [dict(attack=attack, fill=fill, ratio=float(r),
               hidden_pixels=hidden_pixels(attack, r, h, w),
               accuracy=float(acc[:, i].mean()),
               std=float(acc[:, i].std(ddof=1)) if len(acc) > 1 else 0.0,
               n=n_used)
          for i, r in enumerate(ratios)]


def fills(ec):
  """``(fill, file suffix)``: ``eval.fill`` unsuffixed, then the extras."""
  return [(f, "" if f == ec.fill else f"_{f}")
          for f in (ec.fill, *ec.extra_fills)]


def run(ctx: registry.Context) -> dict:
  ec = ctx.config.eval
  out = {}
  for fill, suffix in fills(ec):
    records = []
    for attack in ec.attacks:
      if attacks.get(attack).family == "occlusion":
        records += attack_records(ctx, attack, list(ec.ratios), ec.draws, fill)
    out[fill] = records
    if ctx.write:
      report.write_sweep(ctx.out, records, title=f"{ctx.title}, {fill} fill",
                         stem="mask_sweep" + suffix)
      for line in report.sweep_markdown(records).splitlines():
        logging.info("%s", line)
  return out


def check(config) -> None:
  ec = config.eval
  registry.check_ratios("eval.ratios", ec.ratios)
  registry.check_ratios("eval.costly_ratios", ec.costly_ratios, empty_ok=True)
  registry.check_int("eval.costly_images", ec.costly_images, 0,
                     "an integer >= 0 (0 = all)")
  if ec.fill not in masks.FILLS:
    registry.fail("eval.fill", ec.fill, f"one of {masks.FILLS}")
  extra = tuple(ec.extra_fills)
  if (any(f not in masks.FILLS for f in extra) or ec.fill in extra
      or len(set(extra)) < len(extra)):
    registry.fail("eval.extra_fills", extra, f"distinct fills from "
                  f"{masks.FILLS} other than eval.fill ({ec.fill!r})")
  registry.check_int("eval.draws", ec.draws, 1, "a positive integer")


def _fill_of(reading, params):
  """(the column's fill, the run's default fill for records without one)."""
  fill = params.get("fill", "zero")
  return fill, reading.config.get("eval", {}).get("fill", fill)


def _cell(reading, params):
  """``params``: attack, ratio (hidden share), fill (default "zero")."""
  attack, ratio = params["attack"], params["ratio"]
  fill, default_fill = _fill_of(reading, params)
  sweep = reading.file("mask_sweep")
  if sweep is None:
    return None, "no mask_sweep.json", ""
  same = [r for r in sweep if r.get("fill", default_fill) == fill]
  for r in same:
    if r["attack"] == attack and abs(r["ratio"] - ratio) < 1e-9:
      return r["accuracy"], None, ""
  if not any(r["attack"] == attack for r in sweep):
    return None, f"no {attack} in mask_sweep.json", ""
  if not any(r["attack"] == attack for r in same):
    return None, f"mask_sweep.json has {attack} under another fill only", ""
  return None, f"mask_sweep.json has no {attack} at {ratio * 100:g} % hidden", ""


def _count(reading, params):
  fill, default_fill = _fill_of(reading, params)
  for r in reading.file("mask_sweep") or []:
    if (r["attack"] == params["attack"] and r.get("fill", default_fill) == fill
        and abs(r["ratio"] - params["ratio"]) < 1e-9):
      return registry.subset_count(reading, r.get("n"), r["accuracy"])
  return None


def _costly_name(entry):
  """"α* (the worst-case square)" from the display "α* (worst-case square)"."""
  inner = entry.display.partition("(")[2].rstrip(")")
  return f"{entry.symbol} (the {inner})" if inner else entry.symbol


def _describe(params_list, readings, names):
  """The mask columns' clause: ratio, fill and the test images measured
  (a costly attack's subset apart)."""
  del names
  ratios = sorted({p["ratio"] for p in params_list})
  fills = sorted({p.get("fill", "zero") for p in params_list})
  sizes, costly = set(), {}
  for reading in readings:
    for r in reading.file("mask_sweep") or []:
      if not r.get("n"):
        continue
      if r["attack"] in attacks.REGISTRY and attacks.get(r["attack"]).costly:
        costly.setdefault(r["attack"], set()).add(r["n"])
      else:
        sizes.add(r["n"])
  join = lambda s: "/".join(f"{x:,}" for x in sorted(s))
  text = (f"mask attacks at {'/'.join(f'{r * 100:g}' for r in ratios)} % "
          f"hidden with {'/'.join(fills)} fill")
  if sizes:
    text += f" on {join(sizes)} test images"
  for name in sorted(costly):
    text += f", {_costly_name(attacks.get(name))} on {join(costly[name])} of them"
  return text


EVALUATOR = registry.register(registry.Evaluator(
    name="mask_sweep", run=run, check=check, stream=registry.ROOT,
    doc="occlusion attacks of eval.attacks over eval.ratios, per fill",
    fields=("attacks", "ratios", "draws", "costly_images", "costly_ratios",
            "fill", "extra_fills", "tta"),
    files=("mask_sweep",),
    table=registry.Table(
        key=lambda p: f"{p['attack']}@{p['ratio']:g}",
        header=lambda p: (f"{attacks.get(p['attack']).symbol} "
                          f"{p['ratio'] * 100:g} %"),
        cell=_cell, describe=_describe, count=_count)))
