"""Batched evaluation over a split held on the device: the batch size, the
padded last batch, and exact integer counts summed on the device. Shared by
every evaluator (``mdr.evaluators``) and ``mdr.robustness``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def eval_batch(batch_size: int, n: int) -> int:
  """The eval batch: at most ``batch_size`` and ``n`` (rounded up), and a
  multiple of the device count (the last batch is padded and masked)."""
  d = jax.device_count()
  return -(-min(batch_size, n) // d) * d


def padded_batch(images_u8, labels, start, size, n):
  """Images (floats in [0, 1]), labels, indices and validity of the batch at
  ``start``: the last batch is padded with the last image, then masked."""
  idx = start + jnp.arange(size)
  valid = idx < n
  idx = jnp.minimum(idx, n - 1)
  return images_u8[idx].astype(jnp.float32) / 255.0, labels[idx], idx, valid


def count_over_batches(fn, n: int, batch: int, *args, **static):
  """Sums ``fn(*args, start, size=batch, **static)`` over the batches of an
  ``n``-image split: ``fn`` returns a pytree of exact integer counts for the
  batch at ``start`` (the last batch padded by the caller's indexing, then
  masked). The sums stay on the device, so the host queues every batch
  without waiting; one transfer at the end. Returns NumPy int64 arrays."""
  total = None
  for start in range(0, n, batch):
    part = fn(*args, jnp.int32(start), size=batch, **static)
    total = part if total is None else jax.tree.map(jnp.add, total, part)
  return jax.tree.map(lambda t: np.asarray(jax.device_get(t), np.int64),
                      total)
