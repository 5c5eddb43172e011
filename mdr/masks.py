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
# Random bits: jax.random.bits, computed so that XLA vectorises it on CPU.
# ----------------------------------------------------------------------------

_THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _threefry2x32(k0, k1, x0, x1):
  """Threefry-2x32 with 20 rounds (Salmon et al. 2011), as in ``jax.random``.

  Written with constant rotation amounts, which XLA's CPU backend vectorises;
  ``jax.random``'s own lowering is about 10x slower there.
  """
  k2 = k0 ^ k1 ^ jnp.uint32(0x1BD11BDA)
  ks = (k0, k1, k2)
  x0, x1 = x0 + k0, x1 + k1
  for i in range(5):
    for r in _THREEFRY_ROTATIONS[i % 2]:
      x0 = x0 + x1
      x1 = (x1 << jnp.uint32(r)) | (x1 >> jnp.uint32(32 - r))
      x1 = x0 ^ x1
    x0 = x0 + ks[(i + 1) % 3]
    x1 = x1 + ks[(i + 2) % 3] + jnp.uint32(i + 1)
  return x0, x1


_BITS_CHUNK = 8192  # random bits are made this many at a time


def _random_bits(key: jax.Array, n: int) -> jax.Array:
  """Exactly ``jax.random.bits(key, (n,), jnp.uint32)``, faster on CPU.

  For a threefry key under ``jax_threefry_partitionable`` (JAX's default),
  the bits are computed here with the same counters and cipher; any other key
  type or setting goes to ``jax.random.bits`` itself. Either way the masks of
  a key are the ones ``jax.random.bits`` defines.
  """
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    impl, data = str(jax.random.key_impl(key)), jax.random.key_data(key)
  else:  # a raw uint32[2] key of the default implementation
    impl, data = str(jax.config.jax_default_prng_impl), key
  if (impl != "threefry2x32" or not jax.config.jax_threefry_partitionable
      or n >= 2**32 or data.shape != (2,)):
    return jax.random.bits(key, (n,), jnp.uint32)
  data = data.astype(jnp.uint32)

  def bits(start, size):
    counter = start + jnp.arange(size, dtype=jnp.uint32)  # the high word: 0
    bits0, bits1 = _threefry2x32(data[0], data[1], jnp.zeros_like(counter),
                                 counter)
    return bits0 ^ bits1

  if n < 2:
    return bits(jnp.uint32(0), n)
  # Made in a loop over (at least two) chunks, so that the bits are an array
  # in memory: XLA would otherwise fuse the cipher into each of their uses
  # (every count of the search, the final mask) and recompute it each time.
  size = min(_BITS_CHUNK, -(-n // 2))
  chunks = -(-n // size)

  def chunk(i, out):
    start = (i * size).astype(jnp.uint32)
    return jax.lax.dynamic_update_slice(out, bits(start, size), (i * size,))

  out = jax.lax.fori_loop(0, chunks, chunk,
                          jnp.zeros((chunks * size,), jnp.uint32))
  return out[:n]


# ----------------------------------------------------------------------------
# Exact k-smallest selection on uint32 keys, without a sort.
# ----------------------------------------------------------------------------

_I32_MIN = int(np.iinfo(np.int32).min)
_I32_MAX = int(np.iinfo(np.int32).max)
_SAMPLE = 2048  # pixels in the strided sample that brackets non-uniform keys
_LOOP_PIXELS = 16384  # "large" images: at least this many pixels (128 x 128)


_U32_FLOAT_MAX = 2.0**32 - 256  # the largest float32 below 2**32


def _as_uint(x):
  return jax.lax.bitcast_convert_type(x, jnp.uint32)


def _as_int(x):
  return jax.lax.bitcast_convert_type(x, jnp.int32)


def _count_le(keys: jax.Array, t: jax.Array) -> jax.Array:
  """How many ``keys`` (flat, or ``[n / 32, 32]`` blocks) are ``<= t``."""
  if keys.ndim == 2:  # a sum per block first: faster for small batched images
    return jnp.sum(jnp.sum(keys <= t, axis=1, dtype=jnp.int32))
  return jnp.sum(keys <= t, dtype=jnp.int32)


def _blocked(keys):
  """Small images (usually many under vmap) count faster by blocks of 32:
  ``[n / 32, 32]``, padded with the largest key (which changes no count:
  thresholds stay below it). Large images stay flat."""
  n = keys.shape[0]
  if n >= _LOOP_PIXELS:
    return keys
  return jnp.pad(keys, (0, -n % 32), constant_values=_I32_MAX).reshape(-1, 32)


def _search(keys, k, lo_guess, hi_guess):
  """The k-th smallest of int32 ``keys``, or a threshold splitting off k.

  Each step counts the keys ``<= t`` for one threshold ``t`` and keeps the
  bracket ``[lo, hi]`` that holds the k-th smallest key (with the counts
  below ``lo`` and up to ``hi``), starting from every int32. The first two
  thresholds are a guessed window's ends ``hi_guess`` and ``lo_guess - 1``:
  when the guess holds the k-th key, the bracket is then that window; when it
  does not, the steps were ordinary ones (a wrong guess costs steps, never
  exactness). Later thresholds are interpolated between the bracket's counts
  (the keys' distribution is locally smooth, so a few steps land within one
  key of the k-th), or the bracket's midpoint after an interpolated step
  that did not halve it (at most twice a bisection's steps). Stops as soon
  as a threshold splits off exactly k keys.

  Returns ``(t, found)``: ``found`` means ``keys <= t`` are exactly the k
  smallest; otherwise ``t`` is the k-th smallest key, shared by ties.
  """
  n = keys.shape[0]
  keys = _blocked(keys)
  lo_guess = jnp.asarray(lo_guess, jnp.int32)
  hi_guess = jnp.asarray(hi_guess, jnp.int32)

  def step(state):
    lo, hi, below_lo, upto_hi, _, bisect, i = state
    span = _as_uint(hi - lo)  # hi - lo, exact in two's complement
    share = ((k - below_lo).astype(jnp.float32)
             / (upto_hi - below_lo).astype(jnp.float32))
    guess = jnp.clip(jnp.floor(span.astype(jnp.float32) * share), 0,
                     _U32_FLOAT_MAX).astype(jnp.uint32)
    offset = jnp.where(bisect, span >> 1, jnp.minimum(guess, span - 1))
    scheduled = (((i == 0) & (hi_guess != _I32_MAX))
                 | ((i == 1) & (lo_guess != _I32_MIN)))
    t = jnp.where(scheduled, jnp.where(i == 0, hi_guess, lo_guess - 1),
                  lo + _as_int(offset))
    t = jnp.clip(t, lo, hi - 1)  # a guess outside the bracket: its edge
    count = _count_le(keys, t)
    found = count == k
    low = count < k
    new_lo = jnp.where(found, t, jnp.where(low, t + 1, lo))
    new_hi = jnp.where(found | ~low, t, hi)
    halved = _as_uint(new_hi - new_lo) <= (span >> 1)
    return (new_lo, new_hi, jnp.where(low, count, below_lo),
            jnp.where(low, upto_hi, count), found,
            ~halved & ~bisect & (i >= 2), i + 1)

  def searching(state):
    lo, hi, _, _, found, _, _ = state
    return ~found & (lo < hi)

  lo, _, _, _, found, _, _ = jax.lax.while_loop(
      searching, step, (jnp.int32(_I32_MIN), jnp.int32(_I32_MAX),
                        jnp.int32(0), jnp.int32(n), jnp.bool_(False),
                        jnp.bool_(False), jnp.int32(0)))
  return lo, found


def _bisect(keys, k):
  """``_search`` without a guess: a bisection over every int32, with only the
  state it needs (the fastest for many small images under vmap)."""
  keys = _blocked(keys)

  def searching(state):
    lo, hi, found = state
    return ~found & (lo < hi)

  def step(state):  # invariant: the k-th smallest key is in [lo, hi]
    lo, hi, _ = state
    mid = (lo >> 1) + (hi >> 1) + (lo & hi & 1)  # floor((lo + hi) / 2)
    count = _count_le(keys, mid)
    found = count == k  # keys <= mid are exactly the k smallest: stop early
    lo = jnp.where(found, mid, jnp.where(count >= k, lo, mid + 1))
    return lo, jnp.where(count >= k, mid, hi), found

  lo, _, found = jax.lax.while_loop(
      searching, step, (jnp.int32(_I32_MIN), jnp.int32(_I32_MAX),
                        jnp.bool_(False)))
  return lo, found


def _uniform_window(n: int, k: jax.Array):
  """A window that holds the k-th smallest of n uniform 32-bit keys w.h.p.

  The k-th smallest of n uniform draws has mean ~ k/n * 2**32 and standard
  deviation ~ sqrt(k (n - k)) / n**1.5 * 2**32; the window is 8 of them (and
  at least 2 keys' spacing) either side, as signed keys.
  """
  kf = k.astype(jnp.float32)
  p = kf / n
  sd = (jnp.sqrt(kf * (1 - p)) + 2) / n * 2.0**32
  centre = p * 2.0**32 - 2.0**31
  clip = lambda x: jnp.clip(x, -2.0**31, 2.0**31 - 256).astype(jnp.int32)
  return clip(centre - 8 * sd), clip(centre + 8 * sd)


def _sampled_window(keys: jax.Array, k: jax.Array):
  """A window for the k-th smallest key from a strided sample of the keys.

  The sample's order statistics 6 binomial standard deviations either side
  of rank ``k * m / n`` bracket the k-th smallest of all keys unless the
  keys' order is aligned with the stride; ``_search`` checks it.
  """
  n = keys.shape[0]
  stride = max(1, n // _SAMPLE)
  sample = keys[::stride]
  m = sample.shape[0]
  p = k.astype(jnp.float32) / n
  sd = jnp.sqrt(m * p * (1 - p)) + 2
  rank = lambda r: jnp.clip(r, 1, m).astype(jnp.int32)
  r_lo, r_hi = rank(jnp.floor(m * p - 6 * sd)), rank(jnp.ceil(m * p + 6 * sd))
  # A bisection: the sample's keys may be far from uniform (float bits).
  full = lambda r: _bisect(sample, r)[0]
  lo = jnp.where(m * p - 6 * sd < 1, _I32_MIN, full(r_lo))
  hi = jnp.where(m * p + 6 * sd > m, _I32_MAX, full(r_hi))
  return lo, hi


def _smallest_k(values: jax.Array, k: jax.Array,
                uniform: bool = False) -> jax.Array:
  """Boolean mask of the ``k`` smallest entries of a flat uint32 array.

  Exactly ``min(k, n)`` entries are selected for any ``k``, ties included:
  equal values are taken in index order (a stable sort's order). ``k`` may
  be traced. No sort (slow on CPU backends) and no scatter: a guessed window
  (``uniform``: the spread of the k-th of n uniform draws; otherwise a
  strided sample's order statistics), checked with two counts, then
  interpolation steps, each one compare-and-count over the array, until a
  threshold splits off exactly k keys or the k-th key is found (its ties
  are then resolved by index). A wrong guess costs time, never exactness.
  """
  n = values.shape[0]
  k = jnp.clip(jnp.asarray(k, jnp.int32), 0, n)
  # Signed order of (bits ^ 0x80000000) is the unsigned order of bits.
  keys = jax.lax.bitcast_convert_type(
      values.astype(jnp.uint32) ^ jnp.uint32(0x80000000), jnp.int32)
  if n < _LOOP_PIXELS:
    # Small images, usually many under vmap, whose while loop runs until the
    # slowest example is done: a plain bisection has the fewest worst-case
    # steps there (measured on CPU).
    t, found = _bisect(keys, k)
  else:
    lo, hi = _uniform_window(n, k) if uniform else _sampled_window(keys, k)
    t, found = _search(keys, k, lo, hi)
  below = jnp.where(found, keys <= t, keys < t)
  equal = ~found & (keys == t)
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
  bits = _random_bits(key, height * width)
  return _smallest_k(bits, k, uniform=True).reshape(height, width)


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


def _cumsum_rows(x: jax.Array, block: int = 32) -> jax.Array:
  """Inclusive cumulative sum over axis -2, as blocked matmuls.

  ``_cumsum_last(x.T).T`` without the transposes: the same products summed
  in the same order, faster on large images. On CPU the bits agree with the
  transposed form when both sides are at least 32 (a test checks); narrower
  shapes use the transposed form.
  """
  length = x.shape[-2]
  width = min(block, length)
  pad = -length % width
  xb = jnp.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, pad), (0, 0)])
  xb = xb.reshape(x.shape[:-2] + (-1, width, x.shape[-1]))
  tri = jnp.tril(jnp.ones((width, width), x.dtype))
  within = jnp.einsum("ij,...bjw->...biw", tri, xb,
                      precision=jax.lax.Precision.HIGHEST)
  if xb.shape[-3] > 1:
    totals = within[..., -1, :]
    offsets = jnp.cumsum(totals, axis=-2) - totals
    within = within + offsets[..., None, :]
  return within.reshape(x.shape[:-2] + (-1, x.shape[-1]))[..., :length, :]


def _summed_area_table(saliency: jax.Array) -> jax.Array:
  """The summed-area table ``[H, W]`` of a checked ``[H, W]`` saliency map.

  NaN counts as 0 and +-inf as a value no window sum can overflow past; the
  map's rounded mean is subtracted first: a constant shifts every window sum
  equally (same argmax), reduces cancellation in the table and keeps integer
  maps exact.
  """
  height, width = saliency.shape
  big = float(np.finfo(np.float32).max) / (4 * height * width)
  saliency = jnp.clip(jnp.nan_to_num(saliency, nan=0.0), -big, big)
  saliency = saliency - jnp.round(jnp.mean(saliency))
  if height * width >= _LOOP_PIXELS and min(height, width) >= 32:
    return _cumsum_rows(_cumsum_last(saliency))  # no transposes: faster
  return _cumsum_last(_cumsum_last(saliency).T).T


def _sums_from_table(table: jax.Array, s) -> jax.Array:
  """``window_sums`` (``[H + 1, W + 1]``) from the summed-area table
  ``[H, W]`` of :func:`_summed_area_table`."""
  height, width = table.shape
  s = jnp.asarray(s, jnp.int32)
  if height * width < _LOOP_PIXELS:  # small: slices of a zero-padded copy
    table = jnp.pad(table, ((1, height), (1, width)))  # [2H + 1, 2W + 1]
    size = (height + 1, width + 1)
    at = lambda dy, dx: jax.lax.dynamic_slice(table, (dy, dx), size)
    zero = jnp.zeros((), jnp.int32)
    sums = at(s, s) - at(zero, s) - at(s, zero) + at(zero, zero)
  else:  # large: rolls, 2x less memory traffic; the same terms, same bits
    table = jnp.pad(table, ((1, 0), (1, 0)))  # [H + 1, W + 1], zeros first
    # Shifted by s (wrapping around where a window would not fit, which the
    # last line masks): the four corners of every window in place.
    below = jnp.roll(table, -s, axis=0)
    sums = (jnp.roll(below, -s, axis=1) - jnp.roll(table, -s, axis=1)
            - below + table)
  rows = jnp.arange(height + 1)[:, None]
  cols = jnp.arange(width + 1)[None, :]
  fits = (rows <= height - s) & (cols <= width - s)
  return jnp.where(fits, sums, -jnp.inf)


def window_sums(saliency: jax.Array, s) -> jax.Array:
  """Sums of ``saliency`` over every ``s x s`` window, ``[H + 1, W + 1]``.

  Entry ``(y, x)`` is the sum of the window with top-left corner ``(y, x)``;
  windows that do not fit inside the image are ``-inf``. ``s`` may be traced.
  Computed from a summed-area table (float32): equal to direct sums up to
  float32 rounding. NaN saliency counts as 0; +-inf is clipped to a large
  finite value.
  """
  return _sums_from_table(_summed_area_table(_check_saliency(saliency)), s)


def _first_argmax(x: jax.Array) -> jax.Array:
  """``jnp.argmax`` of a flat array without NaN: the first maximum's index.

  Two reductions (the maximum, then the least index holding it) that XLA
  vectorises on CPU, where its argmax, one reduction over (value, index)
  pairs, takes ~4 ns an element.
  """
  idx = jnp.arange(x.shape[0], dtype=jnp.int32)
  return jnp.min(jnp.where(x == jnp.max(x), idx, x.shape[0]))


def _square_from_table(table: jax.Array, s, argmax=jnp.argmax) -> jax.Array:
  """alpha's mask from the summed-area table and the square's side."""
  height, width = table.shape
  best = argmax(_sums_from_table(table, s).reshape(-1))
  y, x = best // (width + 1), best % (width + 1)
  return _square_at(y, x, s, height, width)


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
  return _salient_square(saliency, ratio)


def _salient_square(saliency, ratio, argmax=jnp.argmax):
  saliency = _check_saliency(saliency)
  height, width = saliency.shape
  return _square_from_table(_summed_area_table(saliency),
                            side(ratio, height, width), argmax)


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

def _large_on_cpu(height: int, width: int) -> bool:
  """Whether batches of these images are masked in a loop over examples.

  On CPU, at ImageNet size, a loop over examples (``lax.map``) keeps each
  image's data in cache across the several passes a mask makes over it, and
  is a few times faster than ``vmap``, which makes every pass over the whole
  batch. Small images, and GPUs and TPUs, run the batch in parallel.
  """
  return height * width >= _LOOP_PIXELS and jax.default_backend() == "cpu"


# alpha goes through large batches on CPU four images at a time: ~1.6x
# faster at 224x224 than one at a time, and ~5x faster than all at once
# (bench_masks.py); gamma and alpha_pixels were slower that way, one at a time.
_ALPHA_GROUP = 4


def _each_example(fn, keys, ratio, saliency, loop: bool, group=None):
  """``fn(key, ratio, saliency)`` per example: ``vmap``, or (``loop``)
  ``lax.map``, over groups of ``group`` examples if given.

  A shared (scalar) ratio stays unbatched: a scalar square side keeps
  alpha's window sums as slices rather than gathers.
  """
  if not loop:
    return jax.vmap(fn, in_axes=(0, 0 if ratio.ndim else None, 0))(
        keys, ratio, saliency)
  if ratio.ndim:
    return jax.lax.map(lambda a: fn(*a), (keys, ratio, saliency),
                       batch_size=group)
  return jax.lax.map(lambda a: fn(a[0], ratio, a[1]), (keys, saliency),
                     batch_size=group)


def _pixels_batch(fn):
  """A pixel mask's batched form: exact integer work, so looping over
  examples (large images on CPU) gives the masks ``vmap`` gives."""
  def batch(keys, ratio, saliency, shape):
    return _each_example(lambda k, r, s: fn(k, r, s, shape), keys, ratio,
                         saliency, _large_on_cpu(*shape))
  return batch


def _alpha_batch(keys, ratio, saliency, shape):
  """alpha's batched form, identical to ``vmap`` of :func:`salient_square`.

  Large images on CPU: a few examples at a time, table and window sums in
  cache (about 5x faster than the batch at once at 224x224), the argmax as
  two reductions (faster there, slower under ``vmap`` of the whole batch).
  The table's bits do not depend on the batch (a test checks at 224x224).
  """
  if not _large_on_cpu(*shape):
    return _each_example(lambda k, r, s: salient_square(s, r), keys, ratio,
                         saliency, False)
  return _each_example(lambda k, r, s: _salient_square(s, r, _first_argmax),
                       keys, ratio, saliency, True, _ALPHA_GROUP)


@dataclasses.dataclass(frozen=True)
class MaskSpec:
  """A mask attack by name.

  ``fn(key, ratio, saliency, shape)`` returns one ``[H, W]`` mask; the
  attack uses ``key`` if random and ``saliency`` if it ``needs_saliency``.
  ``batch_fn(keys, ratio, saliency, shape)``, if given, returns the masks of
  a batch ``[B, H, W]``, identical to ``vmap`` of ``fn`` but faster;
  :func:`batch_masks` uses it.
  """
  name: str
  fn: Callable[..., jax.Array]
  needs_saliency: bool
  description: str
  batch_fn: Optional[Callable[..., jax.Array]] = None


_gamma = lambda k, r, s, hw: random_pixels(k, r, hw)
_alpha_pixels = lambda k, r, s, hw: salient_pixels(s, r)

REGISTRY: dict[str, MaskSpec] = {
    "alpha": MaskSpec("alpha", lambda k, r, s, hw: salient_square(s, r), True,
                      "most salient contiguous square", _alpha_batch),
    "beta": MaskSpec("beta", lambda k, r, s, hw: random_square(k, r, hw),
                     False, "random contiguous square"),
    "gamma": MaskSpec("gamma", _gamma, False, "random scattered pixels",
                      _pixels_batch(_gamma)),
    "alpha_pixels": MaskSpec("alpha_pixels", _alpha_pixels, True,
                             "most salient scattered pixels",
                             _pixels_batch(_alpha_pixels)),
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
  if spec.batch_fn is not None:
    return spec.batch_fn(keys, ratio, saliency, (height, width))
  return _each_example(lambda k, r, s: spec.fn(k, r, s, (height, width)),
                       keys, ratio, saliency, False)


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
