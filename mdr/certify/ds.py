"""Column de-randomized smoothing (Levine & Feizi 2020) at native resolution.

Ablation (``ablate``): keep the ``b`` columns ``pos … pos + b − 1`` (wrapping
at the right edge) and encode the image in 6 channels, ``(x·keep,
(1 − x)·keep)``: a kept pixel's two halves sum to 1, an ablated one is (0, 0),
which no real pixel gives. A base model takes the 6 channels.

Smoothing (``votes``): the model on all W band positions; each position
votes for every class whose softmax is at least ``theta`` (0.2 in the
reference; ``theta=None``: one vote, for the argmax). The prediction is the
class with most votes, ties to the smaller index. A patch of width ``p``
touches Δ = min(p + b − 1, W) band positions; each can move one vote from
the winner and give one to the runner-up, so the prediction is certified iff
``n1 − n2 > 2Δ``, or ``n1 − n2 == 2Δ`` and the winner's index is the
smaller (the reference's ``predict_and_certify``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def keep(pos, b: int, width: int):
  """Bool ``[width]``: the columns band ``pos`` keeps (wrapping)."""
  return jnp.mod(jnp.arange(width) - pos, width) < b


def _columns(images, pos, b: int):
  """``[1 or B, 1, W, 1]`` in ``images``' dtype: 1 on the kept columns of
  band ``pos`` (one position, or ``[B]``: one per image)."""
  width = images.shape[2]
  pos = jnp.asarray(pos)
  k = jnp.mod(jnp.arange(width) - pos[..., None], width) < b
  return k.astype(images.dtype).reshape(-1, 1, width, 1)


def ablate(images, pos, b: int):
  """``images [B, H, W, C]`` in [0, 1] -> ``[B, H, W, 2C]``: the band at
  ``pos`` (one position, or ``[B]``: one per image) kept in the ``(x, 1 −
  x)`` encoding, every other column (0, 0)."""
  k = _columns(images, pos, b)
  return jnp.concatenate([images * k, (1 - images) * k], -1)


def zero_fill(images, pos, b: int):
  """``[B, H, W, C]``: the band at ``pos`` kept as it is, every other column
  0 (a model that takes C channels; the certificate holds all the same, as
  the copy depends on the band's pixels only)."""
  return images * _columns(images, pos, b)


ABLATIONS = {"ds": ablate, "zero": zero_fill}


def encode(images):
  """The 6-channel encoding with nothing ablated (for training code)."""
  return jnp.concatenate([images, 1 - images], -1)


def band_logits(logits_fn, images, b: int, ablation=ablate):
  """``[W, B, K]``: the model on every band position (W passes);
  ``ablation`` makes each copy (``ablate``: the 6-channel encoding;
  ``zero_fill``: C channels, the rest 0)."""
  width = images.shape[2]
  return jax.lax.map(lambda pos: logits_fn(ablation(images, pos, b)),
                     jnp.arange(width))


def votes(logits, theta=0.2):
  """Int ``[B, K]`` votes from ``[W, B, K]`` band logits: per band, one vote
  for every class with softmax >= ``theta``, or (``theta=None``) one vote
  for the argmax."""
  k = logits.shape[-1]
  if theta is None:
    return jax.nn.one_hot(jnp.argmax(logits, -1), k, dtype=jnp.int32).sum(0)
  p = jax.nn.softmax(logits.astype(jnp.float32), -1)
  return (p >= theta).astype(jnp.int32).sum(0)


def delta(p: int, b: int, width: int) -> int:
  """Band positions a patch of width ``p`` can touch: min(p + b − 1, W)."""
  return min(p + b - 1, width)


def top_two(v):
  """``(n1, i1, n2, i2)``: the two largest vote counts and their classes,
  sorted by count descending and class ascending (ties: smaller first)."""
  k = v.shape[-1]
  key = v * k + (k - 1 - jnp.arange(k))      # count, then smaller index
  order = jnp.argsort(-key, axis=-1)
  i1, i2 = order[..., 0], order[..., 1]
  take = lambda i: jnp.take_along_axis(v, i[..., None], -1)[..., 0]
  return take(i1), i1, take(i2), i2


def certified(v, p: int, b: int, width: int):
  """Bool ``[B]``: the smoothed prediction of votes ``v [B, K]`` cannot be
  changed by a patch of width ``p``."""
  n1, i1, n2, i2 = top_two(v)
  gap, d2 = n1 - n2, 2 * delta(p, b, width)
  return (gap > d2) | ((gap == d2) & (i1 < i2))


def predict(v):
  """Int ``[B]``: most votes, ties to the smaller class."""
  return jnp.argmax(v, -1)


def smooth(logits_fn, images, *, b: int = 4, theta=0.2, ablation=ablate):
  """``(prediction [B], votes [B, K])`` of the smoothed classifier."""
  v = votes(band_logits(logits_fn, images, b, ablation), theta)
  return predict(v), v


def certify(logits_fn, images, labels, *, p: int, b: int = 4, theta=0.2,
            ablation=ablate):
  """``(prediction, certified and correct)`` per image: W passes each."""
  pred, v = smooth(logits_fn, images, b=b, theta=theta, ablation=ablation)
  return pred, (pred == labels) & certified(v, p, b, images.shape[2])
