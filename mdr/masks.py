"""Occlusion masks: the three MDR mask attacks and their white-box relatives.

Public API (stable names). Every function is pure, works under ``jax.jit`` and
``jax.vmap``, and takes its randomness only from a ``jax.random`` key.

Convention
  A mask is a ``bool`` array of shape ``[H, W]``; ``True`` means the pixel is
  hidden (all of its channels). ``ratio`` is the share of the ``H*W`` pixels to
  hide, a float in ``[0, 1]``. It may be a Python float, a traced scalar (a
  ratio sweep under ``jit`` compiles once) or, under ``vmap``, one value per
  example.

Functions
  ``side(ratio, height, width)``      square side used by alpha and beta.
  ``num_pixels(ratio, height, width)`` pixel count used by gamma and alpha_pixels.
  ``random_pixels(key, ratio, shape)`` gamma: random scattered pixels.
  ``random_square(key, ratio, shape)`` beta: a random contiguous square.
  ``salient_square(saliency, ratio)``  alpha: the most salient square.
  ``salient_pixels(saliency, ratio)``  alpha_pixels: the most salient pixels.
  ``apply(images, masks, fill=...)``   hide masked pixels of images.
  ``REGISTRY`` / ``get(name)``         the attacks by name.
  ``batch_masks(name, keys, ratio, shape, saliency=None)`` a mask per example.
  ``mask_images(name, key, images, ratio, saliency=None, fill=...)`` one call.

Rounding: counts use ``round`` half-to-even (NumPy's and Python's ``round``)
of ``ratio * H * W`` evaluated in float32.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "side", "num_pixels", "random_pixels", "random_square", "salient_square",
    "salient_pixels", "apply", "FILLS", "MaskSpec", "REGISTRY", "get",
    "batch_masks", "mask_images", "check_ratio",
]

FILLS = ("zero", "mean", "noise")


# ----------------------------------------------------------------------------
# Argument checks (only on concrete values; traced values pass through).
# ----------------------------------------------------------------------------

def _is_concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def check_ratio(ratio, name: str = "ratio"):
  """Raises ``ValueError`` if a concrete ``ratio`` is NaN or outside [0, 1].

  Traced ratios cannot be checked and are returned unchanged.
  """
  if not _is_concrete(ratio):
    return ratio
  arr = np.asarray(ratio)
  if arr.dtype == bool or not jnp.issubdtype(arr.dtype, jnp.number):
    raise ValueError(f"{name} must be a number in [0, 1], got {ratio!r}")
  arr = arr.astype(np.float64)
  bad = np.isnan(arr) | (arr < 0) | (arr > 1)
  if np.any(bad):
    shown = arr[bad].ravel()[:5].tolist()
    raise ValueError(
        f"{name} must be in [0, 1] (the share of pixels hidden), got "
        f"{shown if arr.ndim else arr.item()!r}")
  return ratio


def _check_hw(shape) -> tuple[int, int]:
  try:
    height, width = (int(s) for s in shape)
    ok = all(int(s) == s for s in shape)
  except (TypeError, ValueError):
    ok = False
  if not ok or height <= 0 or width <= 0:
    raise ValueError(
        f"shape must be (height, width) with two positive integers, got "
        f"{shape!r}")
  return height, width


def _check_saliency(saliency):
  if not hasattr(saliency, "shape") or len(saliency.shape) != 2:
    got = getattr(saliency, "shape", type(saliency).__name__)
    raise ValueError(
        f"saliency must be a 2-D [H, W] array (use vmap or batch_masks for a "
        f"batch), got shape {got}")
  if not jnp.issubdtype(saliency.dtype, jnp.floating) and not jnp.issubdtype(
      saliency.dtype, jnp.integer):
    raise ValueError(f"saliency must be a real array, got dtype "
                     f"{saliency.dtype}")
  return jnp.asarray(saliency, jnp.float32)


# ----------------------------------------------------------------------------
# Sizes.
# ----------------------------------------------------------------------------

def num_pixels(ratio, height: int, width: int) -> jax.Array:
  """Number of pixels hidden by ``ratio``: ``round(ratio * H * W)`` (int32)."""
  check_ratio(ratio)
  r = jnp.asarray(ratio, jnp.float32)
  return jnp.round(r * jnp.float32(height * width)).astype(jnp.int32)


def side(ratio, height: int, width: int) -> jax.Array:
  """Side of the square hidden by alpha and beta (int32).

  ``round(sqrt(ratio * H * W))`` clipped to ``min(H, W)``; 0 when ratio is 0.
  """
  check_ratio(ratio)
  r = jnp.asarray(ratio, jnp.float32)
  s = jnp.round(jnp.sqrt(r * jnp.float32(height * width))).astype(jnp.int32)
  return jnp.clip(s, 0, min(height, width))


# ----------------------------------------------------------------------------
# Exact k-smallest selection on uint32 keys, without a sort.
# ----------------------------------------------------------------------------

_BLOCK = 32  # counts reduce over [n / 32, 32] blocks: XLA fuses these well


def _smallest_k(values: jax.Array, k: jax.Array) -> jax.Array:
  """Boolean mask of the ``k`` smallest entries of a flat uint32 array.

  Exactly ``min(k, n)`` entries are selected for any ``k``, ties included:
  equal values are taken in index order (a stable sort's order). A bisection
  on the key (at most 32 steps, each one compare-and-count over the array)
  finds a threshold below which lie exactly k keys or, failing that, the
  k-th smallest key, whose ties are then resolved by index.
  ``k`` may be traced. No sort: sorting is slow on CPU backends.
  """
  n = values.shape[0]
  k = jnp.asarray(k, jnp.int32)
  # Signed order of (bits ^ 0x80000000) is the unsigned order of bits.
  keys = jax.lax.bitcast_convert_type(
      values.astype(jnp.uint32) ^ jnp.uint32(0x80000000), jnp.int32)
  pad = -n % _BLOCK  # padding with the largest key changes no k-th value
  blocks = jnp.pad(keys, (0, pad), constant_values=jnp.iinfo(jnp.int32).max)
  blocks = blocks.reshape(-1, _BLOCK)

  def count_le(t):
    return jnp.sum(jnp.sum(blocks <= t, axis=1, dtype=jnp.int32))

  def searching(state):
    lo, hi, found = state
    return ~found & (lo < hi)

  def bisect(state):  # invariant: the k-th smallest key is in [lo, hi]
    lo, hi, _ = state
    mid = (lo >> 1) + (hi >> 1) + (lo & hi & 1)  # floor((lo + hi) / 2)
    count = count_le(mid)
    found = count == k  # keys <= mid are exactly the k smallest: stop early
    lo = jnp.where(found, mid, jnp.where(count >= k, lo, mid + 1))
    return lo, jnp.where(count >= k, mid, hi), found

  # A rolled loop (unrolled, XLA fuses the keys' producer into every pass and
  # recomputes it). It stops once a threshold splits off exactly k keys,
  # about log2(n) + 1 passes on random keys instead of 32.
  lo, _, found = jax.lax.while_loop(
      searching, bisect, (jnp.int32(jnp.iinfo(jnp.int32).min),
                          jnp.int32(jnp.iinfo(jnp.int32).max),
                          jnp.bool_(False)))
  below = jnp.where(found, keys <= lo, keys < lo)
  equal = ~found & (keys == lo)
  needed = k - jnp.sum(below, dtype=jnp.int32)  # >= 1 unless k == 0
  return below | (equal & _first_true(equal, needed))


def _first_true(flags: jax.Array, m: jax.Array) -> jax.Array:
  """Mask of the first ``m`` True entries of a flat bool array, by index.

  Ties at the k-th value are rare for random keys, so instead of a cumulative
  sum over the whole array (slow on CPU) this bisects for the cut index only
  while some example needs it: usually zero iterations.
  """
  n = flags.shape[0]
  idx = jnp.arange(n, dtype=jnp.int32)
  total = jnp.sum(flags, dtype=jnp.int32)
  done = m >= total
  # Find the smallest cut c with count(flags & idx <= c) >= m, c in [lo, hi].
  lo = jnp.where(done, n - 1, 0)
  hi = jnp.int32(n - 1)

  def body(state):
    lo, hi = state
    mid = (lo + hi) // 2
    enough = jnp.sum(flags & (idx <= mid), dtype=jnp.int32) >= m
    return jnp.where(enough, lo, mid + 1), jnp.where(enough, mid, hi)

  cut, _ = jax.lax.while_loop(lambda s: s[0] < s[1], body, (lo, hi))
  cut = jnp.where(m <= 0, -1, cut)
  return idx <= cut


def _descending_keys(x: jax.Array) -> jax.Array:
  """uint32 keys whose ascending order is the descending order of float32 x."""
  bits = jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.uint32)
  sign = bits >> 31
  # Ascending-sortable: flip all bits of negatives, flip the sign bit of others.
  ascending = jnp.where(sign == 1, ~bits, bits | jnp.uint32(0x80000000))
  # -0.0 and +0.0 are equal (compared on bits: CPUs may flush subnormals).
  ascending = jnp.where((bits << 1) == 0, jnp.uint32(0x80000000), ascending)
  return ~ascending


# ----------------------------------------------------------------------------
# The masks.
# ----------------------------------------------------------------------------

def random_pixels(key: jax.Array, ratio, shape: Sequence[int]) -> jax.Array:
  """gamma: hide ``round(ratio * H * W)`` pixels chosen uniformly at random.

  Exactly that many pixels are hidden for every key, ties of the random draw
  included. Each pixel gets 32 random bits; the pixels with the smallest draws
  are hidden (equal draws, probability below ``H*W / 2**32`` per mask, are
  broken by pixel index).

  Args:
    key: a ``jax.random`` key.
    ratio: share of pixels to hide, in [0, 1]; may be traced.
    shape: ``(H, W)``.

  Returns:
    bool ``[H, W]`` mask, ``True`` = hidden.
  """
  height, width = _check_hw(shape)
  k = num_pixels(ratio, height, width)
  bits = jax.random.bits(key, (height * width,), jnp.uint32)
  return _smallest_k(bits, k).reshape(height, width)


def _square_at(y, x, s, height: int, width: int) -> jax.Array:
  rows = jnp.arange(height)[:, None]
  cols = jnp.arange(width)[None, :]
  return (rows >= y) & (rows < y + s) & (cols >= x) & (cols < x + s)


def random_square(key: jax.Array, ratio, shape: Sequence[int]) -> jax.Array:
  """beta: hide one ``s x s`` square at a uniformly random position.

  ``s = side(ratio, H, W)``. The square lies fully inside the image; its
  top-left corner is uniform over all ``(H - s + 1) * (W - s + 1)`` valid
  positions.

  Args:
    key: a ``jax.random`` key.
    ratio: share of pixels to hide, in [0, 1]; may be traced.
    shape: ``(H, W)``.

  Returns:
    bool ``[H, W]`` mask, ``True`` = hidden.
  """
  height, width = _check_hw(shape)
  s = side(ratio, height, width)
  ky, kx = jax.random.split(key)
  y = jax.random.randint(ky, (), 0, height - s + 1)
  x = jax.random.randint(kx, (), 0, width - s + 1)
  return _square_at(y, x, s, height, width)


def _cumsum_last(x: jax.Array, block: int = 32) -> jax.Array:
  """Inclusive cumulative sum over the last axis, as blocked matmuls.

  Within blocks of ``block`` entries the sum is a product with a triangular
  matrix of ones (full float32 precision), then block offsets are added.
  On CPU this is several times faster than ``jnp.cumsum``.
  """
  length = x.shape[-1]
  width = min(block, length)
  pad = -length % width
  xb = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, pad)])
  xb = xb.reshape(x.shape[:-1] + (-1, width))
  tri = jnp.triu(jnp.ones((width, width), x.dtype))
  within = jnp.matmul(xb, tri, precision=jax.lax.Precision.HIGHEST)
  if xb.shape[-2] > 1:
    totals = within[..., -1]
    offsets = jnp.cumsum(totals, axis=-1) - totals
    within = within + offsets[..., None]
  return within.reshape(x.shape[:-1] + (-1,))[..., :length]


def window_sums(saliency: jax.Array, s) -> jax.Array:
  """Sums of ``saliency`` over every ``s x s`` window, ``[H + 1, W + 1]``.

  Entry ``(y, x)`` is the sum of the window with top-left corner ``(y, x)``;
  windows that do not fit inside the image are ``-inf``. ``s`` may be traced.
  Computed from a summed-area table (float32): equal to direct sums up to
  float32 rounding. NaN saliency counts as 0; +-inf is clipped to a large
  finite value.
  """
  saliency = _check_saliency(saliency)
  height, width = saliency.shape
  # NaN counts as 0 and +-inf as a value no window sum can overflow past.
  big = float(np.finfo(np.float32).max) / (4 * height * width)
  saliency = jnp.clip(jnp.nan_to_num(saliency, nan=0.0), -big, big)
  # Subtracting a constant shifts every window sum equally (same argmax) and
  # reduces cancellation in the table; the rounded mean keeps integers exact.
  saliency = saliency - jnp.round(jnp.mean(saliency))
  table = _cumsum_last(_cumsum_last(saliency).T).T
  table = jnp.pad(table, ((1, height), (1, width)))  # [2H + 1, 2W + 1]
  size = (height + 1, width + 1)
  at = lambda dy, dx: jax.lax.dynamic_slice(table, (dy, dx), size)
  zero = jnp.zeros((), jnp.int32)
  s = jnp.asarray(s, jnp.int32)
  sums = at(s, s) - at(zero, s) - at(s, zero) + at(zero, zero)
  rows = jnp.arange(height + 1)[:, None]
  cols = jnp.arange(width + 1)[None, :]
  fits = (rows <= height - s) & (cols <= width - s)
  return jnp.where(fits, sums, -jnp.inf)


def salient_square(saliency: jax.Array, ratio) -> jax.Array:
  """alpha: hide the ``s x s`` square with the largest summed saliency.

  ``s = side(ratio, H, W)``; the square lies fully inside the image. Window
  sums are exact for integer-valued saliency (up to 2**24) and otherwise
  equal to direct sums up to float32 rounding; among equal sums the first
  window in row-major order of its top-left corner wins.

  Args:
    saliency: non-negative ``[H, W]`` array (e.g. from
      ``mdr.saliency.input_gradient``).
    ratio: share of pixels to hide, in [0, 1]; may be traced.

  Returns:
    bool ``[H, W]`` mask, ``True`` = hidden.
  """
  saliency = _check_saliency(saliency)
  height, width = saliency.shape
  s = side(ratio, height, width)
  sums = window_sums(saliency, s)
  best = jnp.argmax(sums.reshape(-1))
  y, x = best // (width + 1), best % (width + 1)
  return _square_at(y, x, s, height, width)


def salient_pixels(saliency: jax.Array, ratio) -> jax.Array:
  """alpha_pixels: hide the ``round(ratio * H * W)`` most salient pixels.

  The white-box counterpart of gamma (not in the seed paper). Exactly that
  many pixels are hidden; among equal saliency values the lower row-major
  index is hidden first, as a stable descending sort would.

  Args:
    saliency: ``[H, W]`` real array (NaN not allowed).
    ratio: share of pixels to hide, in [0, 1]; may be traced.

  Returns:
    bool ``[H, W]`` mask, ``True`` = hidden.
  """
  saliency = _check_saliency(saliency)
  height, width = saliency.shape
  k = num_pixels(ratio, height, width)
  keys = _descending_keys(saliency.reshape(-1))
  return _smallest_k(keys, k).reshape(height, width)


# ----------------------------------------------------------------------------
# Applying masks.
# ----------------------------------------------------------------------------

def apply(images: jax.Array, masks: jax.Array, fill: str = "zero",
          mean: Optional[Sequence[float]] = None,
          key: Optional[jax.Array] = None) -> jax.Array:
  """Hides the masked pixels of ``images``.

  Args:
    images: ``[..., H, W, C]`` float images in [0, 1].
    masks: bool ``[..., H, W]``, broadcastable against ``images[..., 0]``.
    fill: ``"zero"`` (black), ``"mean"`` (the per-channel ``mean``) or
      ``"noise"`` (uniform in [0, 1), drawn from ``key`` per pixel and
      channel).
    mean: per-channel values ``[C]``, required for ``fill="mean"``.
    key: ``jax.random`` key, required for ``fill="noise"``.

  Returns:
    Images of the same shape and dtype with hidden pixels replaced.
  """
  if fill not in FILLS:
    raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")
  images = jnp.asarray(images)
  masks = jnp.asarray(masks)
  if images.ndim < 3:
    raise ValueError(f"images must be [..., H, W, C], got shape "
                     f"{images.shape}")
  if masks.dtype != jnp.bool_:
    raise ValueError(f"masks must be bool (True = hidden), got dtype "
                     f"{masks.dtype}")
  if masks.ndim < 2 or masks.shape[-2:] != images.shape[-3:-1]:
    raise ValueError(f"masks [..., H, W] {masks.shape} do not match images "
                     f"[..., H, W, C] {images.shape}")
  if fill == "zero":
    value = jnp.zeros((), images.dtype)
  elif fill == "mean":
    if mean is None:
      raise ValueError('fill="mean" needs mean=[per-channel values]')
    value = jnp.asarray(mean, images.dtype)
    if value.shape not in ((), (images.shape[-1],)):
      raise ValueError(f"mean must have {images.shape[-1]} values (one per "
                       f"channel), got shape {value.shape}")
  else:
    if key is None:
      raise ValueError('fill="noise" needs key=a jax.random key')
    value = jax.random.uniform(key, images.shape, images.dtype)
  return jnp.where(masks[..., None], value, images)


# ----------------------------------------------------------------------------
# Registry and batched entry points.
# ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MaskSpec:
  """A mask attack by name.

  ``fn(key, ratio, saliency, shape)`` returns one ``[H, W]`` mask; the
  attack uses ``key`` if random and ``saliency`` if it ``needs_saliency``.
  """
  name: str
  fn: Callable[..., jax.Array]
  needs_saliency: bool
  description: str


REGISTRY: dict[str, MaskSpec] = {
    "alpha": MaskSpec("alpha", lambda k, r, s, hw: salient_square(s, r), True,
                      "most salient contiguous square"),
    "beta": MaskSpec("beta", lambda k, r, s, hw: random_square(k, r, hw),
                     False, "random contiguous square"),
    "gamma": MaskSpec("gamma", lambda k, r, s, hw: random_pixels(k, r, hw),
                      False, "random scattered pixels"),
    "alpha_pixels": MaskSpec(
        "alpha_pixels", lambda k, r, s, hw: salient_pixels(s, r), True,
        "most salient scattered pixels"),
}


def get(name: str) -> MaskSpec:
  """The registered attack called ``name``; ``ValueError`` if unknown."""
  if name not in REGISTRY:
    raise ValueError(f"unknown mask attack {name!r}; known: "
                     f"{sorted(REGISTRY)}")
  return REGISTRY[name]


def batch_masks(name: str, keys: jax.Array, ratio, shape: Sequence[int],
                saliency: Optional[jax.Array] = None) -> jax.Array:
  """One mask per example: bool ``[B, H, W]``.

  Args:
    name: a registry name (``alpha``, ``beta``, ``gamma``, ``alpha_pixels``).
    keys: ``[B]`` keys, one per example (e.g. ``jax.random.split(key, B)``).
    ratio: a scalar or a ``[B]`` vector of ratios; may be traced.
    shape: ``(H, W)``.
    saliency: ``[B, H, W]``, required by ``alpha`` and ``alpha_pixels``.
  """
  spec = get(name)
  height, width = _check_hw(shape)
  check_ratio(ratio)
  n = keys.shape[0]
  ratio = jnp.asarray(ratio, jnp.float32)
  if ratio.ndim not in (0, 1) or (ratio.ndim == 1 and ratio.shape[0] != n):
    raise ValueError(f"ratio must be a scalar or one value per example "
                     f"({n}), got shape {ratio.shape}")
  if spec.needs_saliency:
    if saliency is None:
      raise ValueError(f"mask attack {name!r} needs saliency [B, H, W]")
    if tuple(saliency.shape) != (n, height, width):
      raise ValueError(f"saliency must be [B, H, W] = {(n, height, width)}, "
                       f"got {tuple(saliency.shape)}")
  else:
    saliency = jnp.zeros((n, 1, 1), jnp.float32)  # unused placeholder
  fn = lambda k, r, s: spec.fn(k, r, s, (height, width))
  # A shared ratio stays unbatched: a scalar square side keeps alpha's window
  # sums as slices rather than gathers.
  return jax.vmap(fn, in_axes=(0, 0 if ratio.ndim else None, 0))(
      keys, ratio, saliency)


def mask_images(name: str, key: jax.Array, images: jax.Array, ratio,
                saliency: Optional[jax.Array] = None, fill: str = "zero",
                mean: Optional[Sequence[float]] = None) -> jax.Array:
  """Masks a batch ``[B, H, W, C]`` with attack ``name`` in one call.

  Per-example keys are ``jax.random.split(key, B)``; ``fill`` as in
  :func:`apply` (noise is drawn from a key folded from ``key``).
  """
  images = jnp.asarray(images)
  if images.ndim != 4:
    raise ValueError(f"images must be [B, H, W, C], got shape {images.shape}")
  keys = jax.random.split(key, images.shape[0])
  masks = batch_masks(name, keys, ratio, images.shape[1:3], saliency)
  noise_key = jax.random.fold_in(key, 0x6E6F6973) if fill == "noise" else None
  return apply(images, masks, fill=fill, mean=mean, key=noise_key)
