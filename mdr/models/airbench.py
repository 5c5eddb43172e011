"""The airbench94 network (Jordan 2024) in Flax, with a width multiplier.

A fixed 2x2 patch-whitening convolution (3 -> 24 channels, filters from the
eigenvectors of the training patches' covariance, see :func:`whitening_kernel`;
only its bias trains), GELU, then three groups
``conv3x3 -> maxpool2 -> BN -> GELU -> conv3x3 -> BN -> GELU`` of widths
``64/256/256 x width``, a 3x3 max-pool, a bias-free linear layer and the logits
scaled by ``1/9``. Convolutions are bias-free with identity (Dirac) init on
their first channels; batch norms have no scale (it is frozen at 1), a
trainable bias, momentum 0.6 and epsilon 1e-12.

Like every mdr model it takes images in ``[0, 1]`` and normalises them itself,
so masks, saliency and attacks live in pixel space. With ``encoding="ds"``
(the base model of column de-randomized smoothing, :mod:`mdr.certify.ds`)
it takes the 6-channel ``(x, 1 − x)`` encoding in which an ablated pixel is
``(0, 0)``; a 3-channel image is encoded with nothing ablated, so every
evaluator runs on it unchanged. The whitening then has ``2 · 14 = 28``
filters: a 2x2 patch of that encoding spans 14 directions (12 of content,
one kept/ablated indicator per column), the other 10 carry nothing
(:func:`whitening_filters`).

With a :class:`~mdr.models.random_mask.RandomMaskSpec` (a Random Mask CNN)
the stages are ``stem`` (the whitening conv, masked before its GELU) and
``stage1``-``stage3`` (the groups, masked after each batch norm).

Parameter names the optimizer reads (``mdr.optim.param_labels``): the
whitening conv is ``whiten`` (kernel frozen, bias trained for the first
epochs), batch-norm biases live under modules named ``norm*``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mdr.models import random_mask as rm

WHITEN_PATCH = 2                                   # whitening patch side
WHITEN_WIDTH = 2 * 3 * WHITEN_PATCH**2             # 24: eigen-filters and their negatives
ENCODINGS = ("rgb", "ds")                          # the inputs the network takes
BASE_WIDTHS = (64, 256, 256)


def widths(width: float) -> tuple[int, ...]:
  """Channel widths of the three groups at a width multiplier."""
  if not width > 0:
    raise ValueError(f"airbench width multiplier must be > 0, got {width!r}")
  return tuple(max(1, int(round(w * width))) for w in BASE_WIDTHS)


def dirac_uniform_init(key, shape, dtype=jnp.float32):
  """PyTorch's default conv init, U(±1/sqrt(fan_in)), then identity filters.

  ``shape`` is Flax's ``(kh, kw, in, out)``. Output filter ``o < min(in,
  out)`` becomes the identity on input channel ``o`` (a 1 at the centre tap,
  zeros elsewhere), as ``torch.nn.init.dirac_`` on the first filters.
  """
  kh, kw, cin, cout = shape
  bound = 1.0 / math.sqrt(kh * kw * cin)
  w = jax.random.uniform(key, shape, jnp.float32, -bound, bound)
  k = min(cin, cout)
  dirac = jnp.zeros((kh, kw, cin, k)).at[kh // 2, kw // 2,
                                         jnp.arange(k), jnp.arange(k)].set(1.0)
  return w.at[..., :k].set(dirac).astype(dtype)


def linear_uniform_init(key, shape, dtype=jnp.float32):
  """PyTorch's default linear init, U(±1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(shape[0])
  return jax.random.uniform(key, shape, jnp.float32, -bound, bound).astype(dtype)


def _patches(x: np.ndarray, size: int) -> np.ndarray:
  """All ``size x size`` patches of ``x [N, H, W, C]`` -> ``[M, size, size, C]``."""
  n, h, w, c = x.shape
  cols = [x[:, i:h - size + 1 + i, j:w - size + 1 + j, :]
          for i in range(size) for j in range(size)]
  p = np.stack(cols, axis=3)                       # [N, H', W', size*size, C]
  return p.reshape(-1, size, size, c)


def whitening_kernel(images_u8: np.ndarray, mean: Sequence[float],
                     std: Sequence[float], eps: float = 5e-4,
                     size: int = WHITEN_PATCH,
                     keep: Optional[int] = None) -> np.ndarray:
  """The whitening conv kernel ``[size, size, C, 2*size*size*C]`` (``keep``:
  only the ``keep`` largest eigen-filters, ``[size, size, C, 2*keep]``).

  From the normalised images' ``size x size`` patches: the (uncentred)
  patch covariance ``P^T P / M``, its eigenvectors scaled by
  ``1/sqrt(eigenvalue + eps)`` (largest first), and their negatives, as in
  airbench94. Convolving normalised patches with the first half gives
  outputs whose covariance is ``diag(λ / (λ + eps))`` ≈ identity.
  """
  x = (np.asarray(images_u8, np.float64) / 255.0 - np.asarray(mean)) / \
      np.asarray(std)
  p = _patches(x, size).reshape(-1, size * size * x.shape[-1])
  cov = p.T @ p / len(p)
  eigval, eigvec = np.linalg.eigh(cov)
  eigval, eigvec = eigval[::-1], eigvec[:, ::-1]   # largest first
  if keep is not None:
    eigval, eigvec = eigval[:keep], eigvec[:, :keep]
  filters = eigvec / np.sqrt(eigval + eps)          # [D, D]: column = filter
  kernel = filters.reshape(size, size, x.shape[-1], -1)
  return np.concatenate([kernel, -kernel], axis=-1).astype(np.float32)


def whitening_filters(channels: int, encoding: str,
                      size: int = WHITEN_PATCH) -> int:
  """Eigen-filters of the whitening (half its output channels): the
  dimension its ``size x size`` input patches span. ``rgb``: ``size² · C``.
  ``ds`` (C image channels in ``(x, 1 − x)``): ``size² · C`` of content plus
  one indicator per patch column (a whole column is kept or ablated); the
  other directions are empty, and filters along them would make constant
  channels that the batch norms' tiny epsilon turns into overflow."""
  return size * size * channels + (size if encoding == "ds" else 0)


def input_stats(mean, std, encoding: str):
  """Per-channel normalisation of the network's input under ``encoding``:
  ``ds`` appends ``1 − mean`` (the second half holds ``1 − x``) and the same
  ``std``."""
  if encoding not in ENCODINGS:
    raise ValueError(f"unknown airbench encoding {encoding!r}; known: "
                     f"{ENCODINGS}")
  if encoding == "ds":
    return (tuple(mean) + tuple(1 - m for m in mean), tuple(std) * 2)
  return tuple(mean), tuple(std)


def ds_whitening_sample(images_u8: np.ndarray) -> np.ndarray:
  """Float ``[N, H, W, 2C]`` in [0, 1]: ``images_u8`` in the ``ds``
  encoding with a fixed half of the columns ablated (column ``j`` of image
  ``i`` kept iff ``(i + j) // 2`` is even), so every kept/ablated pattern a
  2x2 patch can see is in the whitening's covariance."""
  x = np.asarray(images_u8, np.float32) / 255.0
  n, _, w, _ = x.shape
  keep = (((np.arange(n)[:, None] + np.arange(w)[None]) // 2) % 2 == 0)
  keep = keep[:, None, :, None].astype(np.float32)
  return np.concatenate([x * keep, (1 - x) * keep], -1)


def _im2col_conv(x, kernel):
  """A stride-1 'SAME' convolution as one matmul over the 3x3 neighbourhoods.

  Same result as ``lax.conv_general_dilated`` up to float summation order;
  on CPUs XLA's convolution is 2-3x slower than its matmul for the wide,
  high-resolution layers of this network (experiments/bench_train.py).
  """
  kh, kw, cin, cout = kernel.shape
  b, h, w, _ = x.shape
  ph, pw = (kh - 1) // 2, (kw - 1) // 2
  xp = jnp.pad(x, ((0, 0), (ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)))
  cols = jnp.concatenate([xp[:, i:i + h, j:j + w, :] for i in range(kh)
                          for j in range(kw)], axis=-1)
  out = cols.reshape(-1, kh * kw * cin) @ kernel.reshape(kh * kw * cin, cout)
  return out.reshape(b, h, w, cout)


class Conv3x3(nn.Module):
  """Bias-free 3x3 'SAME' conv with Dirac init; ``impl`` xla | im2col | auto.

  ``auto`` uses im2col on CPU for inputs of at least 15x15 pixels (where it
  measured faster) and XLA's convolution otherwise and on accelerators. The
  parameter is the usual ``kernel [3, 3, in, out]`` whatever the impl.
  """
  features: int
  dtype: Any = jnp.float32
  impl: str = "auto"

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", dirac_uniform_init,
                        (3, 3, x.shape[-1], self.features)).astype(self.dtype)
    x = x.astype(self.dtype)
    impl = self.impl
    if impl == "auto":
      impl = ("im2col" if jax.default_backend() == "cpu" and
              x.shape[1] * x.shape[2] >= 15 * 15 else "xla")
    if impl == "im2col":
      return _im2col_conv(x, kernel)
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def max_pool(x, k: int):
  """Non-overlapping ``k x k`` max-pool (floor), as a reshape and a max.

  Same values as ``nn.max_pool(x, (k, k), strides=(k, k))``; its gradient
  is a cheap equality mask instead of XLA's slower select-and-scatter.
  """
  b, h, w, c = x.shape
  h2, w2 = h // k, w // k
  return x[:, :h2 * k, :w2 * k].reshape(b, h2, k, w2, k, c).max(axis=(2, 4))


def gelu(x):
  """GELU, tanh form (airbench uses the erf form; tanh is cheaper on CPUs)."""
  return nn.gelu(x, approximate=True)


class ConvGroup(nn.Module):
  """conv3x3 -> maxpool2 -> BN -> GELU -> conv3x3 -> BN -> GELU.

  ``mask`` (``name -> layer``) gives the random-mask layer after each batch
  norm (the identity when the group is not masked).
  """
  features: int
  conv: Any
  norm: Any
  mask: Any = None

  @nn.compact
  def __call__(self, x):
    mask = self.mask or (lambda name: lambda v: v)
    x = self.conv(self.features, name="conv1")(x)
    x = max_pool(x, 2)
    x = gelu(mask("mask1")(self.norm(name="norm1")(x)))
    x = self.conv(self.features, name="conv2")(x)
    return gelu(mask("mask2")(self.norm(name="norm2")(x)))


class AirbenchNet(nn.Module):
  """airbench94's network; ``width`` scales the three groups (1.0 = 64/256/256).

  Attributes:
    num_classes: output logits.
    width: width multiplier of the three conv groups.
    mean, std: per-channel input normalisation (images come in [0, 1]).
    dtype: computation dtype; parameters, BN statistics and logits float32.
    bn_momentum: running-statistics momentum (new = m*old + (1-m)*batch).
    logit_scale: the logits are multiplied by this (airbench: 1/9).
    conv_impl: how 3x3 convs run: ``xla`` | ``im2col`` | ``auto`` (Conv3x3).
    random_mask: fixed random masks on feature maps (None: none).
    encoding: ``rgb`` (C channels) or ``ds`` (the 2C-channel ``(x, 1 − x)``
      encoding of de-randomized smoothing; C-channel input is encoded).
  """
  num_classes: int
  width: float = 1.0
  mean: Sequence[float] = (0.5, 0.5, 0.5)
  std: Sequence[float] = (0.25, 0.25, 0.25)
  dtype: Any = jnp.float32
  bn_momentum: float = 0.6
  logit_scale: float = 1 / 9
  conv_impl: str = "auto"
  random_mask: Optional[rm.RandomMaskSpec] = None
  encoding: str = "rgb"

  @nn.compact
  def __call__(self, x, train: bool = False):
    mean, std = input_stats(self.mean, self.std, self.encoding)
    if self.encoding == "ds" and x.shape[-1] == len(self.mean):
      x = jnp.concatenate([x, 1 - x], -1)     # nothing ablated
    if x.shape[-1] != len(mean):
      raise ValueError(f"airbench ({self.encoding} encoding) takes "
                       f"{len(self.mean)} or {len(mean)} channels, got "
                       f"{x.shape[-1]}" if self.encoding == "ds" else
                       f"airbench takes {len(mean)} channels, got "
                       f"{x.shape[-1]}")
    x = (x - jnp.asarray(mean, x.dtype)) / jnp.asarray(std, x.dtype)
    x = x.astype(self.dtype)
    x = nn.Conv(2 * whitening_filters(len(self.mean), self.encoding),
                (WHITEN_PATCH, WHITEN_PATCH), padding="VALID",
                use_bias=True, dtype=self.dtype, name="whiten",
                kernel_init=dirac_uniform_init)(x)
    spec = self.random_mask
    groups = widths(self.width)
    stages = (rm.resolve_stages(spec.stages, len(groups))
              if spec is not None and spec.drop > 0 else ())
    masker = lambda stage: (lambda name: rm.layer(spec, stage, stages, name))
    x = gelu(masker("stem")("whiten_mask")(x))
    conv = functools.partial(Conv3x3, dtype=self.dtype, impl=self.conv_impl)
    norm = functools.partial(nn.BatchNorm, use_running_average=not train,
                             momentum=self.bn_momentum, epsilon=1e-12,
                             use_scale=False, dtype=self.dtype)
    for i, features in enumerate(groups):
      x = ConvGroup(features, conv, norm, mask=masker(f"stage{i + 1}"),
                    name=f"group{i + 1}")(x)
    x = max_pool(x, 3)
    x = x.reshape(x.shape[0], -1).astype(jnp.float32)
    x = nn.Dense(self.num_classes, use_bias=False, dtype=jnp.float32,
                 kernel_init=linear_uniform_init, name="head")(x)
    return x * self.logit_scale
