r"""Benchmark and cross-check: mdr's PGD against Foolbox 3.3.4's LinfPGD, and
mdr's PGD and APGD against the model-bound limit.

  pip install foolbox==3.3.4 eagerpy    # the peer (JAX backend via EagerPy)
  python -m experiments.bench_attacks   # accuracy and images/s, side by side

A small CNN (``resnet_small``, ResNet-8) is trained for ``--train_steps`` steps on the
embedded synthetic shapes with mdr's own training step; both libraries then
attack the same test images with ℓ∞ PGD-20 at ε = 8/255 (step 2.5·ε/20,
uniform random start, cross-entropy), the model in inference mode. Printed:
each library's robust accuracy (they should agree within a point: same
algorithm, different random starts) and PGD-20 images/s (median of
``--rounds`` timed rounds after a warm-up, interleaved), with the ratio.

The second table is the useful speed figure on a CPU, where any attack is
bound by the model: a k-step attack needs k forward+backward passes, so it can
at best attack ``B / (k · t)`` images/s, ``t`` the time of one jitted
forward+backward pass (the input gradient of the summed cross-entropy) of the
same model on the same batch, timed in the same rounds. Printed for PGD-20 and
APGD-CE with 20 steps (APGD makes one more pass, at its start, so its ceiling
is 20/21 of the bound), both with a fixed number of steps (no early stop),
with each one's share of the bound and, for APGD, its robust accuracy.

Foolbox is the peer because it still runs on current JAX through EagerPy;
cleverhans 4.0's JAX attacks import ``jax.experimental.stax``, which JAX
removed, so they no longer run.
"""

import os
import statistics
import sys
import tempfile
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from mdr import attacks  # pylint: disable=g-import-not-at-top
from mdr import config as config_lib  # pylint: disable=g-import-not-at-top
from mdr import data as data_lib  # pylint: disable=g-import-not-at-top
from mdr import train  # pylint: disable=g-import-not-at-top

_BATCH = flags.DEFINE_integer("attack_batch", 250, "Images per attack call.")
_IMAGES = flags.DEFINE_integer("attack_images", 1000, "Test images attacked.")
_TRAIN = flags.DEFINE_integer("train_steps", 300, "Training steps of the "
                              "attacked model.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Timed rounds.")
_TIME_BATCHES = flags.DEFINE_list("time_batches", ["32", "250"],
                                  "Batch sizes timed.")

EPS = 8 / 255
STEPS = 20


def trained_model(train_steps=300, num_test=1000, seed=0):
  """(logits_fn, test images float [N,32,32,3], labels, clean accuracy)."""
  ds = data_lib.synthetic(6000, num_test, seed=seed)
  c = config_lib.get_config("cpu_resnet8")
  c.data.name = "synthetic"
  c.model.name = "resnet_small"
  c.train.mode = "clean"
  c.train.steps = train_steps
  c.train.batch_size = 128
  c.optim.learning_rate = 0.2
  c.eval.suites = ()
  c.log_every_steps = max(1, train_steps)
  c.checkpoint_every_steps = 10 * train_steps
  with tempfile.TemporaryDirectory() as wd:
    train.train_and_evaluate(c, wd, ds)
    mesh = train.make_mesh()
    from jax.sharding import NamedSharding, PartitionSpec as P  # pylint: disable=g-import-not-at-top
    _, _, sched = train.schedule_and_steps(c, len(ds.train.labels))
    model, _, _, state = train.restored_state(c, wd, ds, sched,
                                              NamedSharding(mesh, P()))
  variables = {"params": state["params"], "batch_stats": state["batch_stats"]}
  logits_fn = jax.jit(lambda x: model.apply(variables, x, train=False))
  x = jnp.asarray(ds.test.images, jnp.float32) / 255.0
  y = jnp.asarray(ds.test.labels, jnp.int32)
  acc = float(jnp.mean(jnp.argmax(logits_fn(x), -1) == y) * 100)
  return logits_fn, x, y, acc


def mdr_pgd(logits_fn, x, y, key):
  return attacks.pgd(logits_fn, x, y, key, eps=EPS, step_size=2.5 * EPS / STEPS,
                     steps=STEPS)


def mdr_apgd(logits_fn, x, y, key):
  return attacks.apgd(logits_fn, x, y, key, eps=EPS, steps=STEPS)


def forward_backward(logits_fn):
  """One jitted forward+backward pass: the input gradient of the summed CE."""
  def total(x, y):
    return jnp.sum(attacks.attack_loss(logits_fn(x), y, "ce"))
  return jax.jit(jax.grad(total))


def foolbox_pgd(logits_fn, x, y):
  import foolbox as fb  # pylint: disable=g-import-not-at-top
  model = fb.JAXModel(logits_fn, bounds=(0, 1))
  attack = fb.attacks.LinfPGD(rel_stepsize=2.5 / STEPS, steps=STEPS,
                              random_start=True)
  _, adv, _ = attack(model, x, y, epsilons=EPS)
  return adv


def robust_accuracy(logits_fn, x, y, run, batch):
  correct = 0
  for s in range(0, len(y), batch):
    adv = run(x[s:s + batch], y[s:s + batch])
    correct += int(jnp.sum(jnp.argmax(logits_fn(adv), -1) == y[s:s + batch]))
  return correct / len(y) * 100


def main(_):
  print(f"backend={jax.default_backend()} load={os.getloadavg()[0]:.2f}")
  logits_fn, x, y, acc = trained_model(_TRAIN.value, _IMAGES.value)
  print(f"model: resnet_small, {_TRAIN.value} steps on synthetic shapes, clean "
        f"accuracy {acc:.2f} % on {len(y)} test images")
  key = jax.random.key(0)
  runs = {"mdr": lambda a, b: mdr_pgd(logits_fn, a, b,
                                      jax.random.fold_in(key, len(b)))}
  try:
    import foolbox  # pylint: disable=g-import-not-at-top,unused-import
    runs["foolbox 3.3.4"] = lambda a, b: foolbox_pgd(logits_fn, a, b)
  except ImportError:
    print("foolbox is not installed: mdr only")
  b = _BATCH.value
  accs = {k: robust_accuracy(logits_fn, x, y, r, b) for k, r in runs.items()}
  print(f"\nPGD-{STEPS} l-inf, eps 8/255, step 2.5*eps/{STEPS}, random start; "
        f"robust accuracy on {len(y)} images (batches of {b}):\n")
  print("| library | robust accuracy (%) | " + " | ".join(
      f"images/s at batch {t} (median) | vs mdr" for t in _TIME_BATCHES.value)
        + " |")
  print("|---|---:|" + "---:|---:|" * len(_TIME_BATCHES.value))
  rates = {k: {} for k in runs}
  for t in map(int, _TIME_BATCHES.value):
    xb, yb = x[:t], y[:t]
    for r in runs.values():
      jax.block_until_ready(r(xb, yb))    # compile / warm up
    times = {k: [] for k in runs}
    for _ in range(_ROUNDS.value):
      for k, r in runs.items():
        start = time.perf_counter()
        jax.block_until_ready(r(xb, yb))
        times[k].append(t / (time.perf_counter() - start))
    for k in runs:
      rates[k][t] = statistics.median(times[k])
  for k in runs:
    cells = " | ".join(f"{rates[k][t]:,.0f} | {rates[k][t] / rates['mdr'][t]:.2f}x"
                       for t in map(int, _TIME_BATCHES.value))
    print(f"| {k} | {accs[k]:.2f} | {cells} |")
  model_bound(logits_fn, x, y, key)
  print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


def model_bound(logits_fn, x, y, key):
  """PGD-20 and APGD-20 images/s against B / (k · one forward+backward)."""
  fb = forward_backward(logits_fn)
  runs = {
      "forward+backward": lambda a, b: fb(a, b),
      f"PGD-{STEPS}": lambda a, b: mdr_pgd(logits_fn, a, b, key),
      f"APGD-CE-{STEPS}": lambda a, b: mdr_apgd(logits_fn, a, b, key),
  }
  apgd_acc = robust_accuracy(
      logits_fn, x, y, lambda a, b: mdr_apgd(
          logits_fn, a, b, jax.random.fold_in(key, len(b))), _BATCH.value)
  print(f"\nThe model-bound limit: one jitted forward+backward pass of the "
        f"model takes t; a {STEPS}-step attack can at best attack "
        f"B / ({STEPS} t) images/s. Medians of {_ROUNDS.value} interleaved "
        f"rounds. APGD-CE-{STEPS} robust accuracy: {apgd_acc:.2f} % on "
        f"{len(y)} images.\n")
  print("| batch | forward+backward (ms) | bound (images/s) | "
        f"PGD-{STEPS} images/s | share of bound | APGD-CE-{STEPS} images/s | "
        "share of bound |")
  print("|---:|---:|---:|---:|---:|---:|---:|")
  for t in map(int, _TIME_BATCHES.value):
    xb, yb = x[:t], y[:t]
    for r in runs.values():
      jax.block_until_ready(r(xb, yb))
    times = {k: [] for k in runs}
    for _ in range(_ROUNDS.value):
      for k, r in runs.items():
        start = time.perf_counter()
        jax.block_until_ready(r(xb, yb))
        times[k].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    bound = t / (STEPS * med["forward+backward"])
    pgd_rate = t / med[f"PGD-{STEPS}"]
    apgd_rate = t / med[f"APGD-CE-{STEPS}"]
    print(f"| {t} | {med['forward+backward'] * 1e3:.1f} | {bound:,.0f} | "
          f"{pgd_rate:,.0f} | {pgd_rate / bound:.2f} | {apgd_rate:,.0f} | "
          f"{apgd_rate / bound:.2f} |")


if __name__ == "__main__":
  app.run(main)
