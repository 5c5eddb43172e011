"""Models by name: ``get(name, num_classes, **kwargs)`` and their metadata.

| name | what | params (10 classes) |
|---|---|---|
| ``resnet18`` | CIFAR ResNet-18: 4 stages of 2 blocks, width 64 (the seed's model class) | 11.2 M |
| ``resnet_small`` | 3 stages of 1 block, width 16 (ResNet-8) | 78 k |
| ``resnet_tiny`` | 2 stages of 1 block, width 8: tests | 5 k |
| ``airbench`` | airbench94's network (``model.width`` scales it; 1.0 = airbench94) | 1.97 M at width 1, 0.50 M at 0.5 |

Each entry is a :class:`ModelSpec`: how to build the module, whether it takes
``model.width``, and an optional ``prepare(params, train_images_u8, mean,
std)`` that sets data-dependent parameters once after init (the whitening
filters of ``airbench``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Optional

import jax.numpy as jnp
import numpy as np

from mdr.models.airbench import AirbenchNet
from mdr.models.airbench import whitening_kernel
from mdr.models.resnet import ResNet

WHITEN_SAMPLE = 5000  # train images the whitening filters are computed from


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """A registered model.

  Attributes:
    build: ``(num_classes=, dtype=, mean=, std=, **options) -> flax Module``.
    takes_width: whether ``model.width`` (a multiplier) is passed as ``width``.
    prepare: optional ``(params, train_images_u8, mean, std) -> params``,
      run once on a fresh (not a restored) state.
  """
  build: Callable[..., Any]
  takes_width: bool = False
  prepare: Optional[Callable[..., Any]] = None


def _prepare_whitening(params, train_images_u8, mean, std):
  """Sets ``whiten/kernel`` from an evenly spaced sample of the train split."""
  n = len(train_images_u8)
  sample = np.asarray(train_images_u8[::max(1, n // WHITEN_SAMPLE)]
                      [:WHITEN_SAMPLE])
  kernel = whitening_kernel(sample, mean, std)
  old = params["whiten"]["kernel"]
  if kernel.shape != old.shape:
    raise ValueError(f"whitening kernel shape {kernel.shape} does not match "
                     f"the model's {old.shape}: airbench expects 3-channel "
                     f"images")
  whiten = dict(params["whiten"], kernel=jnp.asarray(kernel, old.dtype))
  return dict(params, whiten=whiten)


REGISTRY = {
    "resnet18": ModelSpec(functools.partial(ResNet, stage_sizes=(2, 2, 2, 2),
                                            width=64)),
    "resnet_small": ModelSpec(functools.partial(ResNet, stage_sizes=(1, 1, 1),
                                                width=16)),
    "resnet_tiny": ModelSpec(functools.partial(ResNet, stage_sizes=(1, 1),
                                               width=8)),
    "airbench": ModelSpec(AirbenchNet, takes_width=True,
                          prepare=_prepare_whitening),
}

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def get(name: str, num_classes: int, dtype: str = "float32",
        width: float = 1.0, **kwargs):
  """The model called ``name``; ``ValueError`` naming what is known."""
  if name not in REGISTRY:
    raise ValueError(f"unknown model {name!r}; known: {sorted(REGISTRY)}")
  if dtype not in DTYPES:
    raise ValueError(f"unknown model dtype {dtype!r}; known: {sorted(DTYPES)}")
  spec = REGISTRY[name]
  if spec.takes_width:
    kwargs["width"] = width
  return spec.build(num_classes=num_classes, dtype=DTYPES[dtype], **kwargs)
