"""Benchmark: masks per second, mdr.masks (jitted JAX) vs vectorised NumPy.

  python -m experiments.bench_masks                       # 32x32 and 224x224
  python -m experiments.bench_masks --baseline=HEAD~3     # and an older mdr
  python -m experiments.bench_masks --sizes=32 --rounds=9 --step=""

For every registered mask and image size, the implementations make masks for
the same batch (``--batches``: B = 1024 at 32x32, 128 at 224x224; one ratio)
in interleaved rounds (the order rotating; a sample repeats a call for at
least 50 ms); the table gives the median masks/s of each and the ratio to NumPy (> 1 means JAX is faster). The NumPy baseline is an honest
vectorised one and is frozen: no per-image Python loops (argpartition for
the pixel masks, a summed-area table and argmax for alpha).

``--baseline=REV`` also times ``mdr/masks.py`` as it was at git revision REV,
loaded from git into its own module, in the same rounds: before and after
side by side in one run, with whether the two compile to the same program
(instructions equal up to names and source lines: then any difference in
their speed is the machine's noise). Every implementation's masks are checked
to hide the same number of pixels as NumPy's, and the baseline's to equal the
current masks exactly (same keys, same saliency).

Saliency for alpha / alpha_pixels is an input (uniform random here): its cost
is the model's backward pass, measured in experiments/bench_train.py.

``--step=resnet50`` (default) times, at 224x224, a jitted step that masks the
batch and runs a ResNet-50 forward pass (He et al. 2016: bottleneck blocks
[3, 4, 6, 3], ImageNet stem; defined here for timing only, random weights)
against the forward pass alone, and reports what the mask adds as a share of
the forward pass: both the mask alone (its time / the forward's) and inside
the step ((step - forward) / forward, noisier).
"""

import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from experiments.specs import benchmarks
from mdr import masks

_BATCHES = flags.DEFINE_list(
    "batches", ["32:1024", "224:128"],
    "size:batch pairs: the image sides to test and the batch at each.")
_SIZES = flags.DEFINE_list("sizes", [], "Only these sides of --batches.")
_RATIO = flags.DEFINE_float("ratio", 0.1, "Share of pixels hidden.")
_ROUNDS = flags.DEFINE_integer("rounds", 7, "Interleaved timing rounds.")
_TYPES = flags.DEFINE_list("types", list(masks.REGISTRY), "Mask types.")
_BASELINE = flags.DEFINE_string(
    "baseline", "", "A git revision whose mdr/masks.py to time beside the "
    "current one (e.g. HEAD~1); empty to skip.")
_PAIRED = flags.DEFINE_integer(
    "paired", 0, "With --baseline: also time this many alternating pairs of "
    "single calls (current, baseline) per mask and print the median of the "
    "per-pair speed ratios, a finer before/after than the rounds.")
_STEP = flags.DEFINE_string(
    "step", "resnet50", "Model of the jitted-step comparison at 224x224 "
    "('resnet50'); empty to skip.")
_STEP_BATCH = flags.DEFINE_integer("step_batch", 32, "Batch of the step "
                                   "comparison.")
_STEP_ROUNDS = flags.DEFINE_integer("step_rounds", 5, "Rounds of the step "
                                    "comparison.")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def _np_random_pixels(rng, k, s, b, h, w, saliency):
  del s, saliency
  return _np_k_smallest(rng.random((b, h * w), np.float32), k).reshape(
      b, h, w)


def _np_salient_pixels(rng, k, s, b, h, w, saliency):
  del rng, s
  return _np_k_smallest(-saliency.reshape(b, -1), k).reshape(b, h, w)


def _np_random_square(rng, k, s, b, h, w, saliency):
  del k, saliency
  y = rng.integers(0, h - s + 1, b)
  x = rng.integers(0, w - s + 1, b)
  return _np_squares(y, x, s, h, w)


def _np_salient_square(rng, k, s, b, h, w, saliency):
  del rng, k
  table = np.zeros((b, h + 1, w + 1), np.float32)
  table[:, 1:, 1:] = saliency.cumsum(1).cumsum(2)
  sums = (table[:, s:, s:] - table[:, :-s or None, s:]
          - table[:, s:, :-s or None] + table[:, :-s or None, :-s or None])
  best = sums.reshape(b, -1).argmax(1)
  y, x = np.divmod(best, w - s + 1)
  return _np_squares(y, x, s, h, w)


# The NumPy baselines, by the kind ``specs.benchmarks.NUMPY_MASKS`` gives
# each mask.
NUMPY_BASELINES = {
    "random_pixels": _np_random_pixels,
    "salient_pixels": _np_salient_pixels,
    "random_square": _np_random_square,
    "salient_square": _np_salient_square,
}


def np_masks(name, rng, ratio, b, h, w, saliency):
  """The NumPy baseline's masks [b, h, w] of mask ``name``."""
  k = int(round(ratio * h * w))
  s = min(int(round(np.sqrt(ratio * h * w))), h, w)
  if name not in benchmarks.NUMPY_MASKS:
    raise ValueError(name)
  return NUMPY_BASELINES[benchmarks.NUMPY_MASKS[name]](rng, k, s, b, h, w,
                                                       saliency)


# ---------------------------------------------------------------- baseline.

def load_baseline(rev):
  """``mdr/masks.py`` at git revision ``rev``, imported as its own module."""
  try:
    source = subprocess.run(
        ["git", "show", f"{rev}:mdr/masks.py"], cwd=REPO, check=True,
        capture_output=True, text=True).stdout
  except subprocess.CalledProcessError as e:
    raise SystemExit(f"--baseline={rev!r}: git cannot show mdr/masks.py at "
                     f"that revision: {e.stderr.strip()}") from e
  path = os.path.join(tempfile.mkdtemp(), "masks_baseline.py")
  with open(path, "w") as f:
    f.write(source)
  spec = importlib.util.spec_from_file_location("masks_baseline", path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module  # dataclasses look their module up there
  spec.loader.exec_module(module)
  return module


# ---------------------------------------------------------------- timing.

def _time(fn, at_least=0.05):
  """Seconds per call of ``fn``, calling it until ``at_least`` seconds pass
  (fast calls are repeated so that one sample is not one scheduler tick)."""
  calls, start = 0, time.perf_counter()
  while True:
    jax.block_until_ready(fn())
    calls += 1
    elapsed = time.perf_counter() - start
    if elapsed >= at_least:
      return elapsed / calls


def _jitted(module, name, size):
  return jax.jit(lambda keys, r, sal: module.batch_masks(
      name, keys, r, (size, size),
      sal if module.get(name).needs_saliency else None))


def _program(fn, *args):
  """The compiled program's instructions, without names and source lines:
  equal for two versions when they compile to the same computation."""
  out = []
  for line in fn.lower(*args).compile().as_text().splitlines():
    if " = " in line:
      line = re.sub(r", metadata=\{.*?\}", "", line)
      line = re.sub(r", stack_frame_id=\d+", "", line)
      out.append(re.sub(r"\.\d+", "", line).strip())
  return out


def bench_size(size, b, ratio, rounds, types, baseline=None):
  """Rows (name, size, B, NumPy/s, JAX/s, baseline/s or None, whether the
  baseline compiles to the same program or None)."""
  rows = []
  key = jax.random.key(0)
  keys = jax.random.split(key, b)
  saliency = jax.random.uniform(jax.random.key(1), (b, size, size))
  saliency_np = np.asarray(saliency)
  rng = np.random.default_rng(0)
  r = jnp.float32(ratio)
  for name in types:
    calls = {"numpy": lambda name=name: np_masks(name, rng, ratio, b, size,
                                                  size, saliency_np)}
    fn = _jitted(masks, name, size)
    calls["jax"] = lambda fn=fn: fn(keys, r, saliency)
    same = None
    if baseline is not None and name in baseline.REGISTRY:
      old = _jitted(baseline, name, size)
      calls["baseline"] = lambda old=old: old(keys, r, saliency)
      same = _program(old, keys, r, saliency) == _program(fn, keys, r,
                                                           saliency)
    got = {what: np.asarray(call()) for what, call in calls.items()}  # warm
    for what, m in got.items():
      assert (m.sum((1, 2)) == got["numpy"].sum((1, 2))).all(), (name, what)
    if "baseline" in got and not np.array_equal(got["baseline"], got["jax"]):
      print(f"NOTE {name} {size}x{size}: the baseline's masks differ from "
            f"the current ones on "
            f"{int((got['baseline'] != got['jax']).any((1, 2)).sum())} of {b}"
            f" images")
    times = {what: [] for what in calls}
    order = list(calls)
    for i in range(rounds):  # the order rotates: none always runs first
      for what in order[i % len(order):] + order[:i % len(order)]:
        times[what].append(_time(calls[what]))
    rate = {what: b / statistics.median(t) for what, t in times.items()}
    if _PAIRED.value and "baseline" in calls:
      ratios = []
      for i in range(_PAIRED.value):
        pair = ("jax", "baseline") if i % 2 else ("baseline", "jax")
        t = {}
        for what in pair:
          start = time.perf_counter()
          jax.block_until_ready(calls[what]())
          t[what] = time.perf_counter() - start
        ratios.append(t["baseline"] / t["jax"])
      print(f"  {name} {size}x{size}: now / then over {_PAIRED.value} "
            f"alternating pairs of calls: median "
            f"{statistics.median(ratios):.3f}, quartiles "
            f"{np.percentile(ratios, 25):.3f}-{np.percentile(ratios, 75):.3f}")
    rows.append((name, size, b, rate["numpy"], rate["jax"],
                 rate.get("baseline"), same))
    print(f"  {name} {size}x{size}: " + ", ".join(
        f"{what} {v:,.0f}/s" for what, v in rate.items()), flush=True)
  return rows


# ---------------------------------------------------------------- the step.

class _Bottleneck(nn.Module):
  filters: int
  strides: int

  @nn.compact
  def __call__(self, x):
    conv = lambda f, k, s=1: nn.Conv(f, (k, k), (s, s), use_bias=False)
    norm = lambda: nn.BatchNorm(use_running_average=True)
    y = nn.relu(norm()(conv(self.filters, 1)(x)))
    y = nn.relu(norm()(conv(self.filters, 3, self.strides)(y)))
    y = norm()(conv(4 * self.filters, 1)(y))
    if x.shape != y.shape:
      x = norm()(conv(4 * self.filters, 1, self.strides)(x))
    return nn.relu(x + y)


class ResNet50(nn.Module):
  """ResNet-50 for 224x224 ImageNet-sized inputs, inference mode."""

  @nn.compact
  def __call__(self, x):
    x = nn.Conv(64, (7, 7), (2, 2), use_bias=False)(x)
    x = nn.relu(nn.BatchNorm(use_running_average=True)(x))
    x = nn.max_pool(x, (3, 3), (2, 2), padding="SAME")
    for i, blocks in enumerate((3, 4, 6, 3)):
      for j in range(blocks):
        x = _Bottleneck(64 * 2**i, 2 if i > 0 and j == 0 else 1)(x)
    return nn.Dense(1000)(jnp.mean(x, axis=(1, 2)))


def bench_step(b, ratio, rounds, types):
  """Per mask: (name, mask ms, forward ms, step ms) at 224x224, batch b."""
  size = 224
  model = ResNet50()
  images = jax.random.uniform(jax.random.key(2), (b, size, size, 3))
  saliency = jax.random.uniform(jax.random.key(1), (b, size, size))
  variables = model.init(jax.random.key(0), images[:1])
  forward = jax.jit(lambda v, x: model.apply(v, x))
  flops = forward.lower(variables, images).compile().cost_analysis()
  flops = (flops[0] if isinstance(flops, list) else flops).get("flops", 0)
  print(f"ResNet-50 forward at {size}x{size}, B={b}: "
        f"{flops / b / 1e9:.2f} GFLOPs per image (XLA cost analysis)")
  key, r = jax.random.key(3), jnp.float32(ratio)
  rows = []
  for name in types:
    sal = saliency if masks.get(name).needs_saliency else None
    mask_only = jax.jit(lambda key, r, x, s, name=name: masks.mask_images(
        name, key, x, r, s))
    step = jax.jit(lambda v, key, r, x, s, name=name: model.apply(
        v, masks.mask_images(name, key, x, r, s)))
    calls = {"mask": lambda f=mask_only, s=sal: f(key, r, images, s),
             "forward": lambda: forward(variables, images),
             "step": lambda f=step, s=sal: f(variables, key, r, images, s)}
    for call in calls.values():
      _time(call)
    times = {what: [] for what in calls}
    for _ in range(rounds):
      for what, call in calls.items():
        times[what].append(_time(call))
    med = {what: statistics.median(t) * 1e3 for what, t in times.items()}
    rows.append((name, med["mask"], med["forward"], med["step"]))
    print(f"  {name}: mask {med['mask']:.1f} ms, forward "
          f"{med['forward']:.0f} ms, step {med['step']:.0f} ms", flush=True)
  return rows


def main(_):
  batches = dict(tuple(int(v) for v in pair.split(":"))
                 for pair in _BATCHES.value)
  sizes = [int(s) for s in _SIZES.value] or list(batches)
  baseline = load_baseline(_BASELINE.value) if _BASELINE.value else None
  load = os.getloadavg()[0]
  print(f"backend={jax.default_backend()} devices={jax.device_count()} "
        f"cpus={os.cpu_count()} ratio={_RATIO.value} rounds={_ROUNDS.value} "
        f"(medians) baseline={_BASELINE.value or '-'} "
        f"load at start {load:.2f}")
  rows = []
  for size in sizes:
    rows += bench_size(size, batches[size], _RATIO.value, _ROUNDS.value,
                       _TYPES.value, baseline)
  print()
  head = "| mask | size | B | NumPy masks/s | JAX masks/s | JAX / NumPy |"
  rule = "|---|---|---:|---:|---:|---:|"
  if baseline is not None:
    head += (f" {_BASELINE.value} masks/s | {_BASELINE.value} / NumPy | "
             "now / then | same compiled program |")
    rule += "---:|---:|---:|---|"
  print(head)
  print(rule)
  for name, size, b, np_rate, jax_rate, old_rate, same in rows:
    line = (f"| {name} | {size}x{size} | {b} | {np_rate:,.0f} | "
            f"{jax_rate:,.0f} | {jax_rate / np_rate:.2f} |")
    if baseline is not None:
      line += (f" {old_rate:,.0f} | {old_rate / np_rate:.2f} | "
               f"{jax_rate / old_rate:.2f} | {'yes' if same else 'no'} |"
               if old_rate else " - | - | - | - |")
    print(line)
  if _STEP.value:
    if _STEP.value != "resnet50":
      raise SystemExit(f"--step must be 'resnet50' or empty, got "
                       f"{_STEP.value!r}")
    print()
    step_rows = bench_step(_STEP_BATCH.value, _RATIO.value,
                           _STEP_ROUNDS.value, _TYPES.value)
    print()
    print(f"| mask | mask ms | ResNet-50 forward ms | mask + forward ms | "
          f"mask / forward | (step - forward) / forward |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, t_mask, t_fwd, t_step in step_rows:
      print(f"| {name} | {t_mask:.1f} | {t_fwd:.0f} | {t_step:.0f} | "
            f"{t_mask / t_fwd:.2%} | {(t_step - t_fwd) / t_fwd:+.2%} |")
  print(f"\nload at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
  app.run(main)
