"""Benchmark: masks per second, mdr.masks (jitted JAX) vs vectorised NumPy.

  python experiments/bench_masks.py                  # B=1024 at 32x32 and 224x224
  python experiments/bench_masks.py --sizes=32 --rounds=9

For every mask type and image size, both implementations make masks for the
same batch (B images, one ratio) in interleaved rounds; the table gives the
median masks/s of each and their ratio (JAX / NumPy; > 1 means JAX is faster).
The NumPy baseline is an honest vectorised one: no per-image Python loops
(argpartition for pixel masks, a summed-area table and argmax for alpha).
Saliency for alpha / alpha_pixels is an input (random here): its cost is the
model's backward pass, measured in experiments/bench_train.py.

With --forward, also times the forward pass of a model from mdr.models on the
same batch (32x32 only), to compare the cost of masking with the model's.
"""

import statistics
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from mdr import masks

_BATCH = flags.DEFINE_integer("batch", 1024, "Images per batch.")
_SIZES = flags.DEFINE_list("sizes", ["32", "224"], "Image sides to test.")
_RATIO = flags.DEFINE_float("ratio", 0.1, "Share of pixels hidden.")
_ROUNDS = flags.DEFINE_integer("rounds", 7, "Interleaved timing rounds.")
_TYPES = flags.DEFINE_list("types", list(masks.REGISTRY), "Mask types.")
_FORWARD = flags.DEFINE_string(
    "forward", "", "Model name (mdr.models) whose forward pass at 32x32 to "
    "time for comparison, e.g. resnet_small; empty to skip.")


# ---------------------------------------------------------------- NumPy side.

def _np_k_smallest(values, k):
  out = np.zeros(values.shape, bool)
  if k > 0:
    idx = np.argpartition(values, k - 1, axis=1)[:, :k]
    np.put_along_axis(out, idx, True, axis=1)
  return out


def _np_squares(y, x, s, h, w):
  rows = np.arange(h)[None, :, None]
  cols = np.arange(w)[None, None, :]
  y, x = y[:, None, None], x[:, None, None]
  return (rows >= y) & (rows < y + s) & (cols >= x) & (cols < x + s)


def np_masks(name, rng, ratio, b, h, w, saliency):
  k = int(round(ratio * h * w))
  s = min(int(round(np.sqrt(ratio * h * w))), h, w)
  if name == "gamma":
    return _np_k_smallest(rng.random((b, h * w), np.float32), k).reshape(
        b, h, w)
  if name == "alpha_pixels":
    return _np_k_smallest(-saliency.reshape(b, -1), k).reshape(b, h, w)
  if name == "beta":
    y = rng.integers(0, h - s + 1, b)
    x = rng.integers(0, w - s + 1, b)
    return _np_squares(y, x, s, h, w)
  if name == "alpha":
    table = np.zeros((b, h + 1, w + 1), np.float32)
    table[:, 1:, 1:] = saliency.cumsum(1).cumsum(2)
    sums = (table[:, s:, s:] - table[:, :-s or None, s:]
            - table[:, s:, :-s or None] + table[:, :-s or None, :-s or None])
    best = sums.reshape(b, -1).argmax(1)
    y, x = np.divmod(best, w - s + 1)
    return _np_squares(y, x, s, h, w)
  raise ValueError(name)


# ---------------------------------------------------------------- timing.

def _time(fn):
  t = time.perf_counter()
  jax.block_until_ready(fn())
  return time.perf_counter() - t


def bench_size(size, b, ratio, rounds, types):
  rows = []
  key = jax.random.key(0)
  keys = jax.random.split(key, b)
  saliency = jax.random.uniform(jax.random.key(1), (b, size, size))
  saliency_np = np.asarray(saliency)
  rng = np.random.default_rng(0)
  r = jnp.float32(ratio)
  for name in types:
    fn = jax.jit(lambda keys, r, sal, name=name: masks.batch_masks(
        name, keys, r, (size, size), sal if masks.get(name).needs_saliency
        else None))
    jax_call = lambda: fn(keys, r, saliency)
    np_call = lambda: np_masks(name, rng, ratio, b, size, size, saliency_np)
    got, want = np.asarray(jax_call()), np_call()  # warm-up and compile
    assert (got.sum((1, 2)) == want.sum((1, 2))).all(), name
    t_jax, t_np = [], []
    for _ in range(rounds):
      t_np.append(_time(np_call))
      t_jax.append(_time(jax_call))
    rows.append((name, size, b / statistics.median(t_np),
                 b / statistics.median(t_jax)))
  return rows


def forward_time(model_name, b, rounds):
  from mdr import models  # pylint: disable=g-import-not-at-top
  model = models.get(model_name, num_classes=10)
  x = jnp.zeros((b, 32, 32, 3), jnp.float32)
  variables = model.init(jax.random.key(0), x[:1], train=False)
  fwd = jax.jit(lambda v, x: model.apply(v, x, train=False))
  _time(lambda: fwd(variables, x))
  return statistics.median(_time(lambda: fwd(variables, x))
                           for _ in range(rounds))


def main(_):
  print(f"backend={jax.default_backend()} devices={jax.device_count()} "
        f"B={_BATCH.value} ratio={_RATIO.value} rounds={_ROUNDS.value} "
        f"(medians)")
  rows = []
  for size in _SIZES.value:
    rows += bench_size(int(size), _BATCH.value, _RATIO.value, _ROUNDS.value,
                       _TYPES.value)
  print()
  print("| mask | size | NumPy masks/s | JAX masks/s | JAX / NumPy |")
  print("|---|---|---:|---:|---:|")
  for name, size, np_rate, jax_rate in rows:
    print(f"| {name} | {size}x{size} | {np_rate:,.0f} | {jax_rate:,.0f} | "
          f"{jax_rate / np_rate:.2f} |")
  if _FORWARD.value:
    t_fwd = forward_time(_FORWARD.value, _BATCH.value, _ROUNDS.value)
    print()
    print(f"forward pass of {_FORWARD.value}, B={_BATCH.value} at 32x32: "
          f"{t_fwd * 1e3:.1f} ms")
    print("| mask | mask time / forward time |")
    print("|---|---:|")
    for name, size, _, jax_rate in rows:
      if size == 32:
        print(f"| {name} | {_BATCH.value / jax_rate / t_fwd:.3f} |")


if __name__ == "__main__":
  app.run(main)
