"""Evaluation: the mask-attack sweep and the sparse-pixel curve.

For each attack and ratio: top-1 accuracy on the whole test split. alpha and
alpha_pixels use the evaluated model's own saliency for the true label;
random attacks (beta, gamma) are drawn ``config.eval.draws`` times and report
mean and sample standard deviation (ddof=1) over draws. Each example's mask key is derived from (seed, draw,
example index), so results do not depend on the batch size or device count.

Writes ``{workdir}/eval/``: ``mask_sweep.{json,md,png}`` and
``sparse_pixels.{json,md,png}`` (and ``mask_sweep_<fill>.*``,
``sparse_pixels_<fill>.*`` for each of ``eval.extra_fills``). JSON records are
``{"attack", "fill", "ratio", "hidden_pixels", "accuracy", "std", "n"}`` with
accuracy and std in percent, ratio a fraction, n the number of test images.
"""

from __future__ import annotations

import functools
import os
import time

from absl import logging
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from mdr import attacks
from mdr import data as data_lib
from mdr import masks
from mdr import report
from mdr import saliency as saliency_lib
from mdr import tta as tta_lib
from mdr.runtime import rng_streams
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
  # Counts add up on the device (exact integers): one transfer at the end, so
  # the host queues every batch without waiting for the previous one.
  total = jnp.zeros((draws, len(ratios)), jnp.int32)
  for start in range(0, n, batch):
    total = total + fn(variables, images_u8, labels, jnp.int32(start), key,
                       r, d, batch=batch)
  return np.asarray(jax.device_get(total), np.int64) / n * 100.0


def eval_batch(batch_size: int, n: int) -> int:
  """The eval batch: at most ``batch_size`` and ``n`` (rounded up), and a
  multiple of the device count (the last batch is padded and masked)."""
  d = jax.device_count()
  return -(-min(batch_size, n) // d) * d


def subset(dataset, max_images: int, sharding):
  """(images, labels) of the first ``max_images`` of a fixed permutation of
  the test split (``mdr.data.subsample``), or None for the whole split."""
  n = len(dataset.test.labels)
  if not max_images or max_images >= n:
    return None
  idx = data_lib.subsample(n, max_images)
  return (to_global(dataset.test.images[idx], sharding),
          to_global(dataset.test.labels[idx].astype(np.int32), sharding))


def clean_accuracy(model, variables, images_u8, labels, batch, tta):
  """Top-1 accuracy (percent) on the whole split, with TTA at level ``tta``."""
  n = labels.shape[0]
  logits_fn = lambda x: tta_lib.wrap(
      lambda y: model.apply(variables, y, train=False), tta)(x)

  @functools.partial(jax.jit, static_argnames=("size",))
  def correct(images_u8, labels, start, size):
    idx = jnp.minimum(start + jnp.arange(size), n - 1)
    valid = start + jnp.arange(size) < n
    x = images_u8[idx].astype(jnp.float32) / 255.0
    return jnp.sum((jnp.argmax(logits_fn(x), -1) == labels[idx]) & valid)

  total = jnp.int32(0)   # on the device: no host sync per batch
  for s in range(0, n, batch):
    total = total + correct(images_u8, labels, jnp.int32(s), size=batch)
  return int(total) / n * 100.0


def evaluate(config, workdir, model, variables, dataset, mesh,
             others=None) -> str:
  """Runs the suites of ``config.eval.suites``; writes ``workdir/eval``.

  ``others``: ``{workdir: (model, variables)}`` of other trained models:
  the patch suite's universal patches are also tested on them, and the
  transfer suite's sources are among them.
  """
  ec = config.eval
  replicated = NamedSharding(mesh, P())
  batch_sharding = NamedSharding(mesh, P("data"))
  images = to_global(dataset.test.images, replicated)
  labels = to_global(dataset.test.labels.astype(np.int32), replicated)
  variables = jax.device_put(variables, replicated)
  n = int(labels.shape[0])
  h, w = dataset.image_shape[:2]
  mean = jnp.asarray(dataset.mean, jnp.float32)
  eval_key = rng_streams(config.seed)["eval"]
  batch = eval_batch(ec.batch_size, n)
  suites = tuple(ec.suites)
  tta_note = f"TTA: {tta_lib.NAMES[ec.tta]}"
  title = f"{config.model.name} — {config.train.mode} training ({tta_note})"

  costly = subset(dataset, ec.costly_images, replicated)

  def run(attack, ratios, draws, fill):
    t = time.perf_counter()
    spec = attacks.get(attack)
    imgs, labs = costly if spec.costly and costly else (images, labels)
    if spec.costly and ec.costly_ratios:
      ratios = list(ec.costly_ratios)
    n_used = int(labs.shape[0])
    acc = sweep(model, variables, imgs, labs, attack, ratios,
                draws if spec.random else 1,
                jax.random.fold_in(eval_key, attacks.salt(attack)),
                fill, mean, min(batch, n_used), batch_sharding, ec.tta)
    logging.info("eval %s (%s fill) over %d ratios x %d draws on %d images: "
                 "%.1f s", attack, fill, len(ratios), acc.shape[0], n_used,
                 time.perf_counter() - t)
    return [dict(attack=attack, fill=fill, ratio=float(r),
                 hidden_pixels=hidden_pixels(attack, r, h, w),
                 accuracy=float(acc[:, i].mean()),
                 std=float(acc[:, i].std(ddof=1)) if len(acc) > 1 else 0.0,
                 n=n_used)
            for i, r in enumerate(ratios)]

  out = os.path.join(workdir, "eval")
  write = jax.process_index() == 0
  if write:
    os.makedirs(out, exist_ok=True)
  if "clean" in suites:
    t = time.perf_counter()
    clean = dict(accuracy=clean_accuracy(model, variables, images, labels,
                                         batch, ec.tta),
                 tta=ec.tta, tta_views=tta_lib.NAMES[ec.tta], n=n)
    if ec.tta:
      clean["accuracy_no_tta"] = clean_accuracy(model, variables, images,
                                                labels, batch, 0)
    clean["seconds"] = time.perf_counter() - t
    logging.info("eval clean: %s", clean)
    if write:
      report.write_json(os.path.join(out, "clean.json"), clean)
  # The mask suites run once per fill: eval.fill writes mask_sweep.* and
  # sparse_pixels.*, each of eval.extra_fills the same with a _<fill> suffix.
  for fill in (ec.fill, *ec.extra_fills):
    suffix = "" if fill == ec.fill else f"_{fill}"
    fill_title = f"{title}, {fill} fill"
    if "mask_sweep" in suites:
      records = []
      for attack in ec.attacks:
        if attacks.get(attack).family == "occlusion":
          records += run(attack, list(ec.ratios), ec.draws, fill)
      if write:
        report.write_sweep(out, records, title=fill_title,
                           stem="mask_sweep" + suffix)
        for line in report.sweep_markdown(records).splitlines():
          logging.info("%s", line)
    if "sparse_pixels" in suites:
      sparse = run(ec.sparse_attack, list(ec.sparse_ratios), ec.sparse_draws,
                   fill)
      if write:
        report.write_sparse(out, sparse, title=fill_title,
                            num_classes=dataset.num_classes,
                            stem="sparse_pixels" + suffix)
  tta_wrap = lambda f: tta_lib.wrap(f, ec.tta)
  if "robustness" in suites and any(
      attacks.get(a).family == "gradient" for a in ec.attacks):
    from mdr import robustness  # pylint: disable=g-import-not-at-top
    imgs, labs = subset(dataset, ec.robust_images, replicated) or (images,
                                                                   labels)
    result = robustness.evaluate(config, model, variables, imgs, labs,
                                 jax.random.fold_in(eval_key, 2), min(
                                     batch, eval_batch(batch, labs.shape[0])),
                                 tta_wrap)
    result["tta"] = ec.tta
    if write:
      robustness.write(out, result, title)
  if "pgd_strong" in suites:
    from mdr import robustness  # pylint: disable=g-import-not-at-top
    imgs, labs = subset(dataset, ec.strong_images, replicated) or (images,
                                                                   labels)
    result = robustness.strong(config, model, variables, imgs, labs,
                               jax.random.fold_in(eval_key, 4), min(
                                   batch, eval_batch(batch, labs.shape[0])),
                               tta_wrap)
    result["tta"] = ec.tta
    if write:
      robustness.write_strong(out, result, title)
  if "patch" in suites and any(
      attacks.get(a).family == "patch" for a in ec.attacks):
    from mdr import patch_eval  # pylint: disable=g-import-not-at-top
    t = time.perf_counter()
    idx = data_lib.subsample(n, ec.patch_images)
    logits_fn = tta_wrap(functools.partial(_inference, model, variables))
    transfer = {name: tta_wrap(functools.partial(_inference, m, v))
                for name, (m, v) in (others or {}).items()
                if name in ec.patch_transfer_workdirs}
    result, examples = patch_eval.evaluate(
        config, logits_fn, dataset.test.images[idx], dataset.test.labels[idx],
        dataset.train.images, dataset.num_classes,
        jax.random.fold_in(eval_key, 3), transfer)
    result["tta"] = ec.tta
    logging.info("patch suite: %.1f s", time.perf_counter() - t)
    if write:
      patch_eval.write(out, result, examples, title, dataset.class_names)
  if "transfer" in suites:
    from mdr import transfer  # pylint: disable=g-import-not-at-top
    transfer.suite(config, workdir, model, variables, dataset, others or {},
                   out)
  logging.info("eval files in %s", out)
  return out


def _inference(model, variables, x):
  return model.apply(variables, x, train=False)
