"""Training objectives by name: what the loss of each train step sees.

An objective turns a :class:`Context` (this step's key, the augmented batch,
the current model in inference and in training mode) into ``(images,
targets)``: the images the loss is computed on and either integer labels
``[B]`` or soft targets ``[B, K]`` (mixing). ``config.train.mode`` names the
objective; the train step (``mdr.train``) calls it and nothing else knows
the names. A new objective is one :func:`register` call.

| name | what the loss sees | cost per step (forward+backward passes) |
|---|---|---|
| ``clean`` | the batch | 1 |
| ``masked`` | every image masked (α/β/γ of ``train.mask_types``) | 1 (+1 with α: saliency) |
| ``mixed`` | the first ``round(mixed_share · B)`` images masked, the rest clean | 1 (+ saliency of the masked ones) |
| ``ablated`` | every image ablated to one band of ``train.ds_band`` columns (de-randomized smoothing's base model; ``model.encoding="ds"``) | 1 |
| ``pgd_at`` | PGD-k ℓ∞ adversarial images (Madry et al. 2018) | k + 1 |
| ``fgsm_rs`` | FGSM from a uniform random start (Wong et al. 2020) | 2 |
| ``m2at`` | masked and mixed adversarial images (M2AT, arXiv 2302.08066, reconstructed) | base attack + 1 |

The adversarial objectives read ``config.train.adv`` (ε, step, steps in /255
units; ``attack_bn``: whether the attack runs the model with batch
statistics, ``train``, as Rice et al. do, or with the running averages,
``eval``; batch-statistic updates made during the attack are discarded).
M2AT's choices are all in ``config.train.m2at`` (see :func:`m2at`).
"""

from __future__ import annotations

import dataclasses
import functools
import zlib
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from mdr import masks
from mdr import saliency as saliency_lib
from mdr.attacks import gradient


@dataclasses.dataclass(frozen=True)
class Context:
  """What an objective may use at one train step.

  Attributes:
    config: the run's config (``config.train`` holds the objectives'
      fields).
    key: this step's key (the ``masks`` stream folded with the step).
    images: the augmented batch ``[B, H, W, C]`` in [0, 1].
    labels: int ``[B]``.
    num_classes: K.
    logits_fn: the current model in inference mode.
    train_logits_fn: the current model in training mode (batch statistics;
      their updates are discarded).
    mean: per-channel dataset mean (the ``mean`` fill).
  """
  config: Any
  key: jax.Array
  images: jax.Array
  labels: jax.Array
  num_classes: int
  logits_fn: Callable[[jax.Array], jax.Array]
  train_logits_fn: Callable[[jax.Array], jax.Array]
  mean: jax.Array


@dataclasses.dataclass(frozen=True)
class Objective:
  """A registered training objective.

  Attributes:
    name: ``config.train.mode`` value.
    description: one line for docs and errors.
    prepare: ``Context -> (images, targets)``; targets int ``[B]`` or soft
      ``[B, K]`` (rows summing to 1).
    adversarial: whether it crafts adversarial examples (reads
      ``config.train.adv``).
    check: optional ``config -> problem or None``: the objective's own
      settings, checked by ``config.validate`` (a message naming the field,
      its value and what is allowed).
    encoding: the input encoding of the images it makes (``rgb``: the
      batch's shape; ``ds``: 2C channels, ``mdr.certify.ds.ablate``); the
      model must take it (``model.encoding``).
  """
  name: str
  description: str
  prepare: Callable[[Context], tuple[jax.Array, jax.Array]]
  adversarial: bool = False
  check: Optional[Callable[[Any], Optional[str]]] = None
  encoding: str = "rgb"


REGISTRY: dict[str, Objective] = {}


def register(objective: Objective) -> Objective:
  if objective.name in REGISTRY:
    raise ValueError(f"training objective {objective.name!r} is already "
                     f"registered")
  REGISTRY[objective.name] = objective
  return objective


def get(name: str) -> Objective:
  if name not in REGISTRY:
    raise ValueError(f"unknown training objective {name!r}; registered: "
                     f"{names()}")
  return REGISTRY[name]


def names() -> tuple[str, ...]:
  return tuple(REGISTRY)


def salted(key: jax.Array, name: str) -> jax.Array:
  """``key`` folded with ``crc32(name)``: independent draws per purpose."""
  return jax.random.fold_in(key, zlib.crc32(name.encode()))


# ---------------------------------------------------------------------------
# clean, masked, mixed (the seed's training modes).
# ---------------------------------------------------------------------------

def mask_training_batch(tc, key, images, labels, saliency_fn, mean):
  """Masks the batch as ``tc`` (config.train) says; returns images.

  masked: every example; mixed: the first ``round(mixed_share * B)`` (the
  batch is already in random order). Each masked example draws its attack
  uniformly from ``tc.mask_types`` and its ratio uniformly in
  ``[ratio_min, ratio_max]``; unmasked examples get ratio 0 (no pixel).
  Saliency (for alpha) is of the current parameters in inference mode, on
  the masked examples only, and is not differentiated through.
  """
  b, h, w, _ = images.shape
  k_type, k_ratio, k_mask, k_fill = jax.random.split(key, 4)
  n_masked = b if tc.mode == "masked" else int(round(tc.mixed_share * b))
  if n_masked == 0:  # e.g. mixed_share * batch_size rounds to 0
    return images
  if tc.get("grid_masks", 0):
    return masks.apply(images, grid_training_masks(tc, k_mask, b, h, w,
                                                   n_masked),
                       tc.fill, mean=mean, key=k_fill)
  ratio = jax.random.uniform(k_ratio, (b,), minval=tc.ratio_min,
                             maxval=tc.ratio_max)
  ratio = jnp.where(jnp.arange(b) < n_masked, ratio, 0.0)
  keys = jax.random.split(k_mask, b)
  names_ = list(tc.mask_types)
  sal = None
  if any(masks.get(n).needs_saliency for n in names_) and n_masked:
    # Saliency only where a mask may need it: the masked examples.
    sal = jax.lax.stop_gradient(saliency_fn(images[:n_masked],
                                            labels[:n_masked]))
    sal = jnp.pad(sal, ((0, b - n_masked), (0, 0), (0, 0)))
  per_type = [masks.batch_masks(n, keys, ratio, (h, w), sal) for n in names_]
  chosen = per_type[0]
  if len(names_) > 1:
    kind = jax.random.randint(k_type, (b,), 0, len(names_))
    for i in range(1, len(names_)):
      chosen = jnp.where(kind[:, None, None] == i, per_type[i], chosen)
  return masks.apply(images, chosen, tc.fill, mean=mean, key=k_fill)


def grid_training_masks(tc, key, b, h, w, n_masked):
  """Bool ``[B, H, W]``: the first ``n_masked`` examples each hide the
  union of ``tc.grid_masks`` masks drawn uniformly from PatchCleanser's
  grid (``mdr.certify.pc.mask_set(H, W, tc.grid_patch, tc.grid_k)``), the
  masks its certificate uses; the others hide nothing."""
  from mdr.certify import pc  # pylint: disable=g-import-not-at-top
  grid = jnp.asarray(pc.mask_set(h, w, int(tc.grid_patch), int(tc.grid_k)))
  idx = jax.random.randint(key, (b, int(tc.grid_masks)), 0, grid.shape[0])
  hidden = grid[idx].any(1)
  return hidden & (jnp.arange(b) < n_masked)[:, None, None]


def _clean(ctx: Context):
  return ctx.images, ctx.labels


def _masked(ctx: Context):
  saliency_fn = functools.partial(saliency_lib.input_gradient, ctx.logits_fn)
  return mask_training_batch(ctx.config.train, ctx.key, ctx.images,
                             ctx.labels, saliency_fn, ctx.mean), ctx.labels


register(Objective("clean", "the batch as it is", _clean))
register(Objective("masked", "every image masked (train.mask_types)",
                   _masked))
register(Objective("mixed", "a share (train.mixed_share) of the batch masked",
                   _masked))


def _ablated(ctx: Context):
  """Every image ablated to the band of ``train.ds_band`` columns at a
  uniform random position (one per image, wrapping), in the 6-channel
  ``(x, 1 − x)`` encoding (``mdr.certify.ds.ablate``)."""
  from mdr.certify import ds  # pylint: disable=g-import-not-at-top
  b, _, w, _ = ctx.images.shape
  pos = jax.random.randint(salted(ctx.key, "ablated"), (b,), 0, w)
  return ds.ablate(ctx.images, pos, int(ctx.config.train.ds_band)), ctx.labels


def _check_ablated(config) -> Optional[str]:
  band = config.train.ds_band
  if isinstance(band, bool) or not isinstance(band, int) or band < 1:
    return (f"config.train.ds_band = {band!r} is not allowed: a positive "
            f"integer (columns kept)")
  return None


register(Objective("ablated", "every image ablated to one band of "
                   "train.ds_band columns (de-randomized smoothing)",
                   _ablated, check=_check_ablated, encoding="ds"))


# ---------------------------------------------------------------------------
# Adversarial training.
# ---------------------------------------------------------------------------

def attack_model(ctx: Context):
  """The model the training attack runs (``train.adv.attack_bn``)."""
  return (ctx.train_logits_fn if ctx.config.train.adv.attack_bn == "train"
          else ctx.logits_fn)


def pgd_examples(ctx: Context, key=None):
  """PGD-``adv.steps`` ℓ∞ examples of radius ``adv.eps``/255, step
  ``adv.step``/255, uniform random start; not differentiated through."""
  a = ctx.config.train.adv
  adv = gradient.pgd(attack_model(ctx), ctx.images, ctx.labels,
                     salted(ctx.key, "pgd") if key is None else key,
                     eps=a.eps / 255.0, step_size=a.step / 255.0,
                     steps=int(a.steps), random_start=True)
  return jax.lax.stop_gradient(adv)


def fgsm_rs_examples(ctx: Context, key=None):
  """FGSM-RS (Wong et al. 2020): a uniform start in the ε-ball, one signed
  step of ``adv.fgsm_step``/255, projected onto the ε-ball and [0, 1]."""
  a = ctx.config.train.adv
  adv = gradient.fgsm(attack_model(ctx), ctx.images, ctx.labels,
                      salted(ctx.key, "fgsm_rs") if key is None else key,
                      eps=a.eps / 255.0, step_size=a.fgsm_step / 255.0,
                      random_start=True)
  return jax.lax.stop_gradient(adv)


BASE_ATTACKS = {"pgd": pgd_examples, "fgsm_rs": fgsm_rs_examples}

register(Objective("pgd_at", "PGD-k adversarial training (Madry et al.)",
                   lambda ctx: (pgd_examples(ctx), ctx.labels),
                   adversarial=True))
register(Objective("fgsm_rs", "fast adversarial training: FGSM from a "
                   "random start (Wong et al. 2020)",
                   lambda ctx: (fgsm_rs_examples(ctx), ctx.labels),
                   adversarial=True))


# ---------------------------------------------------------------------------
# M2AT: masking and mixing adversarial training (reconstruction).
# ---------------------------------------------------------------------------

M2AT_MASKS = ("square", "pixels") + tuple(masks.REGISTRY)
M2AT_MIXES = ("mixup", "cutmix", "none")
M2AT_REST = ("clean", "adversarial")


def perturbation_masks(kind, key, ratio_min, ratio_max, images, labels,
                       logits_fn):
  """Binary masks ``[B, H, W]`` (True = perturbation kept) of ``kind``.

  ``square``: a random axis-aligned box per image, its area ratio uniform in
  ``[ratio_min, ratio_max]`` (side rounded, position uniform); ``pixels``:
  each pixel kept with a probability uniform in the range, per image; an
  ``mdr.masks`` attack name (``alpha``, ``beta``, ``gamma``, ...): that
  attack's pixels at a ratio uniform in the range.
  """
  b, h, w, _ = images.shape
  k_ratio, k_mask = jax.random.split(key)
  ratio = jax.random.uniform(k_ratio, (b,), minval=ratio_min,
                             maxval=ratio_max)
  keys = jax.random.split(k_mask, b)
  if kind == "square":
    return jax.vmap(lambda k, r: _box(k, r, h, w))(keys, ratio)
  if kind == "pixels":
    u = jax.vmap(lambda k: jax.random.uniform(k, (h, w)))(keys)
    return u < ratio[:, None, None]
  sal = None
  if masks.get(kind).needs_saliency:
    sal = jax.lax.stop_gradient(saliency_lib.input_gradient(
        logits_fn, images, labels))
  return masks.batch_masks(kind, keys, ratio, (h, w), sal)


def _box(key, ratio, h, w):
  """A random box of area ≈ ``ratio · h · w`` (square when it fits)."""
  k_y, k_x = jax.random.split(key)
  side_h = jnp.clip(jnp.round(jnp.sqrt(ratio * h * w)), 0, h).astype(jnp.int32)
  side_w = jnp.clip(jnp.round(ratio * h * w / jnp.maximum(side_h, 1)), 0,
                    w).astype(jnp.int32)
  y0 = jax.random.randint(k_y, (), 0, h - side_h + 1)
  x0 = jax.random.randint(k_x, (), 0, w - side_w + 1)
  ys, xs = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
  return (ys >= y0) & (ys < y0 + side_h) & (xs >= x0) & (xs < x0 + side_w)


def mix(kind, key, x, y_soft, alpha):
  """Mixes each example with a partner (a random permutation of the batch).

  ``mixup``: ``λ x_i + (1 − λ) x_j`` with ``λ ~ Beta(alpha, alpha)`` per
  example; ``cutmix``: a box of ``x_j`` (area ``1 − λ``, ``λ ~ Beta``)
  pasted into ``x_i``, ``λ`` then the exact kept share; ``none``: no
  mixing. Labels mix with the same ``λ``. Returns ``(x, y_soft, lam,
  partner)``.
  """
  b, h, w, _ = x.shape
  k_perm, k_lam, k_box = jax.random.split(key, 3)
  partner = jax.random.permutation(k_perm, b)
  if kind == "none":
    return x, y_soft, jnp.ones((b,)), jnp.arange(b)
  lam = jax.random.beta(k_lam, alpha, alpha, (b,))
  if kind == "mixup":
    out = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * \
        x[partner]
  else:
    boxes = jax.vmap(lambda k, r: _box(k, r, h, w))(
        jax.random.split(k_box, b), 1.0 - lam)
    out = jnp.where(boxes[..., None], x[partner], x)
    lam = 1.0 - boxes.mean((1, 2))
  y = lam[:, None] * y_soft + (1 - lam[:, None]) * y_soft[partner]
  return out, y, lam, partner


def m2at(ctx: Context):
  """M2AT as reconstructed from its abstract (every choice a config field).

  1. ``δ = x_adv − x`` from ``m2at.base`` (``pgd`` or ``fgsm_rs`` with
     ``train.adv``);
  2. masking: ``x̂ = x + M ⊙ δ``, ``M`` of kind ``m2at.mask`` with its ratio
     uniform in ``[m2at.mask_min, m2at.mask_max]``;
  3. mixing: ``m2at.mix`` of each ``x̂_i`` with a partner ``x̂_j``
     (``m2at.mix_alpha``), soft labels with the same ``λ``;
  4. only the first ``round(m2at.share · B)`` examples are trained this
     way; the rest are ``m2at.rest`` (clean or the plain adversarial
     example).
  """
  tc = ctx.config.train
  m = tc.m2at
  b = ctx.images.shape[0]
  adv = BASE_ATTACKS[m.base](ctx, salted(ctx.key, "m2at/attack"))
  delta = adv - ctx.images
  keep = perturbation_masks(m.mask, salted(ctx.key, "m2at/mask"),
                            m.mask_min, m.mask_max, ctx.images, ctx.labels,
                            ctx.logits_fn)
  x_hat = ctx.images + keep[..., None] * delta
  y = jax.nn.one_hot(ctx.labels, ctx.num_classes)
  mixed, y_mixed, _, _ = mix(m.mix, salted(ctx.key, "m2at/mix"), x_hat, y,
                             m.mix_alpha)
  n = int(round(m.share * b))
  first = (jnp.arange(b) < n)
  rest = ctx.images if m.rest == "clean" else adv
  images = jnp.where(first[:, None, None, None], mixed, rest)
  targets = jnp.where(first[:, None], y_mixed, y)
  return jax.lax.stop_gradient(images), targets


register(Objective("m2at", "masked and mixed adversarial examples (M2AT, "
                   "reconstructed; train.m2at)", m2at, adversarial=True))
