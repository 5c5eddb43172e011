"""The pgd_strong suite: PGD with restarts, worst case over restarts.

Small models on a few dozen images: a linear probe whose exact ℓ∞
robustness is known in closed form, and a wiggly MLP on which random
restarts matter.
"""

import json
import os

import jax
import jax.numpy as jnp
from jax.sharding import Mesh
import numpy as np
import pytest

from mdr import attacks
from mdr import config as config_lib
from mdr import data as data_lib
from mdr import evaluate
from mdr import robustness
from tests.conftest import apply_overrides
from tests.conftest import linear_probe_class
from tests.conftest import tiny_config
from tests.conftest import validate

K = 10
NO_TTA = lambda f: f


def _cfg(**kw):
  return apply_overrides(tiny_config(), kw)


@pytest.fixture(scope="module")
def linear():
  """A linear probe with ±1 class prototypes as weights, and images
  ``0.5 + a·prototype(y) + noise`` (a few labels wrong) whose margins
  straddle ε = 8/255; all pixels stay 8/255 away from 0 and 1, so the box
  never binds and the exact robust accuracy is the margin certificate."""
  n = 48
  rng = np.random.default_rng(0)
  protos = rng.choice([-1.0, 1.0], size=(32 * 32 * 3, K))
  y = rng.integers(0, K, n)
  a = rng.uniform(0, 2 * 8 / 255, n)
  x = 0.5 + a[:, None] * protos[:, y].T + rng.uniform(-0.15, 0.15, (n, 3072))
  images = np.round(x * 255).astype(np.uint8).reshape(n, 32, 32, 3)
  labels = y.astype(np.int32)
  labels[:6] = (labels[:6] + 1) % K
  w = protos / protos.shape[0]
  variables = {"params": {"Dense_0": {
      "kernel": jnp.asarray(w, jnp.float32), "bias": jnp.zeros(K)}}}
  return linear_probe_class()(num_classes=K), variables, images, labels, w


def _certified(images, labels, w, eps):
  """Exact ℓ∞ robust accuracy (%) of ``x -> (x - 0.5) @ w`` (no box)."""
  z = (images.reshape(len(images), -1) / 255.0 - 0.5) @ w
  ok = z.argmax(1) == labels
  for i, y in enumerate(labels):
    for k in range(K):
      if k != y and z[i, y] - z[i, k] <= eps * np.abs(w[:, y] - w[:, k]).sum():
        ok[i] = False
  return ok.mean() * 100, (z.argmax(1) == labels).mean() * 100


class Wiggly:
  """An MLP with sine units of high frequency: its loss surface changes
  within the ε-ball, so random restarts find what one start misses."""

  def __init__(self, seed=0):
    k1, k2 = jax.random.split(jax.random.key(seed))
    self.w1 = 30 * jax.random.normal(k1, (32 * 32 * 3, 32)) / 20
    self.w2 = jax.random.normal(k2, (32, K))

  def apply(self, variables, x, train=False, **kwargs):
    if train or kwargs.get("mutable"):
      raise AssertionError("the attack ran the model in training mode")
    del variables
    return jnp.sin((x - 0.5).reshape(len(x), -1) @ self.w1) @ self.w2


@pytest.fixture(scope="module")
def wiggly():
  n = 40
  images = np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3),
                                             dtype=np.uint8)
  model = Wiggly()
  pred = jnp.argmax(model.apply({}, jnp.asarray(images) / 255.0), -1)
  labels = np.array(pred, np.int32)
  labels[:4] = (labels[:4] + 1) % K        # clean accuracy 90 %
  return model, jnp.asarray(images), jnp.asarray(labels)


def test_defaults_are_pgd50_5_restarts_at_8_on_1000_images():
  ec = config_lib.base_config().eval
  assert (ec.strong_steps, ec.strong_restarts, ec.strong_images,
          ec.strong_eps) == (50, 5, 1000, 8)
  from mdr import evaluators  # pylint: disable=g-import-not-at-top
  assert "pgd_strong" in evaluators.names()


def test_linear_probe_meets_its_certificate_and_is_below_pgd20(linear):
  model, variables, images, labels, w = linear
  eps = 8 / 255
  certified, clean = _certified(images, labels, w, eps)
  assert 20 < certified < 80 and 80 < clean < 90     # margins straddle ε
  r = robustness.strong(_cfg(), model, variables, jnp.asarray(images),
                        jnp.asarray(labels), jax.random.key(1), 16, NO_TTA)
  assert (r["attack"], r["loss"], r["norm"]) == ("pgd", "worst of ce, margin",
                                                 "linf")
  assert r["losses"] == ["ce", "margin"]
  assert (r["steps"], r["restarts"], r["n"]) == (50, 5, 48)
  assert r["eps"] == pytest.approx(eps)
  assert r["step_size"] == pytest.approx(2.5 * eps / 50)
  assert r["clean_accuracy"] == pytest.approx(clean)
  pgd20 = robustness.accuracy_under(
      model, variables, jnp.asarray(images), jnp.asarray(labels),
      attacks.get("pgd"), [eps], 20, "ce", jax.random.key(1), 1, 16,
      NO_TTA)[0, 0]
  # No attack within ε beats the certificate; the strong attack reaches it
  # (a wrong ε scale would miss it either way) and is no weaker than PGD-20.
  assert certified <= r["accuracy"] <= certified + 100 / 48 + 1e-9
  assert r["accuracy"] <= pgd20 + 1e-9
  # The worst case per image is never above either loss alone, and its
  # cross-entropy part is the cross-entropy-only suite's run (same keys).
  assert r["accuracy"] <= min(r["by_loss"].values())
  ce = robustness.strong(_cfg(**{"eval.strong_losses": ("ce",)}), model,
                         variables, jnp.asarray(images), jnp.asarray(labels),
                         jax.random.key(1), 16, NO_TTA)
  assert ce["loss"] == "ce" and ce["accuracy"] == r["by_loss"]["ce"]
  assert r["accuracy"] < r["clean_accuracy"]
  assert r["seconds"] > 0


def test_more_restarts_never_raise_accuracy_and_here_lower_it(wiggly):
  model, images, labels = wiggly
  accs = []
  for restarts in (1, 2, 5):
    c = _cfg(**{"eval.strong_eps": 1.0, "eval.strong_steps": 1,
                "eval.strong_restarts": restarts,
                "eval.strong_losses": ("ce",)})
    r = robustness.strong(c, model, {}, images, labels, jax.random.key(2),
                          16, NO_TTA)
    assert r["restarts"] == restarts and r["clean_accuracy"] == 90.0
    accs.append(r["accuracy"])
  # Same key stream: restart r is the same run for every count, and an
  # image is robust only if none of them fools the model.
  assert accs[0] >= accs[1] >= accs[2] >= 0
  assert accs[2] <= accs[0] - 2 * 100 / 40, accs   # restarts find more


# An executable is compiled, or read from the session's compilation cache
# (tests/conftest.py) when an earlier test compiled the same program.
_EXECUTABLE_EVENTS = ("/jax/core/compile/backend_compile_duration",
                      "/jax/compilation_cache/cache_retrieval_time_sec")


def _count_compiles(fn):
  compiles = []
  listener = lambda event, *a, **k: compiles.append(event) if (
      event in _EXECUTABLE_EVENTS) else None
  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    return fn(), len(compiles)
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)


def test_result_is_free_of_the_batch_size_in_one_compile(wiggly):
  # One PGD step from a random start: each image's outcome hangs on its own
  # start, so a key shared per batch instead of per image would show here.
  model, images, labels = wiggly
  c = _cfg(**{"eval.strong_eps": 1.0, "eval.strong_steps": 1,
              "eval.strong_restarts": 1})
  run = lambda b: robustness.strong(c, model, {}, images, labels,
                                    jax.random.key(3), b, NO_TTA)
  whole = run(40)
  padded, compiles = _count_compiles(lambda: run(16))   # 16 + 16 + 8 (+8)
  assert compiles == 1               # three batches, one compilation
  for k in ("n", "accuracy", "clean_accuracy"):
    assert padded[k] == whole[k], k
  assert padded["n"] == 40 and 0 < padded["accuracy"] < 90


def test_padded_copies_of_a_robust_last_image_are_not_counted(linear):
  model, variables, images, labels, w = linear
  ok = [_certified(images[i:i + 1], labels[i:i + 1], w, 8 / 255)[0] == 100
        for i in range(len(labels))]
  idx = [i for i in range(len(labels)) if not ok[i]][:9] + [ok.index(True)]
  images, labels = jnp.asarray(images[idx]), jnp.asarray(labels[idx])
  c = _cfg(**{"eval.strong_steps": 10, "eval.strong_restarts": 2})
  results = [robustness.strong(c, model, variables, images, labels,
                               jax.random.key(4), b, NO_TTA)
             for b in (4, 10)]                    # 4 + 4 + 2 (+2), and 10
  for r in results:
    assert r["n"] == 10 and r["accuracy"] == 10.0   # the last image only


@pytest.mark.parametrize("field,value", [
    ("strong_steps", 0), ("strong_steps", True), ("strong_restarts", 0),
    ("strong_restarts", -2), ("strong_images", -1), ("strong_eps", 0.0),
    ("strong_eps", 256.0), ("strong_eps", -8.0), ("strong_losses", ()),
    ("strong_losses", ("ce", "hinge")), ("strong_losses", ("ce", "ce"))])
def test_config_errors_name_the_field(field, value):
  with pytest.raises(config_lib.ConfigError, match=f"eval.{field} = "):
    validate(_cfg(**{f"eval.{field}": value}))


def test_fractional_eps_and_all_images_are_valid():
  validate(_cfg(**{"eval.strong_eps": 0.5,
                              "eval.strong_images": 0,
                              "eval.suites": ("pgd_strong",)}))


def test_suite_writes_json_and_markdown_on_the_fixed_subset(tmp_path):
  dataset = data_lib.synthetic(16, 40, seed=0)
  model = linear_probe_class()(num_classes=K)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  c = _cfg(**{"eval.suites": ("pgd_strong",), "eval.strong_images": 16,
              "eval.strong_steps": 3, "eval.strong_restarts": 2,
              "eval.batch_size": 12})
  validate(c)
  out = evaluate.evaluate(c, str(tmp_path), model, variables, dataset,
                          Mesh(np.array(jax.devices()), ("data",)))
  assert sorted(os.listdir(out)) == ["pgd_strong.json", "pgd_strong.md"]
  with open(os.path.join(out, "pgd_strong.json")) as f:
    r = json.load(f)
  idx = data_lib.subsample(40, 16)
  x = jnp.asarray(dataset.test.images[idx]) / 255.0
  clean = float(np.mean(np.asarray(jnp.argmax(
      model.apply(variables, x, train=False), -1)) ==
                        dataset.test.labels[idx]) * 100)
  assert r["n"] == 16 and r["tta"] == 0
  assert (r["steps"], r["restarts"]) == (3, 2)
  assert r["clean_accuracy"] == pytest.approx(clean)
  assert 0 <= r["accuracy"] <= r["clean_accuracy"]
  md = open(os.path.join(out, "pgd_strong.md")).read()
  assert (f"| 16 | 8 | 3 | 2 | {r['clean_accuracy']:.2f} | "
          f"{r['by_loss']['ce']:.2f} | {r['by_loss']['margin']:.2f} | "
          f"{r['accuracy']:.2f} |") in md
