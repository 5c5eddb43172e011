"""mdr.attacks.apgd: the checkpoint schedule by hand, the step-size rule
against a plain NumPy transcription of the reference loop, and strength."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mdr import attacks
from mdr.attacks import autopgd as apgd_lib

H = W = 6
C = 3


def _linear(num_classes=4, seed=0):
  w = jax.random.normal(jax.random.key(seed), (H * W * C, num_classes))
  b = jax.random.normal(jax.random.key(seed + 1), (num_classes,))
  return (lambda x: x.reshape(len(x), -1) @ w + b), np.asarray(w), np.asarray(b)


def _images(n=16, seed=2):
  return jax.random.uniform(jax.random.key(seed), (n, H, W, C), minval=0.0,
                            maxval=1.0)


def test_checkpoints_are_the_papers_schedule():
  # p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), times N.
  assert apgd_lib.checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
  # N = 20: windows 4, 3, 2, then 1 (0.22*20 = 4.4, 0.03*20 -> 1, 0.06*20 -> 1).
  assert apgd_lib.checkpoints(20) == [4, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                                      18, 19, 20]
  assert apgd_lib.checkpoints(0) == []
  with pytest.raises(ValueError, match="steps must be an integer >= 0, got -1"):
    apgd_lib.checkpoints(-1)


def test_a_flat_loss_halves_the_step_at_every_checkpoint():
  # The loss never rises: every window oscillates, the step halves 8 times.
  x = _images(4)
  y = jnp.zeros(4, jnp.int32)
  flat = lambda z: jnp.zeros((len(z), 3)) + jnp.arange(3.0)
  eps = 8 / 255
  adv, info = attacks.apgd(flat, x, y, jax.random.key(0), eps=eps, steps=100,
                           info=True)
  np.testing.assert_array_equal(np.asarray(info.reductions), 8)
  np.testing.assert_allclose(np.asarray(info.step_size), 2 * eps / 2**8,
                             rtol=1e-6)
  assert info.gradients == 101
  assert float(jnp.abs(adv - x).max()) <= eps + 1e-6


def _softmax_ce(z, y):
  z = z - z.max(-1, keepdims=True)
  return np.log(np.exp(z).sum(-1)) - z[np.arange(len(y)), y]


def _mlp(seed=5, hidden=16, classes=4):
  """A one-hidden-layer tanh network: float64 weights, its JAX function and
  a NumPy (loss, input gradient) of its cross-entropy."""
  r = np.random.default_rng(seed)
  w1 = r.normal(size=(H * W * C, hidden)) / 4
  w2 = r.normal(size=(hidden, classes)) * 2

  def f(v):
    return jnp.tanh(v.reshape(len(v), -1) @ w1) @ w2

  def loss_grad(v, y):
    n = len(y)
    h = np.tanh(v.reshape(n, -1) @ w1)
    z = h @ w2
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    p[np.arange(n), y] -= 1
    g = ((p @ w2.T) * (1 - h * h)) @ w1.T
    return _softmax_ce(z, y), g.reshape(v.shape)
  return f, loss_grad


def _reference(loss_grad, x, y, start, eps, steps):
  """The reference loop (autoattack APGD, ℓ∞, CE), transcribed in float64:
  returns the final step sizes and best losses."""
  n = len(y)

  proj = lambda v: np.clip(np.clip(v, x - eps, x + eps), 0, 1)
  e = lambda v: v[:, None, None, None]
  xa = start.copy()
  loss, grad = loss_grad(xa, y)
  best, x_best, g_best = loss.copy(), xa.copy(), grad.copy()
  step = np.full(n, 2 * eps)
  x_old = xa.copy()
  prev, count = loss.copy(), np.zeros(n)
  best_check, reduced = best.copy(), np.zeros(n, bool)
  marks = set(apgd_lib.checkpoints(steps))
  for i in range(steps):
    a = 0.75 if i > 0 else 1.0
    z = proj(xa + e(step) * np.sign(grad))
    new = proj(xa + a * (z - xa) + (1 - a) * (xa - x_old))
    x_old, xa = xa, new
    loss, grad = loss_grad(xa, y)
    count += loss > prev
    prev = loss
    up = loss > best
    x_best[up], g_best[up], best[up] = xa[up], grad[up], loss[up]
    if i + 1 in marks:
      window = (i + 1) - max([m for m in marks if m < i + 1], default=0)
      halve = (count <= 0.75 * window) | (~reduced & (best_check >= best))
      reduced, best_check = halve, best.copy()
      step[halve] /= 2
      xa[halve], grad[halve] = x_best[halve], g_best[halve]
      count[:] = 0
  return step, best


@pytest.mark.parametrize("steps", [20, 50])
def test_step_sizes_follow_the_reference_loop(steps):
  # In float64 on both sides: late steps are tiny, and whether a loss rose
  # by 1e-9 is not a question float32 can answer the same way twice.
  eps = 0.03
  key = jax.random.key(3)
  f, loss_grad = _mlp()
  with jax.enable_x64(True):
    x = _images(32).astype(jnp.float64)
    y = jnp.argmax(f(x), -1)
    _, info = attacks.apgd(f, x, y, key, eps=eps, steps=steps, info=True)
    start = apgd_lib._start(jax.random.fold_in(key, 0), x, jnp.float64(eps),
                            "linf")
  step, best = _reference(loss_grad, np.asarray(x, np.float64), np.asarray(y),
                          np.asarray(start, np.float64), eps, steps)
  np.testing.assert_allclose(np.asarray(info.step_size), step, rtol=1e-12)
  np.testing.assert_allclose(np.asarray(info.loss_best), best, rtol=1e-9)
  assert len(set(step.tolist())) > 1   # examples took different schedules


def test_dlr_losses_by_hand():
  z = jnp.array([[4.0, 1.0, 3.0, 0.0]])
  y = jnp.array([0])
  # untargeted: -(z_y - max other) / (z_1 - z_3) = -(4 - 3) / (4 - 1)
  np.testing.assert_allclose(apgd_lib.dlr_loss(z, y), [-1 / 3], rtol=1e-6)
  # targeted at 1: -(z_y - z_t) / (z_1 - (z_3 + z_4) / 2) = -(3) / (4 - .5)
  np.testing.assert_allclose(apgd_lib.dlr_loss(z, y, jnp.array([1])),
                             [-3 / 3.5], rtol=1e-6)


def test_apgd_stays_in_the_ball_and_never_loses_to_its_own_start():
  f, _, _ = _linear(4, seed=1)
  x = _images(64)
  y = jnp.argmax(f(x), -1)
  for norm, eps in (("linf", 0.02), ("l2", 0.3)):
    adv, info = attacks.apgd(f, x, y, jax.random.key(0), eps=eps, steps=12,
                             norm=norm, restarts=2, info=True)
    d = np.asarray(adv - x).reshape(64, -1)
    size = np.abs(d).max(1) if norm == "linf" else np.sqrt((d**2).sum(1))
    assert size.max() <= eps * (1 + 1e-5)
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1
    # the returned image is misclassified exactly where APGD says it fooled
    np.testing.assert_array_equal(np.asarray(attacks.fooled(f(adv), y)),
                                  np.asarray(info.fooled))
    assert info.gradients == 2 * 13


def test_apgd_is_at_least_as_strong_as_pgd_on_a_linear_model():
  f, _, _ = _linear(10, seed=7)
  x = _images(256)
  y = jnp.argmax(f(x), -1)
  eps = 0.01
  pgd = attacks.pgd(f, x, y, jax.random.key(0), eps=eps,
                    step_size=2.5 * eps / 10, steps=10)
  ce = attacks.apgd(f, x, y, jax.random.key(0), eps=eps, steps=10)
  tgt = attacks.apgd_targeted(f, x, y, jax.random.key(0), eps=eps, steps=10,
                              n_targets=2)
  acc = lambda a: float(jnp.mean(~attacks.fooled(f(a), y)))
  assert 0.05 < acc(pgd) < 0.95          # a budget where the attacks differ
  assert acc(ce) <= acc(pgd) + 1 / 256
  assert acc(tgt) <= acc(pgd) + 1 / 256


def test_apgd_errors_name_the_value():
  f, _, _ = _linear(4)
  x = _images(2)
  y = jnp.zeros(2, jnp.int32)
  with pytest.raises(ValueError, match="loss must be one of .* got 'hinge'"):
    attacks.apgd(f, x, y, jax.random.key(0), eps=0.1, loss="hinge")
  with pytest.raises(ValueError, match="restarts must be .* got 0"):
    attacks.apgd(f, x, y, jax.random.key(0), eps=0.1, restarts=0)
  with pytest.raises(ValueError, match=r"n_targets must be an integer in "
                     r"\[1, 3\].* got 4"):
    attacks.apgd_targeted(f, x, y, jax.random.key(0), eps=0.1, n_targets=4)
