"""Occlusion attacks: hide pixels (the seed's α, β, γ, our alpha_pixels) and
the exhaustive worst-case square.

The masks come from ``mdr.masks`` (the public mask API). ``alpha_exhaustive``
is the true worst case of the square α approximates with gradient saliency:
it tries every position of the ``s x s`` square and keeps, per image, the
first position (raster order) that misclassifies with the lowest true-class
probability, else the one with the lowest true-class probability; one
forward pass per position, ``(H − s + 1)²`` in all.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mdr import masks
from mdr.attacks.registry import AttackSpec
from mdr.attacks.registry import register


def _square_pixels(ratio, h, w):
  return int(masks.side(ratio, h, w)) ** 2


def _scattered_pixels(ratio, h, w):
  return int(masks.num_pixels(ratio, h, w))


def _from_masks(mask_name):
  """An occlusion ``masks`` function from a ``mdr.masks`` registry entry."""
  def fn(ctx, keys, ratio):
    h, w = ctx.images.shape[1:3]
    return masks.batch_masks(mask_name, keys, ratio, (h, w), ctx.saliency)
  return fn


def square_at(y, x, s, h: int, w: int) -> jax.Array:
  """bool ``[H, W]``: the ``s x s`` square with top-left corner ``(y, x)``."""
  ys = jnp.arange(h)[:, None]
  xs = jnp.arange(w)[None, :]
  return (ys >= y) & (ys < y + s) & (xs >= x) & (xs < x + s)


def square_score(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Lower is worse for the model: in [-1, 0) when misclassified (ordered by
  the true-class probability), else the true-class probability in [0, 1]."""
  p = jax.nn.softmax(logits.astype(jnp.float32))
  p_true = jnp.take_along_axis(p, labels[:, None], -1)[:, 0]
  wrong = jnp.argmax(logits, -1) != labels
  return jnp.where(wrong, p_true - 1.0, p_true)


def worst_square(logits_fn, images, labels, ratio, fill) -> jax.Array:
  """``alpha_exhaustive``'s masks, bool ``[B, H, W]`` (see the module doc).

  ``ratio`` may be traced: the loop runs over exactly ``(H − s + 1)²``
  positions of the side ``s = masks.side(ratio, H, W)``.
  """
  b, h, w = images.shape[:3]
  s = masks.side(ratio, h, w)
  if isinstance(s, int) or not isinstance(s, jax.core.Tracer):
    s = jnp.asarray(s)
  span = w - s + 1
  count = jnp.where(s > 0, (h - s + 1) * span, 0)   # ratio 0: nothing to try

  def body(p, carry):
    best, best_p = carry
    y, x = p // span, p % span
    m = jnp.broadcast_to(square_at(y, x, s, h, w), (b, h, w))
    score = square_score(logits_fn(fill(images, m)), labels)
    better = score < best
    return jnp.where(better, score, best), jnp.where(better, p, best_p)

  init = (jnp.full((b,), jnp.inf), jnp.zeros((b,), jnp.int32))
  _, best_p = jax.lax.fori_loop(0, count, body, init)
  ys, xs = best_p // span, best_p % span
  out = jax.vmap(lambda y, x: square_at(y, x, s, h, w))(ys, xs)
  return out & (s > 0)


ALPHA = register(AttackSpec(
    "alpha", "α (salient square)", "α", "occlusion", random=False,
    budget="share of pixels hidden", pixels=_square_pixels, color="tab:red",
    masks=_from_masks("alpha"), needs_saliency=True))
BETA = register(AttackSpec(
    "beta", "β (random square)", "β", "occlusion", random=True,
    budget="share of pixels hidden", pixels=_square_pixels, color="tab:blue",
    masks=_from_masks("beta")))
GAMMA = register(AttackSpec(
    "gamma", "γ (random pixels)", "γ", "occlusion", random=True,
    budget="share of pixels hidden", pixels=_scattered_pixels,
    color="tab:green", masks=_from_masks("gamma")))
ALPHA_PIXELS = register(AttackSpec(
    "alpha_pixels", "α-pixels (salient pixels)", "α-px", "occlusion",
    random=False, budget="share of pixels hidden", pixels=_scattered_pixels,
    color="tab:purple", masks=_from_masks("alpha_pixels"),
    needs_saliency=True))
ALPHA_EXHAUSTIVE = register(AttackSpec(
    "alpha_exhaustive", "α* (worst-case square)", "α*", "occlusion",
    random=False, budget="share of pixels hidden", pixels=_square_pixels,
    color="tab:orange",
    masks=lambda ctx, keys, ratio: worst_square(
        ctx.logits_fn, ctx.images, ctx.labels, ratio, ctx.fill),
    costly=True))
