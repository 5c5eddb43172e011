"""CIFAR-style ResNets (3x3 stem, no max-pool), as in the seed's experiments.

The model takes images in [0, 1] and normalises them itself with the dataset's
per-channel mean and std, so masks, saliency and attacks all live in pixel
space: a hidden pixel is a black pixel, whatever the normalisation.

With a :class:`~mdr.models.random_mask.RandomMaskSpec` it is a Random Mask
CNN (arXiv 2007.14249): in the masked stages every batch norm's output is
multiplied by a fixed random mask before the ReLU or the residual add
(``conv -> BN -> mask -> (+ shortcut) -> ReLU``); identity shortcuts are not
masked, projection shortcuts are.
"""

from __future__ import annotations

import functools
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from mdr.models import random_mask as rm

ModuleDef = Any


class BasicBlock(nn.Module):
  """Two 3x3 convolutions with batch norm and a residual connection.

  ``mask`` (``name -> layer``, identity when the block's stage is not
  masked) gives the random-mask layer placed after each batch norm.
  """
  filters: int
  strides: int
  conv: ModuleDef
  norm: ModuleDef
  mask: Any = None

  @nn.compact
  def __call__(self, x):
    mask = self.mask or (lambda name: lambda v: v)
    residual = x
    y = self.conv(self.filters, (3, 3), (self.strides, self.strides))(x)
    y = nn.relu(mask("mask1")(self.norm()(y)))
    y = self.conv(self.filters, (3, 3))(y)
    y = mask("mask2")(self.norm(scale_init=nn.initializers.zeros)(y))
    if residual.shape != y.shape:
      residual = self.conv(self.filters, (1, 1), (self.strides, self.strides),
                           name="shortcut_conv")(residual)
      residual = mask("shortcut_mask")(
          self.norm(name="shortcut_norm")(residual))
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
    random_mask: fixed random masks on feature maps (None: none); its
      stages are ``stem`` and ``stage1`` ... ``stage<len(stage_sizes)>``.
  """
  stage_sizes: Sequence[int]
  num_classes: int
  width: int = 64
  mean: Sequence[float] = (0.5, 0.5, 0.5)
  std: Sequence[float] = (0.25, 0.25, 0.25)
  dtype: Any = jnp.float32
  random_mask: Optional[rm.RandomMaskSpec] = None

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = (x - jnp.asarray(self.mean, x.dtype)) / jnp.asarray(self.std, x.dtype)
    x = x.astype(self.dtype)
    conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype,
                             padding="SAME")
    norm = functools.partial(nn.BatchNorm, use_running_average=not train,
                             momentum=0.9, epsilon=1e-5, dtype=self.dtype)
    spec = self.random_mask
    stages = (rm.resolve_stages(spec.stages, len(self.stage_sizes))
              if spec is not None and spec.drop > 0 else ())
    masker = lambda stage: (lambda name: rm.layer(spec, stage, stages, name))
    x = conv(self.width, (3, 3), name="stem_conv")(x)
    x = nn.relu(masker("stem")("stem_mask")(norm(name="stem_norm")(x)))
    for i, blocks in enumerate(self.stage_sizes):
      for j in range(blocks):
        x = BasicBlock(
            filters=self.width * 2**i, strides=2 if i > 0 and j == 0 else 1,
            conv=conv, norm=norm, mask=masker(f"stage{i + 1}"),
        )(x)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, dtype=jnp.float32)(x)
