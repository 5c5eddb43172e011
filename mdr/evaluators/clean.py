"""``clean``: top-1 accuracy on the whole test split (with ``eval.tta``, and
without it too when TTA is on). Writes ``clean.json``: ``{"accuracy", "tta",
"tta_views", "n", "accuracy_no_tta" (with TTA), "seconds"}``."""

from __future__ import annotations

import functools
import os
import time

from absl import logging
import jax
import jax.numpy as jnp

from mdr import report
from mdr import tta as tta_lib
from mdr import batches
from mdr.evaluators import registry


def accuracy(logits_fn, images_u8, labels, batch) -> float:
  """Top-1 accuracy (percent) of ``logits_fn`` over a whole split."""
  n = int(labels.shape[0])

  @functools.partial(jax.jit, static_argnames=("size",))
  def correct(images_u8, labels, start, size):
    x, y, _, valid = batches.padded_batch(images_u8, labels, start, size, n)
    return jnp.sum((jnp.argmax(logits_fn(x), -1) == y) & valid)

  return float(batches.count_over_batches(correct, n, batch, images_u8,
                                           labels)) / n * 100.0


def compute(ctx: registry.Context) -> dict:
  t = time.perf_counter()
  tta = ctx.config.eval.tta
  result = dict(accuracy=accuracy(ctx.logits_fn(tta), ctx.images, ctx.labels,
                                  ctx.batch),
                tta=tta, tta_views=tta_lib.NAMES[tta], n=ctx.n)
  if tta:
    result["accuracy_no_tta"] = accuracy(ctx.logits_fn(0), ctx.images,
                                         ctx.labels, ctx.batch)
  result["seconds"] = time.perf_counter() - t
  return result


def run(ctx: registry.Context) -> dict:
  result = compute(ctx)
  logging.info("eval clean: %s", result)
  if ctx.write:
    report.write_json(os.path.join(ctx.out, "clean.json"), result)
  return result


def _cell(reading, params):
  del params
  clean = reading.file("clean")
  if clean is None:
    return None, "no clean.json", ""
  return clean["accuracy"], None, ""


EVALUATOR = registry.register(registry.Evaluator(
    name="clean", run=run, doc="top-1 accuracy on the whole test split",
    fields=("tta",), files=("clean",),
    table=registry.Table(key=lambda p: "clean", header=lambda p: "clean",
                         cell=_cell)))
