"""The airbench-class network and recipe: each piece against its definition."""

import functools
import importlib.metadata
import os
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import apply_overrides, REPO, tiny_config, validate
from mdr import config as config_lib
from mdr import data as data_lib
from mdr import models
from mdr import train
from mdr import tta
from mdr.models import airbench


def _tiny_airbench(**overrides):
  c = tiny_config()
  config_lib.airbench_recipe(c, width=0.125, epochs=2)
  c.train.batch_size = 32
  c.train.steps = 0
  c.train.epochs = 2.0
  c.optim.warmup_epochs = 0.5
  c.log_every_steps = 4
  c.checkpoint_every_steps = 100
  c.eval.suites = ("clean",)
  c.eval.tta = 2
  return apply_overrides(c, overrides)


@pytest.fixture(scope="module")
def shapes():
  return data_lib.synthetic(256, 64, seed=0)


# --- Whitening ---------------------------------------------------------------

def test_whitening_decorrelates_train_patches(shapes):
  mean, std = shapes.mean, shapes.std
  sample = shapes.train.images[:128]
  kernel = airbench.whitening_kernel(sample, mean, std)
  assert kernel.shape == (2, 2, 3, 24)
  np.testing.assert_allclose(kernel[..., 12:], -kernel[..., :12])
  # Through the model's own conv layout (Flax HWIO, VALID): the first 12
  # channels' outputs on the train patches have covariance ~ identity.
  x = (sample.astype(np.float32) / 255 - mean) / std
  out = jax.lax.conv_general_dilated(
      jnp.asarray(x), jnp.asarray(kernel[..., :12]), (1, 1), "VALID",
      dimension_numbers=("NHWC", "HWIO", "NHWC"))
  flat = np.asarray(out, np.float64).reshape(-1, 12)
  cov = flat.T @ flat / len(flat)
  # diag(l / (l + eps)) on the patches it was fit on (float32 conv).
  assert np.all(np.diag(cov) > 0.9) and np.all(np.diag(cov) < 1.0 + 1e-4)
  off = cov - np.diag(np.diag(cov))
  assert np.abs(off).max() < 1e-3


def test_prepare_sets_the_whitening_kernel_from_train_data(shapes):
  model = models.get("airbench", 10, width=0.125, mean=shapes.mean,
                     std=shapes.std)
  params = jax.jit(lambda k: model.init(k, jnp.zeros((1, 32, 32, 3))))(
      jax.random.key(0))["params"]
  prepared = models.REGISTRY["airbench"].prepare(
      params, shapes.train.images, shapes.mean, shapes.std)
  np.testing.assert_allclose(
      prepared["whiten"]["kernel"],
      airbench.whitening_kernel(shapes.train.images, shapes.mean, shapes.std),
      rtol=1e-6)


# --- Network pieces ------------------------------------------------------------

def test_dirac_init_is_identity_on_first_channels():
  w = airbench.dirac_uniform_init(jax.random.key(0), (3, 3, 4, 6))
  x = jax.random.normal(jax.random.key(1), (2, 5, 5, 4))
  y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  np.testing.assert_allclose(y[..., :4], x, atol=1e-6)
  bound = 1 / np.sqrt(9 * 4)
  assert np.all(np.abs(w[..., 4:]) <= bound)


@pytest.mark.parametrize("size,cin,cout", [(7, 3, 5), (8, 4, 4)])
def test_im2col_conv_equals_xla_conv(size, cin, cout):
  x = jax.random.normal(jax.random.key(0), (2, size, size, cin))
  w = jax.random.normal(jax.random.key(1), (3, 3, cin, cout))
  ref = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
  np.testing.assert_allclose(airbench._im2col_conv(x, w), ref, atol=1e-4)


@pytest.mark.parametrize("size,k", [(31, 2), (7, 2), (3, 3), (9, 3)])
def test_max_pool_equals_flax_max_pool(size, k):
  x = jax.random.normal(jax.random.key(0), (2, size, size, 3))
  np.testing.assert_array_equal(airbench.max_pool(x, k),
                                nn.max_pool(x, (k, k), strides=(k, k)))


def test_network_shapes_and_no_bn_scale():
  model = models.get("airbench", 10, width=0.5)
  variables = jax.jit(lambda k: model.init(k, jnp.zeros((2, 32, 32, 3))))(
      jax.random.key(0))
  assert airbench.widths(0.5) == (32, 128, 128)
  assert airbench.widths(1.0) == (64, 256, 256)
  n = sum(p.size for p in jax.tree.leaves(variables["params"]))
  assert n == 497_528  # as in the models table
  for path, _ in jax.tree_util.tree_leaves_with_path(variables["params"]):
    assert "scale" not in str(path)  # BN scale frozen at 1: not a parameter
  # The logits are the head's output scaled by 1/9.
  out = jax.jit(model.apply)(variables, jnp.ones((2, 32, 32, 3)))
  assert out.shape == (2, 10)
  with pytest.raises(ValueError, match="width multiplier"):
    airbench.widths(0.0)


# --- Optimizer groups ----------------------------------------------------------

def _params():
  return {"whiten": {"kernel": jnp.ones((2, 2, 3, 4)), "bias": jnp.ones(4)},
          "group1": {"conv1": {"kernel": jnp.ones((3, 3, 4, 4))},
                     "norm1": {"bias": jnp.ones(4)}},
          "head": {"kernel": jnp.ones((4, 10))}}


def test_param_labels():
  labels = train.param_labels(_params())
  assert labels["whiten"] == {"kernel": "frozen", "bias": "whiten_bias"}
  assert labels["group1"]["norm1"]["bias"] == "norm_bias"
  assert labels["group1"]["conv1"]["kernel"] == "other"


def test_bn_bias_learning_rate_and_decay_per_group():
  c = tiny_config()
  config_lib.airbench_recipe(c, width=0.125, epochs=1)
  c.optim.weight_decay = 0.01
  lr = 0.5
  sched = lambda t: lr
  params = _params()
  tx = train.make_optimizer(c, sched, params, steps_per_epoch=10)
  grads = jax.tree.map(lambda p: jnp.full_like(p, 0.1), params)
  updates, _ = tx.update(grads, tx.init(params), params)
  m = c.optim.momentum  # first Nesterov step: (1 + m) * g
  expect = lambda g_eff, scale: -lr * scale * (1 + m) * g_eff
  np.testing.assert_allclose(updates["group1"]["norm1"]["bias"],
                             expect(0.1 + 0.01 / 64, 64), rtol=1e-5)
  np.testing.assert_allclose(updates["group1"]["conv1"]["kernel"],
                             expect(0.1 + 0.01, 1), rtol=1e-5)
  np.testing.assert_allclose(updates["whiten"]["bias"], expect(0.11, 1),
                             rtol=1e-5)
  np.testing.assert_array_equal(updates["whiten"]["kernel"], 0.0)


def test_whitening_bias_freezes_after_its_epochs():
  c = tiny_config()
  config_lib.airbench_recipe(c, width=0.125, epochs=1)
  c.train.whiten_bias_epochs = 1.0
  params = _params()
  tx = train.make_optimizer(c, lambda t: 0.1, params, steps_per_epoch=3)
  state = tx.init(params)
  grads = jax.tree.map(jnp.ones_like, params)
  moved = []
  for _ in range(5):
    updates, state = tx.update(grads, state, params)
    moved.append(float(jnp.abs(updates["whiten"]["bias"]).max()) > 0)
  assert moved == [True, True, True, False, False]


def test_default_resnet_optimizer_unchanged():
  # A model without special groups: one chain of decay on kernels + SGD.
  c = tiny_config()
  sched = optax.constant_schedule(0.1)
  params = {"conv": {"kernel": jnp.ones((3, 3, 2, 2))},
            "stem_norm": {"bias": jnp.ones(2), "scale": jnp.ones(2)}}
  grads = jax.tree.map(lambda p: jnp.full_like(p, 0.3), params)
  ref = optax.chain(optax.add_decayed_weights(
      c.optim.weight_decay, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1,
                                                        p)),
                    optax.sgd(sched, momentum=c.optim.momentum, nesterov=True))
  tx = train.make_optimizer(c, sched, params)
  s1, s2 = ref.init(params), tx.init(params)
  for _ in range(3):
    u1, s1 = ref.update(grads, s1, params)
    u2, s2 = tx.update(grads, s2, params)
    for a, b in zip(jax.tree.leaves(u1), jax.tree.leaves(u2)):
      np.testing.assert_array_equal(a, b)


def test_linear_schedule_is_airbench_s():
  c = tiny_config()
  config_lib.airbench_recipe(c, width=0.5, epochs=10)
  total, spe, sched = train.schedule_and_steps(c, 1024 * 10)
  assert (total, spe) == (100, 10)
  warm = int(0.23 * 10 * 10)
  peak = c.optim.learning_rate
  assert peak == pytest.approx(1.5)  # 11.5 / (1 + 1 / 0.15) at B = 1024
  assert float(sched(0)) == pytest.approx(0.2 * peak)
  assert float(sched(warm)) == pytest.approx(peak)
  assert float(sched(total)) == pytest.approx(0.07 * peak)
  mid = (warm + total) // 2
  assert float(sched(mid)) == pytest.approx(
      peak + (0.07 * peak - peak) * (mid - warm) / (total - warm), rel=1e-5)


# --- Lookahead -----------------------------------------------------------------

def test_lookahead_arithmetic():
  slow = {"w": jnp.array([0.0, 10.0])}
  fast = {"w": jnp.array([4.0, 0.0])}
  new_slow, new_fast = train.lookahead(slow, fast, 0.75)
  np.testing.assert_allclose(new_slow["w"], [1.0, 7.5])
  np.testing.assert_allclose(new_fast["w"], [1.0, 7.5])
  c = tiny_config()
  c.optim.lookahead_decay = 0.5
  assert train.lookahead_decay(c, 5, 10) == pytest.approx(0.5 / 8)


def _state_and_step(c, shapes, tmp_path):
  """A fresh state of ``c`` on ``shapes`` and a jitted step maker
  (``make(**kwargs)`` passes extra arguments to ``make_train_step``)."""
  from jax.sharding import NamedSharding, PartitionSpec as P
  mesh = train.make_mesh()
  total, spe, sched = train.schedule_and_steps(c, len(shapes.train.labels))
  model, tx, _, state = train.restored_state(
      c, str(tmp_path), shapes, sched, NamedSharding(mesh, P()), spe)
  make = lambda **kw: jax.jit(train.make_train_step(
      c, model, tx, sched, train.rng_streams(0), spe,
      len(shapes.train.labels), jnp.asarray(shapes.mean),
      NamedSharding(mesh, P("data")), total, **kw))
  return model, state, make


def test_lookahead_in_the_step(shapes, tmp_path):
  # 7 steps, sync every 5: after the last step the weights are the slow
  # copy (decay 1), which was last updated at step 5.
  c = _tiny_airbench()
  c.train.steps = 7
  c.optim.lookahead_every = 5
  _, state, make = _state_and_step(c, shapes, tmp_path)
  assert "lookahead" in state
  step = make()
  images = jnp.asarray(shapes.train.images)
  labels = jnp.asarray(shapes.train.labels.astype(np.int32))
  states = []
  for _ in range(7):
    state, _ = step(state, images, labels)
    states.append(jax.device_get(state))
  eq = lambda a, b: all(np.array_equal(x, y) for x, y in
                        zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  # Step 5 synced: weights == slow copy. Step 6 did not.
  assert eq(states[4]["params"], states[4]["lookahead"]["params"])
  assert not eq(states[5]["params"], states[5]["lookahead"]["params"])
  # The last step: weights become the slow copy from step 5, unchanged.
  assert eq(states[6]["lookahead"], states[4]["lookahead"])
  assert eq(states[6]["params"], states[4]["lookahead"]["params"])
  assert eq(states[6]["batch_stats"], states[4]["lookahead"]["batch_stats"])



def test_the_frozen_bias_step_takes_no_gradient_of_the_whitening_layer(
    shapes, tmp_path):
  """After whiten_bias_epochs the loop switches to a step whose backward pass
  stops before the whitening layer: the gradient reaching it is zero, and
  the parameters it trains come out as the full step's (up to float
  rounding: the two compile differently)."""
  c = _tiny_airbench()
  c.train.steps = 3
  model, state, make = _state_and_step(c, shapes, tmp_path)
  params = jax.device_get(state["params"])
  x = jnp.asarray(shapes.train.images[:8], jnp.float32) / 255
  others = {k: v for k, v in train.model_variables(state).items()
            if k != "params"}
  grad = lambda frozen: jax.grad(lambda p: model.apply(
      {"params": train.no_gradient(p, frozen), **others}, x, train=True,
      mutable=list(others))[0].sum())(params)
  full, frozen = grad(False), grad(True)
  assert not np.any(full["whiten"]["kernel"])          # never trained
  assert np.any(full["whiten"]["bias"]) and not np.any(frozen["whiten"]["bias"])
  np.testing.assert_allclose(frozen["head"]["kernel"], full["head"]["kernel"],
                             rtol=1e-5, atol=1e-7)
  steps = {f: make(whiten_bias_frozen=f) for f in (False, True)}
  images = jnp.asarray(shapes.train.images)
  labels = jnp.asarray(shapes.train.labels.astype(np.int32))
  outs = {f: steps[f](jax.device_get(state), images, labels)[0]
          for f in (False, True)}
  # (Here the whitening bias is still being trained, so only the full step
  # moves it; the loop uses the frozen step only once its schedule is 0.)
  for a, b in zip(*(jax.tree.leaves({k: v for k, v in outs[f]["params"].items()
                                     if k != "whiten"}) for f in (False, True))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

# --- Augmentation and TTA -------------------------------------------------------

def test_alternating_flip_flips_exactly_the_scheduled_half():
  n = 1000
  key = jax.random.key(3)
  idx = jnp.arange(n)
  e0 = np.asarray(train.alternating_flip(key, idx, 0, n))
  e1 = np.asarray(train.alternating_flip(key, idx, 1, n))
  e2 = np.asarray(train.alternating_flip(key, idx, 2, n))
  assert e0.sum() == n // 2
  np.testing.assert_array_equal(e1, ~e0)
  np.testing.assert_array_equal(e2, e0)
  images = jax.random.uniform(jax.random.key(0), (8, 4, 5, 3))
  flips = jnp.array([True, False] * 4)
  out = train.augment(jax.random.key(1), images, translate=0,
                      flip="alternating", flips=flips)
  for i in range(8):
    want = images[i, :, ::-1] if flips[i] else images[i]
    np.testing.assert_array_equal(out[i], want)


def test_reflect_translate_crops_the_padded_image():
  images = jax.random.uniform(jax.random.key(0), (16, 6, 6, 1))
  out = train.augment(jax.random.key(1), images, translate=2, pad="reflect",
                      flip="none")
  padded = np.pad(np.asarray(images), ((0, 0), (2, 2), (2, 2), (0, 0)),
                  mode="reflect")
  for i in range(16):
    hits = [(dy, dx) for dy in range(5) for dx in range(5)
            if np.array_equal(out[i], padded[i, dy:dy + 6, dx:dx + 6])]
    assert hits


def test_default_augment_is_the_old_one():
  images = jax.random.uniform(jax.random.key(0), (8, 8, 8, 3))
  key = jax.random.key(5)
  k_crop, k_flip = jax.random.split(key)
  padded = jnp.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
  off = jax.random.randint(k_crop, (8, 2), 0, 9)
  flip = jax.random.bernoulli(k_flip, 0.5, (8,))
  out = train.augment(key, images)
  for i in range(8):
    want = padded[i, off[i, 0]:off[i, 0] + 8, off[i, 1]:off[i, 1] + 8]
    want = want[:, ::-1] if flip[i] else want
    np.testing.assert_array_equal(out[i], want)


def test_tta_is_the_weighted_mean_of_the_stated_views():
  w = jax.random.normal(jax.random.key(0), (5 * 5 * 2, 3))
  f = lambda x: x.reshape(len(x), -1) @ w
  x = jax.random.uniform(jax.random.key(1), (4, 5, 5, 2))
  xn = np.asarray(x)
  padded = np.pad(xn, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
  up_left, down_right = padded[:, 0:5, 0:5], padded[:, 2:7, 2:7]
  np.testing.assert_array_equal(tta.shifted(x, -1, -1), up_left)
  np.testing.assert_array_equal(tta.shifted(x, 1, 1), down_right)
  m = lambda v: v[:, :, ::-1]
  want = (0.25 * f(xn) + 0.25 * f(m(xn)) + 0.125 * (
      f(up_left) + f(m(up_left)) + f(down_right) + f(m(down_right))))
  np.testing.assert_allclose(tta.wrap(f, 2)(x), want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(tta.wrap(f, 1)(x), 0.5 * (f(xn) + f(m(xn))),
                             rtol=1e-5, atol=1e-5)
  assert tta.wrap(f, 0) is f
  assert sum(wt for wt, _ in tta.views(2)) == 1.0


# --- Training on the new network -------------------------------------------------

@pytest.mark.parametrize("mode", ["clean", "masked", "mixed"])
def test_one_training_run_per_mode_on_airbench(mode, tmp_path):
  c = _tiny_airbench(**{"train.mode": mode, "train.steps": 3,
                        "train.mask_types": ("alpha", "beta", "gamma")})
  result = train.train_and_evaluate(c, str(tmp_path / mode))
  assert result["step"] == 3 and np.isfinite(result["loss"])
  import json  # pylint: disable=g-import-not-at-top
  with open(tmp_path / mode / "eval" / "clean.json") as f:
    clean = json.load(f)
  assert clean["tta"] == 2 and clean["n"] == 96
  assert 0 <= clean["accuracy"] <= 100 and 0 <= clean["accuracy_no_tta"] <= 100
  assert not os.path.exists(tmp_path / mode / "eval" / "mask_sweep.json")


def test_airbench_learns_the_synthetic_shapes(tmp_path):
  # A real learning check: 40 steps on the embedded shapes beat chance by far.
  c = _tiny_airbench(**{"train.steps": 40, "data.synthetic_train": 2000,
                        "data.synthetic_test": 500, "train.batch_size": 100,
                        "model.width": 0.25, "eval.tta": 0})
  train.train_and_evaluate(c, str(tmp_path))
  import json  # pylint: disable=g-import-not-at-top
  with open(tmp_path / "eval" / "clean.json") as f:
    assert json.load(f)["accuracy"] > 60


# --- Configs and install extras ------------------------------------------------

def test_fast_configs_validate():
  sys.path.insert(0, os.path.join(REPO, "configs"))
  import fast  # pylint: disable=g-import-not-at-top
  for arg in (None, "cpu"):
    c = fast.get_config(arg)
    validate(c)
    assert c.model.name == "airbench" and c.eval.tta == 2
  assert fast.get_config().model.width == 1.0
  assert fast.get_config().train.epochs == 9.9
  with pytest.raises(config_lib.ConfigError, match="not known"):
    fast.get_config("gpu8")


@pytest.mark.parametrize("field,value,match", [
    ("train.flip", "sometimes", "train.flip"),
    ("train.translate_pad", "wrap", "train.translate_pad"),
    ("eval.tta", 3, "eval.tta"),
    ("eval.suites", ("clean", "robustness?"), "eval.suites"),
    ("model.width", 0.0, "model.width"),
    ("optim.lookahead_every", -1, "optim.lookahead_every"),
    ("optim.weight_decay_on", "biases", "optim.weight_decay_on"),
])
def test_new_config_fields_are_validated(field, value, match):
  c = _tiny_airbench(**{field: value})
  with pytest.raises(config_lib.ConfigError, match=match):
    validate(c)


def test_install_extras_list_what_tfds_needs():
  tomllib = pytest.importorskip("tomllib")    # Python >= 3.11
  with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
    extras = tomllib.load(f)["project"]["optional-dependencies"]
  assert any(r.startswith("tensorflow") for r in extras["tfds"])
  assert any(r.startswith("jax[cuda12]") for r in extras["gpu"])
  assert set(extras["tfds"]) <= set(extras["gpu"])
  # The installed metadata carries them too (pip install '.[tfds]').
  requires = importlib.metadata.requires("mdr") or []
  assert any("tensorflow" in r and 'extra == "tfds"' in r for r in requires)
