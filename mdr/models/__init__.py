"""Models by name: ``get(name, num_classes, **kwargs)``.

| name | what | params (10 classes) |
|---|---|---|
| ``resnet18`` | CIFAR ResNet-18: 4 stages of 2 blocks, width 64 (the seed's model class) | 11.2 M |
| ``resnet_small`` | 3 stages of 1 block, width 16 (ResNet-8): CPU runs | 78 k |
| ``resnet_tiny`` | 2 stages of 1 block, width 8: tests | 5 k |
"""

from __future__ import annotations

import functools

import jax.numpy as jnp

from mdr.models.resnet import ResNet

REGISTRY = {
    "resnet18": functools.partial(ResNet, stage_sizes=(2, 2, 2, 2), width=64),
    "resnet_small": functools.partial(ResNet, stage_sizes=(1, 1, 1), width=16),
    "resnet_tiny": functools.partial(ResNet, stage_sizes=(1, 1), width=8),
}

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def get(name: str, num_classes: int, dtype: str = "float32", **kwargs):
  """The model called ``name``; ``ValueError`` naming what is known."""
  if name not in REGISTRY:
    raise ValueError(f"unknown model {name!r}; known: {sorted(REGISTRY)}")
  if dtype not in DTYPES:
    raise ValueError(f"unknown model dtype {dtype!r}; known: {sorted(DTYPES)}")
  return REGISTRY[name](num_classes=num_classes, dtype=DTYPES[dtype], **kwargs)
