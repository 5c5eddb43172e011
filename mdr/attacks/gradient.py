"""Gradient attacks that change pixel values: FGSM and PGD (ℓ∞ and ℓ2).

Pure functions of ``(logits_fn, images, labels, key, *budget)``: ``eps`` and
``step_size`` may be traced (an ε sweep under ``jax.jit`` compiles once);
``steps``, ``norm``, ``restarts``, ``loss``, ``targeted`` and
``random_start`` are static. Images are in ``[0, 1]`` and so are the
adversarial images returned; the perturbation is projected onto the ε-ball
after every step. ``logits_fn`` should close over the model in inference mode
(``model.apply(variables, x, train=False)``): batch-norm running statistics,
no state updates.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from mdr.attacks.registry import AttackSpec
from mdr.attacks.registry import register

NORMS = ("linf", "l2")
LOSSES = ("ce", "margin")
_TINY = 1e-12


UNROLL = 20   # PGD steps written out without a loop (see pgd)


def check_settings(norm, loss, steps, restarts, losses=LOSSES):
  """One clear error for a bad static setting of an iterative attack."""
  if norm not in NORMS:
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
  if loss not in losses:
    raise ValueError(f"loss must be one of {losses}, got {loss!r}")
  if not isinstance(steps, int) or steps < 0:
    raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
  if not isinstance(restarts, int) or restarts < 1:
    raise ValueError(f"restarts must be an integer >= 1, got {restarts!r}")


def attack_loss(logits: jax.Array, labels: jax.Array, loss: str = "ce",
                targeted: bool = False) -> jax.Array:
  """Per-example objective the attack *ascends*, ``[B]``.

  Untargeted (``labels`` = true classes): cross-entropy, or the margin
  ``max_{k≠y} z_k − z_y``. Targeted (``labels`` = target classes): minus
  the cross-entropy of the target, or ``z_t − max_{k≠t} z_k``.
  """
  logits = logits.astype(jnp.float32)
  if loss == "ce":
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return -ce if targeted else ce
  onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=bool)
  z_y = jnp.sum(jnp.where(onehot, logits, 0.0), -1)
  z_other = jnp.max(jnp.where(onehot, -jnp.inf, logits), -1)
  return z_y - z_other if targeted else z_other - z_y


def fooled(logits: jax.Array, labels: jax.Array,
           targeted: bool = False) -> jax.Array:
  """Whether each example is adversarial: misclassified, or the target hit."""
  pred = jnp.argmax(logits, -1)
  return pred == labels if targeted else pred != labels


def _norm2(x):
  return jnp.sqrt(jnp.sum(x * x, axis=tuple(range(1, x.ndim)), keepdims=True))


def project(delta: jax.Array, eps, norm: str) -> jax.Array:
  """``delta`` projected onto the ε-ball of ``norm`` (per example)."""
  if norm == "linf":
    return jnp.clip(delta, -eps, eps)
  return delta * jnp.minimum(1.0, eps / jnp.maximum(_norm2(delta), _TINY))


def uniform_in_ball(key: jax.Array, shape, eps, norm: str) -> jax.Array:
  """Uniform in the ε-ball: the box for ℓ∞, the ball (volume-uniform) for ℓ2."""
  if norm == "linf":
    return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0) * eps
  k_dir, k_rad = jax.random.split(key)
  d = jax.random.normal(k_dir, shape)
  d = d / jnp.maximum(_norm2(d), _TINY)
  dim = 1
  for s in shape[1:]:
    dim *= s
  r = jax.random.uniform(k_rad, (shape[0],) + (1,) * (len(shape) - 1))
  return d * eps * r ** (1.0 / dim)


def _step(grad, step_size, norm):
  if norm == "linf":
    return step_size * jnp.sign(grad)
  return step_size * grad / jnp.maximum(_norm2(grad), _TINY)


@functools.partial(jax.jit, static_argnames=(
    "logits_fn", "steps", "norm", "random_start", "restarts", "targeted",
    "loss"))
def pgd(logits_fn: Callable[[jax.Array], jax.Array], images: jax.Array,
        labels: jax.Array, key: jax.Array, *, eps, step_size, steps: int,
        norm: str = "linf", random_start: bool = True, restarts: int = 1,
        targeted: bool = False, loss: str = "ce") -> jax.Array:
  """Projected gradient descent (Madry et al. 2018) on a batch.

  Args:
    logits_fn: images ``[B, H, W, C]`` in [0, 1] -> logits ``[B, K]``, the
      model in inference mode. Static: pass the same function object to
      reuse the compilation (or call ``pgd`` inside your own ``jax.jit``).
    images: float ``[B, H, W, C]`` in [0, 1].
    labels: int ``[B]``: true classes, or target classes if ``targeted``.
    key: PRNG key of the random starts (unused without them).
    eps: radius of the ε-ball (in [0, 1] pixel units); may be traced.
    step_size: size of each step (ℓ∞: per pixel; ℓ2: of the whole step);
      may be traced.
    steps: gradient steps per restart.
    norm: ``"linf"`` (sign steps, box projection) or ``"l2"`` (normalised
      gradient steps, ball projection).
    random_start: start uniformly in the ε-ball (else at the image).
    restarts: independent runs; per example the first restart that fools
      the model is kept (else the last restart's result).
    targeted: move towards ``labels`` instead of away from them.
    loss: ``"ce"`` (cross-entropy) or ``"margin"`` (Carlini-Wagner margin).

  Returns:
    Adversarial images, ``[B, H, W, C]`` in [0, 1], within ε of ``images``.
  """
  check_settings(norm, loss, steps, restarts)
  images = jnp.asarray(images, jnp.float32)
  eps = jnp.asarray(eps, jnp.float32)
  step_size = jnp.asarray(step_size, jnp.float32)

  def objective(x):
    return jnp.sum(attack_loss(logits_fn(x), labels, loss, targeted))

  grad_fn = jax.grad(objective)

  def one_restart(k):
    x = images
    if random_start:
      x = jnp.clip(images + uniform_in_ball(k, images.shape, eps, norm),
                   0.0, 1.0)

    def body(_, x):
      x = x + _step(grad_fn(x), step_size, norm)
      return jnp.clip(images + project(x - images, eps, norm), 0.0, 1.0)

    # Unrolled: XLA on CPU runs a rolled loop body several times slower
    # (even a one-step loop: FGSM ran 5x slower than its gradient), so up to
    # UNROLL steps are a plain sequence and longer runs loop over UNROLL-step
    # chunks.
    if steps <= UNROLL:
      for i in range(steps):
        x = body(i, x)
      return x
    return jax.lax.fori_loop(0, steps, body, x, unroll=UNROLL)

  best = one_restart(jax.random.fold_in(key, 0))
  if restarts == 1:
    return best
  done = fooled(logits_fn(best), labels, targeted)
  for r in range(1, restarts):
    x = one_restart(jax.random.fold_in(key, r))
    hit = fooled(logits_fn(x), labels, targeted)
    take = ~done & hit
    best = jnp.where(take[:, None, None, None], x, best)
    done = done | hit
  return best



def fgsm(logits_fn: Callable[[jax.Array], jax.Array], images: jax.Array,
         labels: jax.Array, key: jax.Array | None = None, *, eps,
         step_size=None, norm: str = "linf", random_start: bool = False,
         targeted: bool = False, loss: str = "ce") -> jax.Array:
  """Fast gradient sign method (Goodfellow et al. 2015): one PGD step.

  ``step_size`` defaults to ``eps``; with ``random_start`` (Wong et al.
  2020: FGSM-RS, step 1.25 ε) the step starts from a uniform point of the
  ε-ball. The result is projected onto the ε-ball and [0, 1]. Same as
  ``pgd(..., steps=1, step_size=step_size, random_start=random_start)``.
  """
  key = jax.random.key(0) if key is None else key
  return pgd(logits_fn, images, labels, key, eps=eps,
             step_size=eps if step_size is None else step_size, steps=1,
             norm=norm, random_start=random_start, restarts=1,
             targeted=targeted, loss=loss)


def _all_pixels(eps, h, w):
  del eps
  return h * w


def _fgsm_perturb(logits_fn, images, labels, key, eps, steps, loss):
  del key, steps
  return fgsm(logits_fn, images, labels, eps=eps, loss=loss)


def _pgd_perturb(logits_fn, images, labels, key, eps, steps, loss):
  """PGD-``steps`` with step 2.5·ε/steps and a random start (Madry et al.)."""
  return pgd(logits_fn, images, labels, key, eps=eps,
             step_size=2.5 * eps / steps, steps=steps, loss=loss)


FGSM = register(AttackSpec(
    "fgsm", "FGSM", "FGSM", "gradient", random=False, budget="ε (/255)",
    pixels=_all_pixels, color="tab:brown", perturb=_fgsm_perturb))
PGD = register(AttackSpec(
    "pgd", "PGD", "PGD", "gradient", random=True, budget="ε (/255)",
    pixels=_all_pixels, color="tab:pink", perturb=_pgd_perturb,
    iterative=True))
