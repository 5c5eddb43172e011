"""Evaluation after training: the evaluators of ``config.eval.suites``.

Each evaluator is a module of ``mdr/evaluators/`` (see its registry); this
module builds the ``Context`` they share (the test split on the mesh, the
evaluation batch, the root evaluation key, the other trained models) and
runs them in the order ``config.eval.suites`` lists them. Files go to
``{workdir}/eval/``.

Kept here for callers of earlier versions: ``sweep``, ``make_correct_fn``,
``hidden_pixels``, ``subset`` (``mdr.evaluators.mask_sweep``),
``clean_accuracy`` and ``eval_batch``.
"""

from __future__ import annotations

import os

from absl import logging
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from mdr import evaluators
from mdr import tta as tta_lib
from mdr.evaluators import clean as clean_eval
from mdr.evaluators.mask_sweep import hidden_pixels  # pylint: disable=unused-import
from mdr.evaluators.mask_sweep import make_correct_fn  # pylint: disable=unused-import
from mdr.evaluators.mask_sweep import subset  # pylint: disable=unused-import
from mdr.evaluators.mask_sweep import sweep  # pylint: disable=unused-import
from mdr.batches import eval_batch
from mdr.runtime import rng_streams
from mdr.runtime import to_global


def clean_accuracy(model, variables, images_u8, labels, batch, tta):
  """Top-1 accuracy (percent) on the whole split, with TTA at level ``tta``."""
  return clean_eval.accuracy(
      tta_lib.wrap(lambda y: model.apply(variables, y, train=False), tta),
      images_u8, labels, batch)


def context(config, workdir, model, variables, dataset, mesh,
            others=None) -> evaluators.Context:
  """The ``Context`` the evaluators share (see ``mdr.evaluators.registry``)."""
  ec = config.eval
  replicated = NamedSharding(mesh, P())
  labels = to_global(dataset.test.labels.astype(np.int32), replicated)
  n = int(labels.shape[0])
  title = (f"{config.model.name} — {config.train.mode} training "
           f"(TTA: {tta_lib.NAMES[ec.tta]})")
  return evaluators.Context(
      config=config, workdir=workdir, out=os.path.join(workdir, "eval"),
      model=model, variables=jax.device_put(variables, replicated),
      dataset=dataset, mesh=mesh,
      images=to_global(dataset.test.images, replicated), labels=labels,
      batch=eval_batch(ec.batch_size, n),
      mean=jnp.asarray(dataset.mean, jnp.float32), title=title,
      eval_key=rng_streams(config.seed)["eval"], others=others or {},
      write=jax.process_index() == 0)


def evaluate(config, workdir, model, variables, dataset, mesh,
             others=None) -> str:
  """Runs the evaluators of ``config.eval.suites``, in that order; returns
  the directory of their files (``workdir/eval``).

  ``others``: ``{workdir: (model, variables)}`` of other trained models:
  the patch evaluator's universal patches are also tested on them, and the
  transfer evaluator's sources are among them.
  """
  ctx = context(config, workdir, model, variables, dataset, mesh, others)
  if ctx.write:
    os.makedirs(ctx.out, exist_ok=True)
  for name in config.eval.suites:
    evaluators.get(name).run(ctx)
  logging.info("eval files in %s", ctx.out)
  return ctx.out
