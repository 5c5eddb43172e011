"""CIFAR-style ResNets (3x3 stem, no max-pool), as in the seed's experiments.

The model takes images in [0, 1] and normalises them itself with the dataset's
per-channel mean and std, so masks, saliency and attacks all live in pixel
space: a hidden pixel is a black pixel, whatever the normalisation.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

ModuleDef = Any


class BasicBlock(nn.Module):
  """Two 3x3 convolutions with batch norm and a residual connection.

  ``post_norm`` (optional) is applied to the output of the block's first
  batch norm: the place where a Random Mask CNN multiplies early feature maps
  by fixed random masks.
  """
  filters: int
  strides: int
  conv: ModuleDef
  norm: ModuleDef
  post_norm: Optional[Callable[[jnp.ndarray], jnp.ndarray]] = None

  @nn.compact
  def __call__(self, x):
    residual = x
    y = self.conv(self.filters, (3, 3), (self.strides, self.strides))(x)
    y = self.norm()(y)
    if self.post_norm is not None:
      y = self.post_norm(y)
    y = nn.relu(y)
    y = self.conv(self.filters, (3, 3))(y)
    y = self.norm(scale_init=nn.initializers.zeros)(y)
    if residual.shape != y.shape:
      residual = self.conv(self.filters, (1, 1), (self.strides, self.strides),
                           name="shortcut_conv")(residual)
      residual = self.norm(name="shortcut_norm")(residual)
    return nn.relu(residual + y)


class ResNet(nn.Module):
  """ResNet for small images: ``stage_sizes`` blocks per stage.

  Attributes:
    stage_sizes: blocks per stage; stage i has ``width * 2**i`` filters and
      (for i > 0) halves the resolution.
    num_classes: output logits.
    width: filters of the stem and first stage.
    mean, std: per-channel input normalisation (images come in [0, 1]).
    dtype: computation dtype (``jnp.bfloat16`` on GPU/TPU); parameters, batch
      statistics and logits stay float32.
    post_norm_stages: stages whose blocks get ``post_norm`` (Random Mask CNNs).
    post_norm: see ``BasicBlock``.
  """
  stage_sizes: Sequence[int]
  num_classes: int
  width: int = 64
  mean: Sequence[float] = (0.5, 0.5, 0.5)
  std: Sequence[float] = (0.25, 0.25, 0.25)
  dtype: Any = jnp.float32
  post_norm_stages: Sequence[int] = ()
  post_norm: Optional[Callable[[jnp.ndarray], jnp.ndarray]] = None

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = (x - jnp.asarray(self.mean, x.dtype)) / jnp.asarray(self.std, x.dtype)
    x = x.astype(self.dtype)
    conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype,
                             padding="SAME")
    norm = functools.partial(nn.BatchNorm, use_running_average=not train,
                             momentum=0.9, epsilon=1e-5, dtype=self.dtype)
    x = conv(self.width, (3, 3), name="stem_conv")(x)
    x = nn.relu(norm(name="stem_norm")(x))
    for i, blocks in enumerate(self.stage_sizes):
      for j in range(blocks):
        x = BasicBlock(
            filters=self.width * 2**i, strides=2 if i > 0 and j == 0 else 1,
            conv=conv, norm=norm,
            post_norm=self.post_norm if i in self.post_norm_stages else None,
        )(x)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, dtype=jnp.float32)(x)
