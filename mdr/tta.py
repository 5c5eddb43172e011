"""Test-time augmentation: a classifier's logits averaged over fixed views.

Levels (airbench94's): 0 the image itself; 1 the mean of the image and its
mirror; 2 half the level-1 logits plus half the mean of the level-1 logits
of two 1-pixel shifts (up-left and down-right, reflect padding): six views
weighted 1/4, 1/4 and 1/8 each for the four shifted ones.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

NAMES = {0: "none", 1: "mirror", 2: "mirror + 1-px shifts"}


def mirror(images: jax.Array) -> jax.Array:
  """Left-right mirror of ``[B, H, W, C]`` images."""
  return images[:, :, ::-1]


def shifted(images: jax.Array, dy: int, dx: int) -> jax.Array:
  """The image moved so that output pixel (i, j) is input (i+dy, j+dx)
  (reflect padding of 1 pixel at the border; |dy|, |dx| <= 1)."""
  h, w = images.shape[1:3]
  p = jnp.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
  return p[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]


def views(level: int) -> list[tuple[float, Callable[[jax.Array], jax.Array]]]:
  """``(weight, view_fn)`` pairs of a TTA level; the weights sum to 1."""
  if level == 0:
    return [(1.0, lambda x: x)]
  if level == 1:
    return [(0.5, lambda x: x), (0.5, mirror)]
  if level == 2:
    out = [(0.25, lambda x: x), (0.25, mirror)]
    for d in (-1, 1):
      out += [(0.125, lambda x, d=d: shifted(x, d, d)),
              (0.125, lambda x, d=d: mirror(shifted(x, d, d)))]
    return out
  raise ValueError(f"TTA level {level!r} is not known: use one of {sorted(NAMES)}")


def wrap(logits_fn: Callable[[jax.Array], jax.Array],
         level: int) -> Callable[[jax.Array], jax.Array]:
  """``logits_fn`` with TTA at ``level`` (level 0 returns it unchanged)."""
  if level == 0:
    return logits_fn
  vs = views(level)

  def tta_logits(images):
    return sum(wt * logits_fn(v(images)) for wt, v in vs)
  return tta_logits
