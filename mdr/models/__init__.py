"""Models by name: ``get(name, num_classes, **kwargs)`` and their metadata.

| name | what | params (10 classes) |
|---|---|---|
| ``resnet18`` | CIFAR ResNet-18: 4 stages of 2 blocks, width 64 (the seed's model class) | 11.2 M |
| ``resnet_small`` | 3 stages of 1 block, width 16 (ResNet-8) | 78 k |
| ``resnet_tiny`` | 2 stages of 1 block, width 8: tests | 5 k |
| ``airbench`` | airbench94's network (``model.width`` scales it; 1.0 = airbench94) | 1.97 M at width 1, 0.50 M at 0.5 |

Each entry is a :class:`ModelSpec`: how to build the module, whether it takes
``model.width``, whether it takes fixed random masks on its feature maps
(``model.random_mask``, :mod:`mdr.models.random_mask`), and an optional ``prepare(params, train_images_u8, mean,
std)`` that sets data-dependent parameters once after init (the whitening
filters of ``airbench``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Optional

import jax.numpy as jnp
import numpy as np

from mdr.models import airbench as airbench_lib
from mdr.models.airbench import AirbenchNet
from mdr.models.airbench import whitening_kernel
from mdr.models.random_mask import RandomMaskSpec
from mdr.models.resnet import ResNet

WHITEN_SAMPLE = 5000  # train images the whitening filters are computed from


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """A registered model.

  Attributes:
    build: ``(num_classes=, dtype=, mean=, std=, **options) -> flax Module``.
    takes_width: whether ``model.width`` (a multiplier) is passed as ``width``.
    takes_random_mask: whether it takes ``random_mask=RandomMaskSpec(...)``.
    num_stages: stages after the stem (the names random masks are placed by).
    prepare: optional ``(params, train_images_u8, mean, std, encoding)
      -> params``, run once on a fresh (not a restored) state.
    encodings: the input encodings it takes (``model.encoding``): ``rgb``,
      and ``ds`` for the 6-channel base model of de-randomized smoothing.
  """
  build: Callable[..., Any]
  takes_width: bool = False
  takes_random_mask: bool = False
  num_stages: int = 0
  prepare: Optional[Callable[..., Any]] = None
  encodings: tuple[str, ...] = ("rgb",)


def _prepare_whitening(params, train_images_u8, mean, std, encoding="rgb"):
  """Sets ``whiten/kernel`` from an evenly spaced sample of the train split
  (``ds``: in that encoding, half of the columns ablated)."""
  n = len(train_images_u8)
  sample = np.asarray(train_images_u8[::max(1, n // WHITEN_SAMPLE)]
                      [:WHITEN_SAMPLE])
  keep = airbench_lib.whitening_filters(len(mean), encoding)
  if encoding == "ds":
    mean, std = airbench_lib.input_stats(mean, std, encoding)
    sample = airbench_lib.ds_whitening_sample(sample) * 255.0
  kernel = whitening_kernel(sample, mean, std, keep=keep)
  old = params["whiten"]["kernel"]
  if kernel.shape != old.shape:
    raise ValueError(f"whitening kernel shape {kernel.shape} does not match "
                     f"the model's {old.shape}: airbench expects 3-channel "
                     f"images")
  whiten = dict(params["whiten"], kernel=jnp.asarray(kernel, old.dtype))
  return dict(params, whiten=whiten)


REGISTRY = {
    "resnet18": ModelSpec(functools.partial(ResNet, stage_sizes=(2, 2, 2, 2),
                                            width=64), takes_random_mask=True,
                          num_stages=4),
    "resnet_small": ModelSpec(functools.partial(ResNet, stage_sizes=(1, 1, 1),
                                                width=16),
                              takes_random_mask=True, num_stages=3),
    "resnet_tiny": ModelSpec(functools.partial(ResNet, stage_sizes=(1, 1),
                                               width=8),
                             takes_random_mask=True, num_stages=2),
    "airbench": ModelSpec(AirbenchNet, takes_width=True,
                          takes_random_mask=True, num_stages=3,
                          prepare=_prepare_whitening,
                          encodings=airbench_lib.ENCODINGS),
}

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def get(name: str, num_classes: int, dtype: str = "float32",
        width: float = 1.0, random_mask: Optional[RandomMaskSpec] = None,
        encoding: str = "rgb", **kwargs):
  """The model called ``name``; ``ValueError`` naming what is known.

  ``encoding`` other than ``rgb`` (e.g. ``ds``) only for models whose entry
  lists it.

  ``random_mask`` with ``drop > 0`` makes it a Random Mask CNN (only models
  whose entry has ``takes_random_mask``).
  """
  if name not in REGISTRY:
    raise ValueError(f"unknown model {name!r}; known: {sorted(REGISTRY)}")
  if dtype not in DTYPES:
    raise ValueError(f"unknown model dtype {dtype!r}; known: {sorted(DTYPES)}")
  spec = REGISTRY[name]
  if encoding not in spec.encodings:
    raise ValueError(f"model {name!r} takes the input encodings "
                     f"{spec.encodings}, not {encoding!r}; models that take "
                     f"it: {sorted(n for n, s in REGISTRY.items() if encoding in s.encodings)}")
  if encoding != "rgb":
    kwargs["encoding"] = encoding
  if spec.takes_width:
    kwargs["width"] = width
  if random_mask is not None and random_mask.drop > 0:
    if not spec.takes_random_mask:
      raise ValueError(
          f"model {name!r} takes no random masks; models that do: "
          f"{sorted(n for n, s in REGISTRY.items() if s.takes_random_mask)}")
    kwargs["random_mask"] = random_mask
  return spec.build(num_classes=num_classes, dtype=DTYPES[dtype], **kwargs)
