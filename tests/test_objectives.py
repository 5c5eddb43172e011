"""Training objectives: the batches each one makes, and that they train."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mdr import config as config_lib
from mdr import objectives
from tests.conftest import linear_probe_class
from tests.conftest import tiny_config

EPS = 8 / 255


class Linear(nn.Module):
  num_classes: int = 10

  @nn.compact
  def __call__(self, x, train: bool = False):
    w = self.param("w", nn.initializers.normal(0.05),
                   (x[0].size, self.num_classes))
    return x.reshape(len(x), -1) @ w


def _ctx(config, b=16, seed=0, train_fn=None, images=None):
  model = Linear()
  k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
  x = (jax.random.uniform(k1, (b, 8, 8, 3)) if images is None else images)
  labels = jax.random.randint(k2, (b,), 0, 10)
  variables = model.init(k3, x)
  logits_fn = lambda v: model.apply(variables, v)
  return objectives.Context(
      config=config, key=jax.random.key(7), images=x, labels=labels,
      num_classes=10, logits_fn=logits_fn,
      train_logits_fn=train_fn or logits_fn,
      mean=jnp.full((3,), 0.5)), logits_fn


def _loss(logits_fn, x, labels):
  return float(optax.softmax_cross_entropy_with_integer_labels(
      logits_fn(x), labels).mean())


def test_registry_names_the_modes_and_config_checks_them():
  assert objectives.names()[:3] == ("clean", "masked", "mixed")
  assert {"pgd_at", "fgsm_rs", "m2at"} <= set(objectives.names())
  c = tiny_config(**{"train.mode": "trades"})
  with pytest.raises(config_lib.ConfigError, match="pgd_at"):
    config_lib.validate(c)
  for field, value in [("train.m2at.mask", "circle"), ("train.m2at.mix", "x"),
                       ("train.adv.attack_bn", "frozen"),
                       ("train.adv.steps", 0), ("train.m2at.mask_min", 0.9)]:
    with pytest.raises(config_lib.ConfigError, match=field.split(".")[-1]):
      config_lib.validate(tiny_config(**{field: value}))


def test_pgd_at_batch_in_ball_and_box_and_raises_the_loss():
  c = tiny_config(**{"train.mode": "pgd_at", "train.adv.steps": 5})
  ctx, logits_fn = _ctx(c)
  images, targets = objectives.get("pgd_at").prepare(ctx)
  np.testing.assert_array_equal(targets, ctx.labels)
  d = np.asarray(images - ctx.images)
  assert np.abs(d).max() <= EPS + 1e-6 and np.abs(d).max() > 0.5 * EPS
  assert float(images.min()) >= 0 and float(images.max()) <= 1
  assert _loss(logits_fn, images, ctx.labels) > \
      _loss(logits_fn, ctx.images, ctx.labels) + 0.01


def test_attack_runs_the_model_in_the_configured_mode():
  def raises(x):
    raise AssertionError("training-mode model called")
  c = tiny_config(**{"train.mode": "pgd_at", "train.adv.steps": 2,
                     "train.adv.attack_bn": "eval"})
  ctx, _ = _ctx(c, train_fn=raises)
  objectives.get("pgd_at").prepare(ctx)          # never calls train mode
  c.train.adv.attack_bn = "train"
  with pytest.raises(AssertionError, match="training-mode"):
    objectives.get("pgd_at").prepare(_ctx(c, train_fn=raises)[0])


def test_fgsm_rs_start_is_uniform_in_the_ball():
  # With a zero step the result is the random start itself.
  c = tiny_config(**{"train.mode": "fgsm_rs", "train.adv.fgsm_step": 0.0})
  ctx, _ = _ctx(c, b=64, images=jnp.full((64, 8, 8, 3), 0.5))
  images, _ = objectives.get("fgsm_rs").prepare(ctx)
  d = np.asarray(images - 0.5).ravel() / EPS
  assert d.min() >= -1 - 1e-5 and d.max() <= 1 + 1e-5
  # Uniform on [-1, 1]: mean 0, variance 1/3, each quarter ~25 %.
  assert abs(d.mean()) < 0.02 and abs(d.var() - 1 / 3) < 0.01
  hist = np.histogram(d, bins=4, range=(-1, 1))[0] / d.size
  np.testing.assert_allclose(hist, 0.25, atol=0.01)
  # The full step: one signed step of 10/255 from the start, projected.
  c.train.adv.fgsm_step = 10.0
  ctx2, logits_fn = _ctx(c, b=64)
  adv, _ = objectives.get("fgsm_rs").prepare(ctx2)
  assert np.abs(np.asarray(adv - ctx2.images)).max() <= EPS + 1e-6
  assert _loss(logits_fn, adv, ctx2.labels) > \
      _loss(logits_fn, ctx2.images, ctx2.labels)


@pytest.mark.parametrize("kind", ["square", "pixels", "beta", "gamma"])
def test_m2at_perturbs_exactly_the_masked_pixels(kind):
  c = tiny_config(**{"train.mode": "m2at", "train.adv.steps": 3,
                     "train.m2at.mask": kind, "train.m2at.mix": "none",
                     "train.m2at.share": 1.0})
  ctx, _ = _ctx(c)
  images, targets = objectives.m2at(ctx)
  adv = objectives.pgd_examples(ctx, objectives.salted(ctx.key,
                                                       "m2at/attack"))
  keep = np.asarray(objectives.perturbation_masks(
      kind, objectives.salted(ctx.key, "m2at/mask"), 0.3, 0.7, ctx.images,
      ctx.labels, ctx.logits_fn))
  x, a, out = map(np.asarray, (ctx.images, adv, images))
  np.testing.assert_array_equal(out[~keep], x[~keep])       # untouched
  np.testing.assert_allclose(out[keep], a[keep], atol=1e-6)  # δ kept
  share = keep.mean((1, 2))
  assert share.min() >= 0.3 - 0.08 and share.max() <= 0.7 + 0.08
  np.testing.assert_array_equal(targets, jax.nn.one_hot(ctx.labels, 10))
  if kind == "square":   # one box per image
    for m in keep:
      ys, xs = np.nonzero(m)
      assert m[ys.min():ys.max() + 1, xs.min():xs.max() + 1].all()


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
def test_mixing_weights_sum_to_one_and_labels_mix_with_the_same_lambda(kind):
  x = jax.random.uniform(jax.random.key(0), (32, 8, 8, 3))
  y = jax.nn.one_hot(jnp.arange(32) % 10, 10)
  out, ys, lam, partner = objectives.mix(kind, jax.random.key(1), x, y, 1.0)
  lam, partner = np.asarray(lam), np.asarray(partner)
  assert sorted(partner) == list(range(32))
  assert (lam >= 0).all() and (lam <= 1).all() and lam.std() > 0.05
  np.testing.assert_allclose(np.asarray(ys).sum(1), 1.0, atol=1e-6)
  np.testing.assert_allclose(
      ys, lam[:, None] * y + (1 - lam[:, None]) * np.asarray(y)[partner],
      atol=1e-6)
  x, out = np.asarray(x), np.asarray(out)
  if kind == "mixup":
    np.testing.assert_allclose(
        out, lam[:, None, None, None] * x +
        (1 - lam[:, None, None, None]) * x[partner], atol=1e-6)
  else:  # each pixel from the image or its partner; λ = the kept share
    own = (out == x).all(-1)
    other = (out == x[partner]).all(-1)
    assert (own | other).all()
    moved = partner != np.arange(32)   # a fixed point mixes with itself
    np.testing.assert_allclose(lam[moved], own.mean((1, 2))[moved],
                               atol=1e-6)


def test_m2at_share_and_rest():
  c = tiny_config(**{"train.mode": "m2at", "train.adv.steps": 2,
                     "train.m2at.share": 0.25, "train.m2at.rest": "clean"})
  ctx, _ = _ctx(c, b=16)
  images, targets = objectives.m2at(ctx)
  np.testing.assert_array_equal(images[4:], ctx.images[4:])  # 12 clean
  np.testing.assert_array_equal(targets[4:],
                                jax.nn.one_hot(ctx.labels[4:], 10))
  assert (np.asarray(images[:4]) != np.asarray(ctx.images[:4])).any()
  np.testing.assert_allclose(np.asarray(targets).sum(1), 1.0, atol=1e-6)


def test_seed_modes_are_the_mask_batch_of_before():
  from mdr import train  # pylint: disable=g-import-not-at-top
  for mode in ("masked", "mixed"):
    c = tiny_config(**{"train.mode": mode})
    ctx, logits_fn = _ctx(c)
    images, targets = objectives.get(mode).prepare(ctx)
    from mdr import saliency  # pylint: disable=g-import-not-at-top
    import functools  # pylint: disable=g-import-not-at-top
    expect = train.mask_training_batch(
        c.train, ctx.key, ctx.images, ctx.labels,
        functools.partial(saliency.input_gradient, logits_fn), ctx.mean)
    np.testing.assert_array_equal(images, expect)
    np.testing.assert_array_equal(targets, ctx.labels)
  ctx, _ = _ctx(tiny_config(**{"train.mode": "clean"}))
  images, targets = objectives.get("clean").prepare(ctx)
  assert images is ctx.images and targets is ctx.labels


# ---------------------------------------------------------------------------
# A real learning check: adversarial training learns the robust feature.
# ---------------------------------------------------------------------------

LinearProbe = linear_probe_class()


def robust_vs_brittle_data(n, seed):
  """Two classes: a robust 8x8 block (±0.2, 90 % predictive) and every
  other pixel shifted by ±3/255 (weak alone, perfectly predictive summed
  over 3,000 pixels: the non-robust features of Tsipras et al. 2019)."""
  from mdr.data import types  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  y = rng.integers(0, 2, n)
  s = 2.0 * y - 1
  x = 128 + rng.integers(-25, 26, (n, 32, 32, 3)) + 3 * s[:, None, None, None]
  block = np.where(rng.random(n) < 0.9, s, -s)
  x[:, :8, :8, :] = 128 + 51 * block[:, None, None, None] + \
      rng.integers(-10, 11, (n, 8, 8, 3))
  return types.Split(np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int32))


@pytest.mark.parametrize("mode", ["fgsm_rs", "pgd_at"])
def test_adversarial_training_beats_clean_training_under_pgd(tmp_path, mode):
  from mdr import attacks  # pylint: disable=g-import-not-at-top
  from mdr import models  # pylint: disable=g-import-not-at-top
  from mdr import train  # pylint: disable=g-import-not-at-top
  from mdr.data import types  # pylint: disable=g-import-not-at-top
  data = types.Dataset("robust_vs_brittle", robust_vs_brittle_data(2048, 0),
                       robust_vs_brittle_data(400, 1), ["a", "b"],
                       (0.5,) * 3, (0.25,) * 3)
  models.REGISTRY["linear_probe"] = models.ModelSpec(LinearProbe)
  try:
    acc = {}
    for m in ("clean", mode):
      c = tiny_config(**{"model.name": "linear_probe", "train.mode": m,
                         "train.steps": 120, "train.batch_size": 64,
                         "data.name": "robust_vs_brittle",
                         "train.augment": False, "optim.learning_rate": 0.1,
                         "optim.warmup_epochs": 0.0, "train.adv.steps": 5,
                         "train.adv.step": 2.5, "eval.suites": ("clean",)})
      train.train_and_evaluate(c, str(tmp_path / m), data)
      _, model, v = train.load_trained(str(tmp_path / m), data,
                                       train.make_mesh())
      f = lambda x, model=model, v=v: model.apply(v, x, train=False)
      x = data.test.images.astype(np.float32) / 255
      y = data.test.labels
      adv = attacks.pgd(f, x, y, jax.random.key(0), eps=EPS,
                        step_size=2 / 255, steps=10)
      acc[m] = (float((jnp.argmax(f(x), -1) == y).mean()),
                float((jnp.argmax(f(adv), -1) == y).mean()))
  finally:
    del models.REGISTRY["linear_probe"]
  print(mode, acc)
  (clean_clean, clean_pgd), (adv_clean, adv_pgd) = acc["clean"], acc[mode]
  assert clean_clean > 0.95          # the brittle features are learned ...
  assert clean_pgd < 0.3             # ... and PGD at 8/255 breaks them
  assert adv_pgd > 0.75              # the robust block survives PGD
  assert adv_pgd > clean_pgd + 0.45
