"""mdr.attacks: gradient attacks, LaVAN patches, the exhaustive square, the
registry — each checked against a value known without running the code."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mdr import attacks
from mdr import masks
from mdr.attacks import patch

H = W = 6
C = 3


def _linear(num_classes=2, seed=0):
  w = jax.random.normal(jax.random.key(seed), (H * W * C, num_classes))
  b = jax.random.normal(jax.random.key(seed + 1), (num_classes,))
  return (lambda x: x.reshape(len(x), -1) @ w + b), w


def _images(n=8, seed=2, lo=0.3, hi=0.7):
  return jax.random.uniform(jax.random.key(seed), (n, H, W, C), minval=lo,
                            maxval=hi)


# --- PGD / FGSM -------------------------------------------------------------------

def test_pgd_reaches_the_analytic_linf_worst_case_of_a_linear_model():
  f, w = _linear(2)
  x = _images()
  y = jnp.argmax(f(x), -1)          # attack the model's own predictions
  eps = 0.05                         # the box [0, 1] does not bind (x in [.3, .7])
  adv = attacks.pgd(f, x, y, jax.random.key(0), eps=eps, step_size=0.02,
                    steps=10, loss="margin", random_start=False)
  margin = lambda z: jnp.take_along_axis(z, y[:, None], 1)[:, 0] - \
      jnp.take_along_axis(z, 1 - y[:, None], 1)[:, 0]
  w_y = w.T[y]                       # [B, D]
  w_k = w.T[1 - y]
  drop = eps * jnp.sum(jnp.abs(w_y - w_k), -1)
  np.testing.assert_allclose(margin(f(x)) - margin(f(adv)), drop, rtol=1e-4)
  assert float(jnp.abs(adv - x).max()) <= eps + 1e-6


def test_l2_projection_is_exact():
  d = jax.random.normal(jax.random.key(0), (4, H, W, C))
  norms = jnp.sqrt(jnp.sum(d**2, axis=(1, 2, 3)))
  eps = float(norms[1])              # one inside-or-on, others in/outside
  p = attacks.project(d, eps, "l2")
  pn = jnp.sqrt(jnp.sum(p**2, axis=(1, 2, 3)))
  for i in range(4):
    if norms[i] > eps:
      np.testing.assert_allclose(pn[i], eps, rtol=1e-5)
      np.testing.assert_allclose(p[i] / pn[i], d[i] / norms[i], atol=1e-5)
    else:
      np.testing.assert_allclose(p[i], d[i], rtol=1e-6)


def test_l2_pgd_stays_in_the_ball_and_the_box():
  f, _ = _linear(3)
  x = _images(lo=0.0, hi=1.0)
  y = jnp.zeros(8, jnp.int32)
  adv = attacks.pgd(f, x, y, jax.random.key(0), eps=0.5, step_size=0.2,
                    steps=5, norm="l2")
  dist = jnp.sqrt(jnp.sum((adv - x)**2, axis=(1, 2, 3)))
  assert float(dist.max()) <= 0.5 + 1e-5
  assert float(adv.min()) >= 0 and float(adv.max()) <= 1


def test_fgsm_is_one_pgd_step_without_random_start():
  f, _ = _linear(3)
  x = _images()
  y = jnp.array([0, 1, 2, 0, 1, 2, 0, 1])
  a = attacks.fgsm(f, x, y, eps=8 / 255)
  b = attacks.pgd(f, x, y, jax.random.key(9), eps=8 / 255,
                  step_size=8 / 255, steps=1, random_start=False)
  np.testing.assert_array_equal(a, b)
  # and it is x + eps * sign(grad) where the box does not bind
  g = jax.grad(lambda z: jnp.sum(attacks.attack_loss(f(z), y)))(x)
  np.testing.assert_allclose(a, x + 8 / 255 * jnp.sign(g), atol=1e-6)


def test_targeted_pgd_raises_the_target_logit():
  f, _ = _linear(5)
  x = _images()
  target = (jnp.argmax(f(x), -1) + 1) % 5
  adv = attacks.pgd(f, x, target, jax.random.key(0), eps=0.05,
                    step_size=0.01, steps=10, targeted=True)
  pick = lambda z: jnp.take_along_axis(z, target[:, None], 1)[:, 0]
  assert bool(jnp.all(pick(f(adv)) > pick(f(x))))


def test_restarts_never_lower_attack_success():
  f, _ = _linear(4, seed=3)
  x = _images(64, lo=0.0, hi=1.0)
  y = jnp.argmax(f(x), -1)
  for eps in (0.002, 0.01, 0.02):
    one = attacks.pgd(f, x, y, jax.random.key(1), eps=eps, step_size=eps / 4,
                      steps=2, restarts=1)
    many = attacks.pgd(f, x, y, jax.random.key(1), eps=eps,
                       step_size=eps / 4, steps=2, restarts=4)
    s1 = np.asarray(attacks.fooled(f(one), y))
    s4 = np.asarray(attacks.fooled(f(many), y))
    assert np.all(s4 >= s1)          # every example fooled once stays fooled


def test_eps_sweep_traces_once():
  f, _ = _linear(3)
  x = _images()
  y = jnp.zeros(8, jnp.int32)
  traces = []

  def logits(z):
    traces.append(1)
    return f(z)

  @jax.jit
  def run(eps):
    return attacks.pgd(logits, x, y, jax.random.key(0), eps=eps,
                       step_size=eps / 4, steps=3)

  for eps in (1 / 255, 2 / 255, 4 / 255, 8 / 255):
    out = run(jnp.float32(eps))
    assert float(jnp.abs(out - x).max()) <= eps + 1e-6
  n = len(traces)
  run(jnp.float32(16 / 255))
  assert len(traces) == n            # no retrace for a new eps


def test_pgd_argument_errors_name_the_value():
  f, _ = _linear(2)
  x = _images()
  y = jnp.zeros(8, jnp.int32)
  with pytest.raises(ValueError, match="norm must be one of"):
    attacks.pgd(f, x, y, jax.random.key(0), eps=0.1, step_size=0.1, steps=1,
                norm="l1")
  with pytest.raises(ValueError, match="loss must be one of"):
    attacks.pgd(f, x, y, jax.random.key(0), eps=0.1, step_size=0.1, steps=1,
                loss="hinge")


# --- LaVAN patches ------------------------------------------------------------

def test_paste_changes_only_the_square():
  imgs = _images(4, lo=0, hi=1)
  patches = jnp.full((4, 2, 2, C), 7.0)        # network domain: any value
  locs = jnp.array([[0, 0], [4, 4], [1, 3], [2, 2]])
  out = patch.paste_batch(imgs, patches, locs)
  for i in range(4):
    sq = np.asarray(attacks.occlusion.square_at(locs[i, 0], locs[i, 1], 2,
                                                H, W))
    np.testing.assert_array_equal(np.asarray(out[i])[~sq],
                                  np.asarray(imgs[i])[~sq])
    assert np.all(np.asarray(out[i])[sq] == 7.0)


def test_per_image_patch_image_domain_and_outside_untouched():
  f, _ = _linear(4)
  x = _images(6, lo=0, hi=1)
  src = jnp.argmax(f(x), -1)
  tgt = patch.draw_targets(jax.random.key(0), src, 4)
  assert bool(jnp.all(tgt != src))
  locs = jnp.broadcast_to(jnp.array(patch.corner("bottom_right", 3, H, W)),
                          (6, 2))
  p, used = patch.per_image(f, x, src, tgt, locs, jax.random.key(1), side=3,
                            steps=50, step_size=0.1, domain="image")
  assert p.shape == (6, 3, 3, C)
  assert float(p.min()) >= 0 and float(p.max()) <= 1
  out = patch.paste_batch(x, p, locs)
  np.testing.assert_array_equal(out[:, :3, :, :], x[:, :3, :, :])
  np.testing.assert_array_equal(out[:, :, :3, :], x[:, :, :3, :])
  assert bool(jnp.all(used <= 50))
  pn, _ = patch.per_image(f, x, src, tgt, locs, jax.random.key(1), side=3,
                          steps=50, step_size=0.5, domain="network")
  assert float(jnp.abs(pn).max()) > 1   # unconstrained


def test_per_image_stops_when_confident():
  f, _ = _linear(4)
  x = _images(6, lo=0, hi=1)
  src = jnp.argmax(f(x), -1)
  tgt = patch.draw_targets(jax.random.key(0), src, 4)
  locs = jnp.zeros((6, 2), jnp.int32)
  # confidence 0: every example is done before any step
  _, used = patch.per_image(f, x, src, tgt, locs, jax.random.key(1), side=2,
                            steps=20, confidence=0.0)
  np.testing.assert_array_equal(used, 0)


def test_shift_moves_the_patch_by_exactly_one_pixel():
  locs = jnp.array([[0, 0], [2, 3], [1, 4]])   # side 2 in 6x6: x max is 4
  moved = patch.shifted_locations(locs, 2, H, W)
  np.testing.assert_array_equal(moved, [[0, 1], [2, 4], [1, 3]])
  np.testing.assert_array_equal(jnp.abs(moved - locs).sum(-1), 1)


def test_universal_patch_shape_and_determinism():
  f, _ = _linear(4)
  train = _images(32, lo=0, hi=1)
  a, steps_a = patch.universal(f, train, 2, jax.random.key(5), side=2,
                               steps=15, batch=8, step_size=0.05)
  b, steps_b = patch.universal(f, train, 2, jax.random.key(5), side=2,
                               steps=15, batch=8, step_size=0.05)
  c, _ = patch.universal(f, train, 2, jax.random.key(6), side=2, steps=15,
                         batch=8, step_size=0.05)
  assert a.shape == (2, 2, C) and int(steps_a) <= 15
  np.testing.assert_array_equal(a, b)
  assert int(steps_a) == int(steps_b)
  assert not np.array_equal(a, c)
  assert float(a.min()) >= 0 and float(a.max()) <= 1


def test_patch_errors():
  f, _ = _linear(2)
  x = _images(2)
  z = jnp.zeros(2, jnp.int32)
  with pytest.raises(ValueError, match="domain must be one of"):
    patch.per_image(f, x, z, z + 1, jnp.zeros((2, 2), jnp.int32),
                    jax.random.key(0), side=2, domain="pixels")
  with pytest.raises(ValueError, match="patch side"):
    patch.per_image(f, x, z, z + 1, jnp.zeros((2, 2), jnp.int32),
                    jax.random.key(0), side=9)


# --- alpha_exhaustive -------------------------------------------------------------

def _tiny_cnn_logits():
  k = jax.random.normal(jax.random.key(4), (3, 3, C, 4))
  d = 0.2 * jax.random.normal(jax.random.key(5), (H * W * 4, 3))

  def f(x):
    y = jax.lax.conv_general_dilated(x, k, (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO",
                                                        "NHWC"))
    return jnp.tanh(y).reshape(len(x), -1) @ d
  return f


@pytest.mark.parametrize("ratio", [0.03, 0.1, 0.25])
def test_alpha_exhaustive_equals_a_python_brute_force(ratio):
  f = _tiny_cnn_logits()
  x = _images(5, lo=0, hi=1)
  y = jnp.argmax(f(x), -1).at[0].set((jnp.argmax(f(x[:1]), -1)[0] + 1) % 3)
  fill = lambda imgs, m: masks.apply(imgs, m, "zero")
  got = np.asarray(attacks.worst_square(f, x, y, ratio, fill))
  s = int(masks.side(ratio, H, W))
  # Every position in raster order, each scored on the whole batch (the same
  # batch shape as the attack, so the floats match), first minimum kept.
  best = np.full(5, np.inf)
  best_pos = np.zeros((5, H, W), bool)
  for yy, xx in itertools.product(range(H - s + 1), range(W - s + 1)):
    m = np.zeros((H, W), bool)
    m[yy:yy + s, xx:xx + s] = True
    z = np.asarray(f(fill(x, jnp.broadcast_to(jnp.asarray(m), (5, H, W)))))
    e = np.exp(z - z.max(-1, keepdims=True))
    p_true = (e / e.sum(-1, keepdims=True))[np.arange(5), np.asarray(y)]
    score = np.where(z.argmax(-1) != np.asarray(y), p_true - 1, p_true)
    for i in range(5):
      if score[i] < best[i]:
        best[i], best_pos[i] = score[i], m
  np.testing.assert_array_equal(got, best_pos)
  assert got.sum(axis=(1, 2)).tolist() == [s * s] * 5


def test_alpha_exhaustive_is_never_weaker_than_alpha():
  f = _tiny_cnn_logits()
  x = _images(16, lo=0, hi=1)
  y = jnp.argmax(f(x), -1)
  fill = lambda imgs, m: masks.apply(imgs, m, "zero")
  from mdr import saliency  # pylint: disable=g-import-not-at-top
  sal = saliency.input_gradient(f, x, y)
  for ratio in (0.1, 0.2):
    ex = attacks.worst_square(f, x, y, ratio, fill)
    al = masks.batch_masks("alpha", jax.random.split(jax.random.key(0), 16),
                           ratio, (H, W), sal)
    acc_ex = jnp.mean(jnp.argmax(f(fill(x, ex)), -1) == y)
    acc_al = jnp.mean(jnp.argmax(f(fill(x, al)), -1) == y)
    assert float(acc_ex) <= float(acc_al)


# --- Registry ---------------------------------------------------------------------

def test_registry_metadata_and_errors():
  assert attacks.names("occlusion")[:4] == ["alpha", "beta", "gamma",
                                            "alpha_pixels"]
  for name, spec in attacks.REGISTRY.items():
    assert spec.name == name and spec.display and spec.symbol
    assert spec.family in ("occlusion", "gradient", "patch")
    assert isinstance(spec.pixels(0.2, 32, 32), int)
  assert attacks.get("alpha").pixels(0.2, 32, 32) == 14 * 14
  assert attacks.get("gamma").pixels(0.2, 32, 32) == 205
  with pytest.raises(ValueError, match="unknown attack 'delta'.*alpha"):
    attacks.get("delta")
  assert attacks.salt("beta") == attacks.salt("beta")
  assert attacks.salt("beta") != attacks.salt("gamma")
