"""The embedded synthetic dataset: 10 shapes on noisy backgrounds."""

from __future__ import annotations

import time

import numpy as np

from mdr.data.types import _log_split
from mdr.data.types import _make_dataset
from mdr.data.types import DataError
from mdr.data.types import Dataset
from mdr.data.types import Split

SYNTHETIC_CLASSES = (
    "disc", "square", "triangle", "ring", "plus", "diagonal cross",
    "horizontal bars", "vertical bars", "diagonal stripes", "checkerboard")
_SYNTH_SIZE = 32


def _shape_masks(label: int, dy: np.ndarray, dx: np.ndarray,
                 py: np.ndarray, px: np.ndarray, period: np.ndarray,
                 thick: np.ndarray, flip: np.ndarray) -> np.ndarray:
  """Foreground masks ``[n, S, S]`` of one class.

  ``dy, dx``: offsets from the centre in units of the shape's half-size;
  ``py, px``: the same in pixels (stripe phase included); ``period``,
  ``thick``, ``flip``: per-image stripe period (pixels), stroke half-width
  (half-size units) and orientation switch, all broadcast as ``[n, 1, 1]``.
  """
  box = np.maximum(np.abs(dx), np.abs(dy))
  if label == 0:  # disc
    return dx * dx + dy * dy <= 0.85
  if label == 1:  # square
    return box <= 0.75
  if label == 2:  # triangle, apex up, down, left or right
    along = np.where(flip % 2 == 0, dy, dx)
    across = np.where(flip % 2 == 0, dx, dy)
    along = np.where(flip >= 2, -along, along)
    return (along >= -0.9) & (along <= 0.75) & (
        np.abs(across) <= (along + 0.9) * 0.6)
  if label == 3:  # ring
    d2 = dx * dx + dy * dy
    return (d2 <= 1.0) & (d2 >= 0.36)
  if label == 4:  # plus
    return ((np.abs(dx) <= thick) | (np.abs(dy) <= thick)) & (box <= 0.9)
  if label == 5:  # diagonal cross (an X)
    return ((np.abs(dx - dy) <= 1.4 * thick) |
            (np.abs(dx + dy) <= 1.4 * thick)) & (box <= 0.8)
  stripe = lambda t: (np.floor(t / period) % 2) == 0
  if label == 6:  # horizontal bars
    return stripe(py) & (box <= 0.85)
  if label == 7:  # vertical bars
    return stripe(px) & (box <= 0.85)
  if label == 8:  # diagonal stripes, either diagonal
    return stripe(np.where(flip % 2 == 0, px + py, px - py) / 1.4) & (
        box <= 0.85)
  if label == 9:  # checkerboard
    return ((np.floor(px / period) + np.floor(py / period)) % 2 == 0) & (
        box <= 0.85)
  raise ValueError(f"no synthetic class {label}")


def _draw_shapes(rng: np.random.Generator, n: int) -> tuple[np.ndarray,
                                                              np.ndarray]:
  """``n`` synthetic images (uint8 ``[n, 32, 32, 3]``) and labels (int32)."""
  s = _SYNTH_SIZE
  k = len(SYNTHETIC_CLASSES)
  labels = rng.permutation(np.arange(n) % k).astype(np.int32)
  half = rng.uniform(6.0, 12.0, n)  # half-size in pixels
  margin = 0.8 * half
  cy = rng.uniform(margin, s - margin)
  cx = rng.uniform(margin, s - margin)
  period = rng.integers(2, 5, n).astype(np.float64)  # stripe width, pixels
  phase = rng.uniform(0.0, 1.0, (n, 2)) * period[:, None] * 2
  thick = rng.uniform(0.2, 0.35, n)
  flip = rng.integers(0, 4, n)
  # Colours: background uniform, foreground shifted from it by 48..208 per
  # channel (mod 256), so both are uniform and alike in distribution: colour
  # and mean intensity carry no class information, contrast stays visible.
  bg = rng.uniform(0.0, 256.0, (n, 3)).astype(np.float32)
  fg = (bg + rng.uniform(48.0, 208.0, (n, 3)).astype(np.float32)) % 256.0
  # Low-frequency background shading and pixel noise.
  grad = rng.normal(0.0, 20.0, (n, 2, 3)).astype(np.float32)
  noise_sd = rng.uniform(8.0, 24.0, n).astype(np.float32)

  images = np.empty((n, s, s, 3), np.uint8)
  grid = (np.arange(s, dtype=np.float64) + 0.5)
  for lo in range(0, n, 2048):
    sl = slice(lo, min(n, lo + 2048))
    m = sl.stop - sl.start
    col = lambda a: a[sl, None, None]  # [m, 1, 1]
    py = grid[None, :, None] - col(cy)  # [m, S, 1]
    px = grid[None, None, :] - col(cx)  # [m, 1, S]
    py, px = np.broadcast_arrays(py, px)
    dy, dx = py / col(half), px / col(half)
    mask = np.zeros((m, s, s), bool)
    for label in range(k):
      sel = np.nonzero(labels[sl] == label)[0]
      if sel.size:
        mask[sel] = _shape_masks(
            label, dy[sel], dx[sel], py[sel] + col(phase[:, 0])[sel],
            px[sel] + col(phase[:, 1])[sel], col(period)[sel],
            col(thick)[sel], col(flip)[sel])
    ramp = ((grid - s / 2) / s).astype(np.float32)  # [-0.5, 0.5]
    shade = (ramp[None, :, None, None] * grad[sl, None, None, 0] +
             ramp[None, None, :, None] * grad[sl, None, None, 1])
    img = np.where(mask[..., None], fg[sl, None, None], bg[sl, None, None])
    img = img + shade + rng.standard_normal(
        (m, s, s, 3), dtype=np.float32) * noise_sd[sl, None, None, None]
    images[sl] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
  return images, labels


def synthetic(num_train: int = 10000, num_test: int = 2000,
              seed: int = 0) -> Dataset:
  """The embedded synthetic dataset: 10 shapes on noisy backgrounds.

  32x32 RGB. Each image holds one shape (class names in
  ``SYNTHETIC_CLASSES``) at a random position and size, in a random colour on
  a random background colour with shading and noise. Colours are drawn the
  same way for every class, so only the spatial structure tells the class
  apart. Classes are balanced (counts differ by at most one). Train and test
  come from independent streams derived from ``seed``.

  Args:
    num_train: train split size (>= 1).
    num_test: test split size (>= 1).
    seed: generator seed (>= 0).

  Returns:
    The ``Dataset``, named ``"synthetic"``.
  """
  for key, value in (("synthetic_train", num_train),
                     ("synthetic_test", num_test)):
    if value < 1:
      raise DataError(f"config.data.{key} must be >= 1, got {value}")
  splits = {}
  for i, (split, n) in enumerate((("train", num_train), ("test", num_test))):
    start = time.perf_counter()
    rng = np.random.default_rng([int(seed), i])
    splits[split] = Split(*_draw_shapes(rng, n))
    _log_split("synthetic", split, splits[split], len(SYNTHETIC_CLASSES),
               time.perf_counter() - start)
  return _make_dataset("synthetic", splits["train"], splits["test"],
                       SYNTHETIC_CLASSES)
