"""Saliency maps for the white-box mask attacks (alpha, alpha_pixels).

``input_gradient(logits_fn, images, labels)`` is the seed's saliency: the
gradient of the cross-entropy loss with respect to the input pixels, taken in
absolute value and reduced over channels. Gradients are taken with respect to
the images only (``logits_fn`` closes over fixed, inference-mode variables),
so no weight gradient is ever computed.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

REDUCTIONS = ("max", "sum")


def input_gradient(logits_fn: Callable[[jax.Array], jax.Array],
                   images: jax.Array, labels: jax.Array,
                   reduce: str = "max") -> jax.Array:
  """Non-negative saliency ``|d cross-entropy / d image|``, ``[B, H, W]``.

  Pure and traceable: call it inside ``jax.jit`` (the training and evaluation
  steps do), with ``logits_fn`` closing over the model in inference mode,
  e.g. ``lambda x: model.apply(variables, x, train=False)``.

  Args:
    logits_fn: maps images ``[B, H, W, C]`` to logits ``[B, K]``.
    images: float ``[B, H, W, C]``.
    labels: int ``[B]``, the class whose loss is differentiated (the true
      label for the seed's alpha attack).
    reduce: how channels are reduced: ``"max"`` of the absolute gradient
      (Simonyan et al., 2014; the default) or their ``"sum"``.

  Returns:
    float32 ``[B, H, W]``, every entry >= 0. Each example's saliency depends
    on that example only (the loss is summed over the batch, not averaged).
  """
  if reduce not in REDUCTIONS:
    raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
  images = jnp.asarray(images)
  labels = jnp.asarray(labels)
  if images.ndim != 4 or not jnp.issubdtype(images.dtype, jnp.floating):
    raise ValueError(f"images must be float [B, H, W, C], got shape "
                     f"{images.shape} dtype {images.dtype}")
  if labels.shape != images.shape[:1] or not jnp.issubdtype(
      labels.dtype, jnp.integer):
    raise ValueError(f"labels must be int [B] = [{images.shape[0]}], got "
                     f"shape {labels.shape} dtype {labels.dtype}")

  def loss(x):
    logits = logits_fn(x).astype(jnp.float32)
    return optax.softmax_cross_entropy_with_integer_labels(logits,
                                                           labels).sum()

  grad = jnp.abs(jax.grad(loss)(images).astype(jnp.float32))
  return grad.max(axis=-1) if reduce == "max" else grad.sum(axis=-1)
