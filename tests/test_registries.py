"""One contract for every registered entry, whatever is registered next.

Attacks: occlusion masks are boolean ``[B, H, W]`` hiding exactly the
pixels the entry's budget says, under ``jit`` with the ratio traced (one
compilation for a sweep); gradient attacks stay in the ε-ball and in
[0, 1]. Models: build, initialise and run in inference mode (deterministic)
on CIFAR-shaped images. Objectives: a batch of the
input's shape in [0, 1] and targets that are labels or distributions.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mdr import attacks
from mdr import models
from mdr import objectives
from tests.conftest import tiny_config
from tests.test_objectives import _ctx

B, H, W = 3, 12, 12


def _logits_fn(x):
  w = jnp.linspace(-1.0, 1.0, x[0].size * 10).reshape(x[0].size, 10)
  return x.reshape(len(x), -1) @ w


def _mask_ctx(images, labels):
  saliency = jnp.abs(jax.grad(lambda x: _logits_fn(x)[:, 0].sum())(
      images)).sum(-1)
  return attacks.MaskContext(
      logits_fn=_logits_fn, images=images, labels=labels, saliency=saliency,
      fill=lambda x, m: jnp.where(m[..., None], 0.0, x))


@pytest.mark.parametrize("name", [n for n in attacks.names()
                                  if attacks.get(n).family == "occlusion"])
def test_every_occlusion_attack_hides_its_budget_under_jit(name):
  spec = attacks.get(name)
  images = jax.random.uniform(jax.random.key(0), (B, H, W, 3))
  labels = jnp.arange(B) % 10
  keys = jax.random.split(jax.random.key(1), B)
  traces = []

  def masks(ratio):
    traces.append(1)
    return spec.masks(_mask_ctx(images, labels), keys, ratio)
  fn = jax.jit(masks)
  for ratio in (0.0, 0.1, 0.25, 0.5):
    m = fn(jnp.float32(ratio))
    assert m.shape == (B, H, W) and m.dtype == jnp.bool_, (name, m.dtype)
    hidden = np.asarray(m).reshape(B, -1).sum(1)
    assert (hidden == spec.pixels(ratio, H, W)).all(), (name, ratio, hidden)
  assert len(traces) == 1, f"{name}: the ratio must be traced"
  assert spec.display and spec.symbol and spec.budget


@pytest.mark.parametrize("name", [n for n in attacks.names()
                                  if attacks.get(n).family == "gradient"])
def test_every_gradient_attack_stays_in_the_ball_under_jit(name):
  spec = attacks.get(name)
  images = jax.random.uniform(jax.random.key(0), (B, H, W, 3))
  labels = jnp.arange(B) % 10
  eps = 8 / 255
  fn = jax.jit(lambda x, y, k, e: spec.perturb(_logits_fn, x, y, k, e, 3,
                                                 "ce"))
  adv = np.asarray(fn(images, labels, jax.random.key(2), jnp.float32(eps)))
  assert adv.shape == images.shape
  assert np.abs(adv - np.asarray(images)).max() <= eps + 1e-6
  assert adv.min() >= 0.0 and adv.max() <= 1.0
  # It attacks: the loss on its images is not below the clean loss.
  ce = lambda x: -jax.nn.log_softmax(_logits_fn(x))[jnp.arange(B),
                                                    labels].mean()
  assert float(ce(adv)) >= float(ce(images)) - 1e-6


@pytest.mark.parametrize("name", sorted(models.REGISTRY))
def test_every_model_runs_in_inference_mode(name):
  model = models.get(name, num_classes=10, width=0.25)
  x = jax.random.uniform(jax.random.key(0), (2, 32, 32, 3))
  variables = jax.jit(lambda k, x: model.init(k, x, train=False))(
      jax.random.key(1), x)
  apply = jax.jit(lambda v, x: model.apply(v, x, train=False))
  logits = apply(variables, x)
  assert logits.shape == (2, 10) and bool(jnp.isfinite(logits).all())
  again = apply(variables, x)
  np.testing.assert_array_equal(np.asarray(logits), np.asarray(again))


@pytest.mark.parametrize("name", objectives.names())
def test_every_objective_makes_a_batch_of_its_input_shape(name):
  """Of its input shape in its declared encoding (``ds``: twice the
  channels), values in [0, 1]."""
  ctx, _ = _ctx(tiny_config(**{"train.mode": name}), b=8)
  objective = objectives.get(name)
  images, targets = objective.prepare(ctx)
  b, h, w, c = ctx.images.shape
  assert images.shape == (b, h, w, 2 * c if objective.encoding == "ds"
                          else c)
  assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
  if targets.ndim == 1:
    assert targets.shape == (8,) and jnp.issubdtype(targets.dtype,
                                                     jnp.integer)
  else:
    assert targets.shape == (8, 10)
    np.testing.assert_allclose(np.asarray(targets.sum(-1)), 1.0, atol=1e-5)
