"""APGD: auto-PGD with step-size halving and momentum (Croce & Hein 2020).

``apgd`` is PGD that needs no step size: it starts at 2ε, takes momentum
steps (α = 0.75), keeps each example's best iterate, and at checkpoints
halves an example's step and restarts it from its best point when its loss
rose in too few of the steps since the last checkpoint (≤ 75 %), or when
its step was not halved at the last checkpoint and its best loss has not
improved since. Losses: cross-entropy (APGD-CE), the difference of logits
ratio (DLR, scale invariant) or, with ``targets``, the targeted DLR of
APGD-T. ``apgd_targeted`` runs APGD-T towards each of the ``n_targets`` most
likely other classes and keeps, per example, the first success.

Pure and jitted like :func:`mdr.attacks.pgd`: ``eps`` may be traced,
``steps``, ``norm``, ``loss`` and ``restarts`` are static; images are in
[0, 1] and so are the returned adversarial images. There is no early stop:
every example runs every step (the cost is fixed and the result per example
is the same in any batch).

Follows the reference implementation (``autoattack/autopgd_base.py``): the
checkpoints are after steps ``w_j`` with ``w_1 = ⌊0.22 N⌋`` and window
lengths shrinking by ``⌊0.03 N⌋`` down to ``⌊0.06 N⌋`` (each at least 1);
the oscillation count compares each step's loss with the step before it,
the first step with the loss at the random start (the reference compares it
with 0 through a negative index).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mdr.attacks.gradient import check_settings
from mdr.attacks.gradient import fooled
from mdr.attacks.gradient import NORMS
from mdr.attacks.gradient import UNROLL
from mdr.attacks.gradient import _norm2  # pylint: disable=protected-access

LOSSES = ("ce", "dlr")
MOMENTUM = 0.75          # α: weight of the new step against the last move
RHO = 0.75               # a window oscillates if its loss rose in ≤ ρ·w steps
FIRST_WINDOW = 0.22      # w_1 / N
WINDOW_DECREASE = 0.03   # each window is this share of N shorter ...
MIN_WINDOW = 0.06        # ... down to this share
_TINY = 1e-12


class Info(NamedTuple):
  """How an APGD run searched, per example (``apgd(..., info=True)``).

  Attributes:
    fooled: whether some iterate was misclassified (or hit the target).
    loss_best: the highest loss reached.
    step_size: the step size at the end (2ε halved once per reduction).
    reductions: how many checkpoints halved the step.
    gradients: forward+backward passes per example (``restarts · (steps +
      1)``), the attack's cost.
  """
  fooled: jax.Array
  loss_best: jax.Array
  step_size: jax.Array
  reductions: jax.Array
  gradients: int


def checkpoints(steps: int) -> list[int]:
  """Steps (1-based counts) after which APGD may halve its step size.

  ``checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]``: windows of 22,
  19, 16, 13, 10, 7, 6, 6 steps, as in the paper (p_1 = 0.22, p_{j+1} =
  p_j + max(p_j − p_{j−1} − 0.03, 0.06)).
  """
  if not isinstance(steps, int) or steps < 0:
    raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
  window = max(int(FIRST_WINDOW * steps), 1)
  decrease = max(int(WINDOW_DECREASE * steps), 1)
  smallest = max(int(MIN_WINDOW * steps), 1)
  out, at = [], 0
  while at + window <= steps:
    at += window
    out.append(at)
    window = max(window - decrease, smallest)
  return out


def dlr_loss(logits: jax.Array, labels: jax.Array,
             targets: Optional[jax.Array] = None) -> jax.Array:
  """The difference of logits ratio the attack *ascends*, ``[B]``.

  Untargeted: ``−(z_y − max_{i≠y} z_i) / (z_π1 − z_π3)``; targeted
  (``targets`` t): ``−(z_y − z_t) / (z_π1 − (z_π3 + z_π4) / 2)``, with
  ``z_π1 ≥ z_π2 ≥ ...`` the sorted logits (Croce & Hein 2020, eq. 5-6).
  """
  z = _at_least_f32(logits)
  top = jax.lax.top_k(z, 4 if targets is not None else 3)[0]
  z_y = jnp.take_along_axis(z, labels[:, None], -1)[:, 0]
  if targets is None:
    onehot = jax.nn.one_hot(labels, z.shape[-1], dtype=bool)
    z_other = jnp.max(jnp.where(onehot, -jnp.inf, z), -1)
    return -(z_y - z_other) / (top[:, 0] - top[:, 2] + _TINY)
  z_t = jnp.take_along_axis(z, targets[:, None], -1)[:, 0]
  return -(z_y - z_t) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + _TINY)


def _at_least_f32(x):
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _loss(logits, labels, loss, targets):
  if loss == "ce":
    if targets is None:
      return optax.softmax_cross_entropy_with_integer_labels(
          _at_least_f32(logits), labels)
    return -optax.softmax_cross_entropy_with_integer_labels(
        _at_least_f32(logits), targets)
  return dlr_loss(logits, labels, targets)


def _project(x, images, eps, norm):
  if norm == "linf":
    x = jnp.clip(x, images - eps, images + eps)
  else:
    d = x - images
    x = images + d * jnp.minimum(1.0, eps / (_norm2(d) + _TINY))
  return jnp.clip(x, 0.0, 1.0)


def _start(key, images, eps, norm):
  """The reference's random start: ℓ∞ a uniform box draw scaled to reach ε
  in its largest entry; ℓ2 a point on the ε-sphere."""
  if norm == "linf":
    t = jax.random.uniform(key, images.shape, minval=-1.0, maxval=1.0)
    t = t / jnp.max(jnp.abs(t), axis=(1, 2, 3), keepdims=True)
  else:
    t = jax.random.normal(key, images.shape)
    t = t / (_norm2(t) + _TINY)
  return jnp.clip(images + eps * t, 0.0, 1.0)


def _expand(v):
  return v[:, None, None, None]


def _run(logits_fn, images, labels, key, eps, steps, norm, loss, targets):
  """One APGD run: (adversarial images, Info without ``gradients``)."""
  def value_grad(x):
    def total(x):
      logits = logits_fn(x)
      per = _loss(logits, labels, loss, targets)
      return jnp.sum(per), (per, logits)
    (_, (per, logits)), g = jax.value_and_grad(total, has_aux=True)(x)
    return per, logits, g

  x = _start(key, images, eps, norm)
  per, logits, grad = value_grad(x)
  bad = fooled(logits, labels)
  batch = images.shape[0]
  s = dict(
      x=x, x_old=x, grad=grad,
      step=jnp.full((batch,), 2.0, images.dtype) * eps,
      x_best=x, grad_best=grad, loss_best=per,
      x_adv=x, fooled=bad, prev=per, count=jnp.zeros((batch,), jnp.int32),
      best_at_check=per, reduced=jnp.zeros((batch,), bool),
      reductions=jnp.zeros((batch,), jnp.int32))

  marks = checkpoints(steps)
  windows = np.diff([0] + marks)
  is_check = np.zeros(max(steps, 1), bool)
  window_at = np.ones(max(steps, 1), np.int32)
  for at, w in zip(marks, windows):
    is_check[at - 1] = True
    window_at[at - 1] = w

  def body(i, s, check, window):
    a = jnp.where(i > 0, MOMENTUM, 1.0)
    x, step = s["x"], _expand(s["step"])
    if norm == "linf":
      z = x + step * jnp.sign(s["grad"])
    else:
      z = x + step * s["grad"] / (_norm2(s["grad"]) + _TINY)
    z = _project(z, images, eps, norm)
    x_new = _project(x + a * (z - x) + (1 - a) * (x - s["x_old"]),
                     images, eps, norm)
    per, logits, grad = value_grad(x_new)
    bad = fooled(logits, labels)
    up = per > s["loss_best"]
    s = dict(s, x_old=x, x=x_new, grad=grad,
             x_adv=jnp.where(_expand(bad), x_new, s["x_adv"]),
             fooled=s["fooled"] | bad,
             count=s["count"] + (per > s["prev"]).astype(jnp.int32),
             prev=per,
             x_best=jnp.where(_expand(up), x_new, s["x_best"]),
             grad_best=jnp.where(_expand(up), grad, s["grad_best"]),
             loss_best=jnp.where(up, per, s["loss_best"]))
    if check is False:
      return s
    oscillating = s["count"] <= RHO * window
    stalled = ~s["reduced"] & (s["best_at_check"] >= s["loss_best"])
    halve = (oscillating | stalled) & check
    h = _expand(halve)
    return dict(
        s, step=jnp.where(halve, s["step"] / 2, s["step"]),
        x=jnp.where(h, s["x_best"], s["x"]),
        grad=jnp.where(h, s["grad_best"], s["grad"]),
        reduced=jnp.where(check, halve, s["reduced"]),
        best_at_check=jnp.where(check, s["loss_best"], s["best_at_check"]),
        count=jnp.where(check, 0, s["count"]),
        reductions=s["reductions"] + halve.astype(jnp.int32))

  if steps <= UNROLL:   # unrolled: see mdr.attacks.gradient.pgd
    for i in range(steps):
      s = body(i, s, bool(is_check[i]), int(window_at[i]))
  else:
    checks, wins = jnp.asarray(is_check), jnp.asarray(window_at)
    s = jax.lax.fori_loop(0, steps, lambda i, s: body(i, s, checks[i], wins[i]),
                          s, unroll=UNROLL)
  out = jnp.where(_expand(s["fooled"]), s["x_adv"], s["x_best"])
  return out, Info(s["fooled"], s["loss_best"], s["step"], s["reductions"], 0)


def _keep_first(best, info, x, new):
  """Per example: the earlier result if it fooled, else the new one if it
  fooled, else the one with the higher loss."""
  take = ~info.fooled & (new.fooled | (new.loss_best > info.loss_best))
  t = _expand(take)
  return (jnp.where(t, x, best),
          Info(info.fooled | new.fooled,
               jnp.where(take, new.loss_best, info.loss_best),
               jnp.where(take, new.step_size, info.step_size),
               jnp.where(take, new.reductions, info.reductions),
               info.gradients + new.gradients))


@functools.partial(jax.jit, static_argnames=(
    "logits_fn", "steps", "norm", "loss", "restarts", "info"))
def apgd(logits_fn: Callable[[jax.Array], jax.Array], images: jax.Array,
         labels: jax.Array, key: jax.Array, *, eps, steps: int = 100,
         norm: str = "linf", loss: str = "ce", restarts: int = 1,
         targets: Optional[jax.Array] = None, info: bool = False):
  """APGD on a batch (Croce & Hein 2020): untargeted, or APGD-T with targets.

  Args:
    logits_fn: images ``[B, H, W, C]`` in [0, 1] -> logits ``[B, K]``, the
      model in inference mode; static (see :func:`mdr.attacks.pgd`).
    images: float ``[B, H, W, C]`` in [0, 1] (float32, or float64 with
      ``jax.enable_x64``: the attack computes in that precision).
    labels: int ``[B]``, the true classes (success = misclassified, also
      with ``targets``).
    key: PRNG key of the random starts.
    eps: radius of the ε-ball (in [0, 1] pixel units); may be traced.
    steps: iterations per restart (each one forward+backward pass, plus one
      at the start).
    norm: ``"linf"`` or ``"l2"``.
    loss: ``"ce"`` (APGD-CE) or ``"dlr"`` (APGD-DLR); with ``targets``,
      the targeted version (the targeted DLR is APGD-T's loss).
    restarts: independent runs from random starts; per example the first
      that fools the model is kept, else the one of highest loss.
    targets: int ``[B]`` target classes for APGD-T, or None.
    info: also return an :class:`Info` of how the search went.

  Returns:
    Adversarial images ``[B, H, W, C]`` in [0, 1], within ε of ``images``:
    per example the last misclassified iterate if one was, else the iterate
    of highest loss. With ``info``: ``(images, Info)``.
  """
  check_settings(norm, loss, steps, restarts, LOSSES)
  images = _at_least_f32(jnp.asarray(images))
  eps = jnp.asarray(eps, images.dtype)
  best, inf = None, None
  for r in range(restarts):
    x, i = _run(logits_fn, images, labels, jax.random.fold_in(key, r), eps,
                steps, norm, loss, targets)
    i = i._replace(gradients=steps + 1)
    best, inf = (x, i) if best is None else _keep_first(best, inf, x, i)
  return (best, inf) if info else best


@functools.partial(jax.jit, static_argnames=(
    "logits_fn", "steps", "norm", "n_targets", "restarts", "info"))
def apgd_targeted(logits_fn: Callable[[jax.Array], jax.Array],
                  images: jax.Array, labels: jax.Array, key: jax.Array, *,
                  eps, steps: int = 100, norm: str = "linf",
                  n_targets: int = 9, restarts: int = 1, info: bool = False):
  """APGD-T: targeted DLR towards each of the ``n_targets`` classes the model
  ranks highest after the true one (on the clean image), in that order; per
  example the first run that misclassifies it is kept (AutoAttack's APGD-T).
  Arguments as :func:`apgd`; cost ``n_targets · restarts · (steps + 1)``
  forward+backward passes."""
  images = _at_least_f32(jnp.asarray(images))
  logits = logits_fn(images)
  k = logits.shape[-1]
  if not isinstance(n_targets, int) or not 1 <= n_targets <= k - 1:
    raise ValueError(f"n_targets must be an integer in [1, {k - 1}] "
                     f"(classes − 1), got {n_targets!r}")
  order = jnp.argsort(-_at_least_f32(logits), axis=-1, stable=True)
  # Ranks 2 .. n + 1 of the clean logits, as the reference takes them (for
  # an image misclassified already, one of them is its true class).
  best, inf = None, None
  for t in range(n_targets):
    x, i = apgd(logits_fn, images, labels, jax.random.fold_in(key, t),
                eps=eps, steps=steps, norm=norm, loss="dlr",
                restarts=restarts, targets=order[:, t + 1], info=True)
    best, inf = (x, i) if best is None else _keep_first(best, inf, x, i)
  return (best, inf) if info else best
