"""Benchmark: train steps/s for clean, mixed beta/gamma and mixed with alpha.

  python experiments/bench_train.py                       # resnet_small, B=128
  python experiments/bench_train.py --model=resnet18 --batch=256 --dtype=bfloat16

Builds the real compiled train step of mdr.train for each variant on random
32x32 data held on the device, then times the variants in interleaved rounds
(each round: ``--steps`` steps of every variant) and prints the median
steps/s side by side with the overhead relative to clean training. The mask
cost of mixed beta/gamma should be small; alpha adds a saliency pass (a
forward and a backward pass in inference mode), so it costs more.
"""

import functools
import statistics
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from mdr import config as config_lib
from mdr import train

_MODEL = flags.DEFINE_string("model", "resnet_small", "mdr.models name.")
_BATCH = flags.DEFINE_integer("batch", 128, "Global batch size.")
_DTYPE = flags.DEFINE_string("dtype", "float32", "Model compute dtype.")
_STEPS = flags.DEFINE_integer("steps", 10, "Steps per timing round.")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Interleaved timing rounds.")

VARIANTS = {
    "clean": dict(mode="clean"),
    "mixed beta+gamma": dict(mode="mixed", mask_types=["beta", "gamma"]),
    "mixed gamma": dict(mode="mixed", mask_types=["gamma"]),
    "mixed alpha+beta+gamma": dict(mode="mixed",
                                   mask_types=["alpha", "beta", "gamma"]),
}


class _Data:
  num_classes = 10
  image_shape = (32, 32, 3)
  mean = (0.49, 0.48, 0.45)
  std = (0.25, 0.24, 0.26)


def build(variant, n_train=4096):
  config = config_lib.get_config("cpu")
  config.model.name = _MODEL.value
  config.model.dtype = _DTYPE.value
  config.train.batch_size = _BATCH.value
  for k, v in VARIANTS[variant].items():
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
  tx = train.make_optimizer(config, sched)
  streams = train.rng_streams(0)
  state = jax.jit(functools.partial(train.init_state, model, tx,
                                    image_shape=(32, 32, 3)),
                  out_shardings=replicated)(streams["init"])
  step = jax.jit(train.make_train_step(
      config, model, tx, sched, streams, spe, n_train,
      jnp.asarray(_Data.mean), NamedSharding(mesh, P("data"))),
                 donate_argnums=(0,))
  state, _ = step(state, images, labels)  # compile
  jax.block_until_ready(state)
  return [state, step, images, labels]


def time_steps(entry, n):
  state, step, images, labels = entry
  t = time.perf_counter()
  for _ in range(n):
    state, metrics = step(state, images, labels)
  jax.block_until_ready((state, metrics))
  entry[0] = state
  return n / (time.perf_counter() - t)


def main(_):
  print(f"backend={jax.default_backend()} devices={jax.device_count()} "
        f"model={_MODEL.value} B={_BATCH.value} dtype={_DTYPE.value} "
        f"steps/round={_STEPS.value} rounds={_ROUNDS.value}")
  built = {v: build(v) for v in VARIANTS}
  rates = {v: [] for v in VARIANTS}
  for _ in range(_ROUNDS.value):
    for v in VARIANTS:
      rates[v].append(time_steps(built[v], _STEPS.value))
  clean = statistics.median(rates["clean"])
  print()
  print("| variant | steps/s (median) | images/s | step time vs clean |")
  print("|---|---:|---:|---:|")
  for v in VARIANTS:
    r = statistics.median(rates[v])
    print(f"| {v} | {r:.2f} | {r * _BATCH.value:,.0f} | "
          f"{clean / r:.3f} (+{(clean / r - 1) * 100:.1f} %) |")


if __name__ == "__main__":
  app.run(main)
