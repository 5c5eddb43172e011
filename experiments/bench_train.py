"""Benchmark: train images/s of each network and training mode, side by side.

  python -m experiments.bench_train              # resnet_small and airbench@0.5
  python -m experiments.bench_train --models=airbench@1.0 --batch=1024
  python -m experiments.bench_train --models=resnet18 --batch=256 --dtype=bfloat16
  python -m experiments.bench_train --models=airbench@0.25,resnet_small \
      --variants="clean,random mask 0.5"        # Random Mask CNN's cost
  python -m experiments.bench_train --models=resnet_small \
      --variants="clean,fgsm_rs,pgd_at k=10,m2at PGD-10 square mixup"

``--models`` lists networks as ``name``, ``name@width`` (airbench's width
multiplier) or either with ``/bfloat16`` (that network's compute dtype;
default ``--dtype``); each network trains with its own recipe (ResNets: the
``:cpu_resnet8`` settings; airbench: ``mdr.config.airbench_recipe``, with
lookahead and alternating flip) at the batch ``--batch`` (default: 128 for
ResNets, 1024 for airbench).

Builds the real compiled train step of mdr.train for each variant on random
32x32 data held on the device, then times the variants in interleaved rounds
(each round: ``--steps`` steps of every variant) and prints the median
steps/s side by side with the overhead relative to clean training, and
each step's GFLOP/s and share of this CPU's float32 peak (``--peak_gflops``).
FLOPs per step are XLA's cost analysis of the compiled step (the whole step:
augmentation, forward, backward, optimizer). The mask
cost of mixed beta/gamma should be small; alpha adds a saliency pass (a
forward and a backward pass in inference mode), so it costs more.
"""

import functools
import os
import statistics
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from experiments.specs import benchmarks
from mdr import config as config_lib
from mdr import train

_MODELS = flags.DEFINE_list("models", ["resnet_small", "airbench@0.5"],
                            "Networks: name or name@width.")
_BATCH = flags.DEFINE_integer("batch", 0, "Global batch size (0: 128 for "
                              "ResNets, 1024 for airbench).")
_DTYPE = flags.DEFINE_string("dtype", "float32", "Model compute dtype.")
_STEPS = flags.DEFINE_integer("steps", 10, "Steps per timing round.")
# 2 cores x 2.6 GHz x 2 FMA units x 8 float32 lanes (256-bit) x 2 FLOPs.
_PEAK = flags.DEFINE_float("peak_gflops", 166.4, "This CPU's float32 peak "
                           "(GFLOP/s), for the share of peak column.")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Interleaved timing rounds.")

# The variants, by name: settings of the train step (experiments/specs/
# benchmarks.py).
VARIANTS = benchmarks.TRAIN_VARIANTS
_VARIANTS = flags.DEFINE_list("variants", list(VARIANTS),
                              f"Variants to time (the first is the "
                              f"reference): {list(VARIANTS)}")


class _Data:
  num_classes = 10
  image_shape = (32, 32, 3)
  mean = (0.49, 0.48, 0.45)
  std = (0.25, 0.24, 0.26)


def batch_of(model):
  model = model.partition("/")[0]
  return _BATCH.value or (1024 if model.startswith("airbench") else 128)


def build(model, variant, n_train=4096):
  model, _, dtype = model.partition("/")
  name, _, width = model.partition("@")
  config = config_lib.get_config("cpu_resnet8")
  if name == "airbench":
    config_lib.airbench_recipe(config, float(width or 1.0), epochs=10.0)
  config.model.name = name
  config.model.dtype = dtype or _DTYPE.value
  config.train.batch_size = batch_of(model)
  config.train.steps = 1000
  n_train = max(n_train, 2 * config.train.batch_size)
  frozen = False
  for k, v in VARIANTS[variant].items():
    if k == "whiten_bias_frozen":
      frozen = v
    elif k == "random_mask":
      config.model.random_mask.drop = v
    elif k == "adv_steps":
      config.train.adv.steps = v
    else:
      config.train[k] = v
  mesh = train.make_mesh()
  replicated = NamedSharding(mesh, P())
  rng = np.random.default_rng(0)
  images = jax.device_put(rng.integers(0, 256, (n_train, 32, 32, 3),
                                       dtype=np.uint8), replicated)
  labels = jax.device_put(rng.integers(0, 10, n_train).astype(np.int32),
                          replicated)
  total, spe, sched = train.schedule_and_steps(config, n_train)
  model = train.build_model(config, _Data)
  params = jax.jit(lambda k: model.init(k, jnp.zeros((1, 32, 32, 3)))[
      "params"])(jax.random.key(0))
  tx = train.make_optimizer(config, sched, params, spe)
  streams = train.rng_streams(0)
  state = jax.jit(functools.partial(
      train.init_state, model, tx, image_shape=(32, 32, 3),
      lookahead_on=config.optim.lookahead_every > 0),
                  out_shardings=replicated)(streams["init"], params=params)
  step = jax.jit(train.make_train_step(
      config, model, tx, sched, streams, spe, n_train,
      jnp.asarray(_Data.mean), NamedSharding(mesh, P("data")), total,
      whiten_bias_frozen=frozen), donate_argnums=(0,))
  t = time.perf_counter()
  compiled = step.lower(state, images, labels).compile()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  state, _ = compiled(state, images, labels)
  jax.block_until_ready(state)
  return [state, compiled, images, labels, time.perf_counter() - t,
          float(cost.get("flops", float("nan")))]


def time_steps(entry, n):
  state, step, images, labels = entry[:4]
  t = time.perf_counter()
  for _ in range(n):
    state, metrics = step(state, images, labels)
  jax.block_until_ready((state, metrics))
  entry[0] = state
  return n / (time.perf_counter() - t)


def main(_):
  print(f"backend={jax.default_backend()} devices={jax.device_count()} "
        f"models={_MODELS.value} dtype={_DTYPE.value} "
        f"steps/round={_STEPS.value} rounds={_ROUNDS.value} "
        f"load={os.getloadavg()[0]:.2f}")
  variants = _VARIANTS.value
  unknown = [v for v in variants if v not in VARIANTS]
  if unknown:
    raise app.UsageError(f"--variants: {unknown} unknown; known: "
                         f"{list(VARIANTS)}")
  keys = [(m, v) for m in _MODELS.value for v in variants]
  built = {k: build(*k) for k in keys}
  rates = {k: [] for k in keys}
  for _ in range(_ROUNDS.value):
    for k in keys:
      rates[k].append(time_steps(built[k], _STEPS.value))
  print()
  print(f"| network | batch | mode | steps/s (median) | images/s | step time "
        f"vs the network's {variants[0]} | GFLOP/step | GFLOP/s | % of "
        f"{_PEAK.value:g} GFLOP/s peak | first call (compile) s |")
  print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
  for m in _MODELS.value:
    clean = statistics.median(rates[(m, variants[0])])
    for v in variants:
      r = statistics.median(rates[(m, v)])
      gflop = built[(m, v)][5] / 1e9
      print(f"| {m} | {batch_of(m)} | {v} | {r:.3f} | {r * batch_of(m):,.0f} "
            f"| {clean / r:.3f} ({(clean / r - 1) * 100:+.1f} %) "
            f"| {gflop:.1f} | {gflop * r:.1f} | "
            f"{gflop * r / _PEAK.value * 100:.1f} | "
            f"{built[(m, v)][4]:.1f} |")
  print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
  app.run(main)
