"""Fixed random masks on feature maps: the Random Mask CNN (arXiv 2007.14249).

A :class:`RandomMask` layer multiplies its input ``[B, H, W, C]`` by one fixed
binary array of the activation's shape ``(H, W, C)`` (per neuron, not per
channel) with exactly ``floor(drop * H * W * C)`` zeros, chosen without
replacement; the same array for every image, in training and evaluation, and
the kept units are **not** rescaled. With ``shared_channels`` one ``(H, W)``
pattern with ``floor(drop * H * W)`` zeros is shared by all channels (the
paper's "same" variant).

The mask is a pure function of ``(seed, the layer's path, the shape, drop)``
(:func:`draw`): the same config gives the same masks on every machine, and
they do not depend on how parameters are initialised. It lives in the
non-trainable collection :data:`COLLECTION`, so it is saved and restored
with the rest of the model state and no optimizer or weight decay sees it.

Models place a mask after a batch norm and before the activation or the
residual add (``conv -> BN -> mask -> (+ shortcut) -> ReLU``), in the
*stages* the :class:`RandomMaskSpec` names: ``stem``, ``stage1``, ``stage2``,
... (see :func:`resolve_stages`).
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

COLLECTION = "random_masks"
PRESETS = ("shallow", "deep")


@dataclasses.dataclass(frozen=True)
class RandomMaskSpec:
  """Which feature maps are masked, and how.

  Attributes:
    drop: share of the units of each masked activation set to zero, in
      ``[0, 1)``; 0 turns masks off.
    stages: ``shallow`` (the stem and the first two stages), ``deep`` (the
      stages after the second) or a comma-separated list of stage names
      (``stem,stage1``).
    shared_channels: one ``(H, W)`` pattern for all channels of a layer.
    seed: root of the mask draws.
  """
  drop: float = 0.0
  stages: str = "shallow"
  shared_channels: bool = False
  seed: int = 0


def stage_names(num_stages: int) -> tuple[str, ...]:
  """``("stem", "stage1", ..., "stage<num_stages>")``."""
  return ("stem",) + tuple(f"stage{i + 1}" for i in range(num_stages))


def resolve_stages(stages: str, num_stages: int) -> tuple[str, ...]:
  """The stage names ``stages`` means for a network of ``num_stages`` stages.

  ``shallow`` = the stem and stages 1-2 (the reference's default set on
  ResNet-18), ``deep`` = stages 3 and later; otherwise a comma-separated
  list of names from :func:`stage_names`. ``ValueError`` naming what is
  allowed otherwise.
  """
  known = stage_names(num_stages)
  if stages == "shallow":
    return known[:3]
  if stages == "deep":
    out = known[3:]
    if not out:
      raise ValueError(f"random_mask.stages = 'deep' needs a network of at "
                       f"least 3 stages; this one has {num_stages} "
                       f"({', '.join(known)})")
    return out
  names = tuple(s.strip() for s in str(stages).split(",") if s.strip())
  bad = [s for s in names if s not in known]
  if not names or bad:
    raise ValueError(f"random_mask.stages = {stages!r} is not allowed: use "
                     f"'shallow', 'deep' or a comma-separated list of "
                     f"{', '.join(known)}")
  return names


def num_dropped(drop: float, units: int) -> int:
  """``floor(drop * units)``, robust to float error (0.7 * 1000 -> 700)."""
  return int(math.floor(round(drop * units, 6)))


def layer_key(seed: int, path: str) -> jax.Array:
  """The key of the mask at ``path`` (a layer's module path)."""
  return jax.random.fold_in(jax.random.key(seed), zlib.crc32(path.encode()))


def draw(seed: int, path: str, shape: Sequence[int], drop: float,
         shared_channels: bool = False) -> jax.Array:
  """The fixed mask (float32, 1 = kept) of the layer at ``path``.

  ``shape`` is the activation's ``(H, W, C)``; the result has that shape, or
  ``(H, W, 1)`` with ``shared_channels``. Exactly
  ``floor(drop * units)`` zeros, positions uniform without replacement.
  """
  h, w, c = shape
  full = (h, w, 1) if shared_channels else (h, w, c)
  units = math.prod(full)
  ranks = jax.random.permutation(layer_key(seed, path), units)
  return (ranks >= num_dropped(drop, units)).astype(jnp.float32).reshape(full)


class RandomMask(nn.Module):
  """``x * mask``, with ``mask`` a fixed variable of :data:`COLLECTION`."""
  drop: float
  seed: int = 0
  shared_channels: bool = False

  @nn.compact
  def __call__(self, x):
    path = "/".join(str(p) for p in self.scope.path)
    shape = tuple(x.shape[1:])
    mask = self.variable(COLLECTION, "mask", lambda: draw(
        self.seed, path, shape, self.drop, self.shared_channels))
    return x * mask.value.astype(x.dtype)


def layer(spec: Optional[RandomMaskSpec], stage: str, stages: tuple[str, ...],
          name: str):
  """A :class:`RandomMask` named ``name`` if ``spec`` masks ``stage``, else
  the identity."""
  if spec is None or spec.drop <= 0 or stage not in stages:
    return lambda x: x
  return RandomMask(spec.drop, spec.seed, spec.shared_channels, name=name)
