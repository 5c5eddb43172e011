"""PatchCleanser (Xiang et al. 2022) at native resolution.

Mask set (``mask_set``): for image side N, patch side p and k masks per axis,
stride s = ceil((N − p + 1) / k), mask side m = min(p + s − 1, N), positions
``range(0, N − m + 1, s)`` plus N − m when (N − m) is not a multiple of s (the
reference's ``gen_mask_set``); the masks are the products of the positions on
the two axes. Every p×p patch anywhere lies inside at least one mask (tested
exhaustively for every N ≤ 32, p ≤ N/2, k ≤ 6).

A mask hides its square with one fixed ``fill`` (the value the model was
trained with: zero for mdr's masked and mixed models). The two-mask
prediction map of an image holds the prediction on every pair of masks (the
union of the two squares hidden; the diagonal is one mask). ``certify``:
every entry equals the label (two-mask correctness, the reference's
``certify_precomputed``). ``double_masking``: the reference's
``double_masking_precomputed`` — unanimous one-mask predictions (case I);
else, for the masks that disagree with the majority in index order, the
first whose two-mask row is unanimous for its own label (case II); else the
majority (case III). The majority's ties go to the smallest label (the
reference's order is unspecified there: a deliberate choice).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np


def positions(n: int, p: int, k: int = 6, stride: int | None = None):
  """``(mask side, [positions])`` on one axis of length ``n``."""
  if not 1 <= p <= n:
    raise ValueError(f"patch side must be in [1, {n}], got {p}")
  if stride is None:
    if not isinstance(k, int) or k < 1:
      raise ValueError(f"k (masks per axis) must be an integer >= 1, got {k}")
    stride = math.ceil((n - p + 1) / k)
  if not isinstance(stride, int) or stride < 1:
    raise ValueError(f"stride must be an integer >= 1, got {stride}")
  m = min(p + stride - 1, n)
  pos = list(range(0, n - m + 1, stride))
  if (n - m) % stride:
    pos.append(n - m)
  return m, pos


def mask_set(height: int, width: int, p: int, k: int = 6,
             stride: int | None = None) -> np.ndarray:
  """Bool ``[M, H, W]``, True where a mask hides pixels (row-major order of
  the positions: the first axis outer, as the reference)."""
  mh, ph = positions(height, p, k, stride)
  mw, pw = positions(width, p, k, stride)
  out = np.zeros((len(ph) * len(pw), height, width), bool)
  for i, (y, x) in enumerate((y, x) for y in ph for x in pw):
    out[i, y:y + mh, x:x + mw] = True
  return out


def hide(images, masks, fill=0.0):
  """``images [B, H, W, C]`` with the pixels of ``masks [B, H, W]`` set to
  ``fill`` (a scalar or per-channel values)."""
  return jnp.where(masks[..., None], jnp.asarray(fill, images.dtype), images)


def pairs(num_masks: int):
  """``(i, j)`` of the upper triangle, diagonal included: M(M+1)/2 pairs."""
  i, j = np.triu_indices(num_masks)
  return i, j


def prediction_map(logits_fn, images, masks, fill=0.0, chunk: int = 64):
  """Int ``[B, M, M]``: the prediction on every two-mask copy of each image
  (M(M+1)/2 forward passes per image, the upper triangle, mirrored)."""
  masks = jnp.asarray(masks)
  m = masks.shape[0]
  ii, jj = pairs(m)
  union = masks[ii] | masks[jj]                      # [P, H, W]
  b = images.shape[0]
  preds = []
  for start in range(0, len(ii), chunk):
    u = union[start:start + chunk]                   # [c, H, W]
    x = hide(jnp.repeat(images, len(u), 0),
             jnp.tile(u, (b, 1, 1)), fill)
    preds.append(jnp.argmax(logits_fn(x), -1).reshape(b, len(u)))
  flat = jnp.concatenate(preds, 1)                   # [B, P]
  full = jnp.zeros((b, m, m), flat.dtype)
  full = full.at[:, ii, jj].set(flat)
  return full.at[:, jj, ii].set(flat)


def certify(pred_map, labels):
  """Bool ``[B]``: every two-mask prediction equals the label."""
  return jnp.all(pred_map == labels[:, None, None], axis=(1, 2))


def double_masking(pred_map):
  """``(prediction [B], case [B])`` from two-mask prediction maps ``[B, M,
  M]`` (case 1, 2 or 3: see the module docstring)."""
  pred_map = np.asarray(pred_map)
  b = pred_map.shape[0]
  out, case = np.zeros(b, int), np.zeros(b, int)
  for n in range(b):
    out[n], case[n] = _double_masking_one(pred_map[n])
  return out, case


def _double_masking_one(pm):
  one = np.diag(pm)
  labels, counts = np.unique(one, return_counts=True)   # labels ascending
  if len(labels) == 1:
    return int(labels[0]), 1
  majority = int(labels[np.argmax(counts)])   # first maximum: smallest label
  for i in np.nonzero(one != majority)[0]:
    if np.all(pm[i] == one[i]):
      return int(one[i]), 2
  return majority, 3


def passes(num_masks: int) -> int:
  """Forward passes the certificate needs per image: M(M+1)/2."""
  return num_masks * (num_masks + 1) // 2


__all__ = ["positions", "mask_set", "hide", "pairs", "prediction_map",
           "certify", "double_masking", "passes"]
