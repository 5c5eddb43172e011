"""LaVAN: localized and visible adversarial patches (Karmon et al. 2018).

A square patch ``δ`` of side ``s`` pasted at ``(y, x)``:
``x' = (1 − m)·x + m·δ`` with ``m`` the square's mask, so pixels outside the
square never change. The patch is trained to make the model predict a target
class: it ascends ``logit_target − logit_source``. Two domains: ``image``
(δ clipped to [0, 1] after every step: a printable patch) and ``network``
(δ unconstrained: any real value in the model's input space).

- :func:`per_image` — one patch per image at a fixed or a random location,
  updated until ``p(target) >= confidence`` (per example) or ``steps``.
- :func:`universal` — one patch for a target class, trained over random
  training images at random locations; it stops after ``patience``
  consecutive steps whose images reach ``p(target) >= confidence`` on
  average, or after ``steps``.
- :func:`train_patches` — per-image patches with best-iterate tracking, a
  stop at argmax = target with a logit margin ``kappa``, and a choice of
  loss (LaVAN's logit difference or the target margin).
- :func:`search` — the location as a searched dimension: the best per image
  over the four corners, the most salient window and random positions
  (a short screen at each, the full budget with restarts at the best few),
  never weaker than one random location.
- :func:`rates` — the seed's three rates; :func:`shift_test` — move the
  patch by one pixel and see whether the prediction returns to the source.

Everything is pure and jittable; ``side``, ``steps`` and ``domain`` are
static, the step size, the confidence and the locations may be traced.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

from mdr.attacks.registry import AttackSpec
from mdr.attacks.registry import register

DOMAINS = ("image", "network")
# Steps unrolled per loop iteration: XLA on CPU runs a rolled loop body
# several times slower; the stopping rules still act at every single step.
CHUNK = 5
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right", "random")


def _check(domain, side, height, width):
  if domain not in DOMAINS:
    raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
  if not isinstance(side, int) or not 1 <= side <= min(height, width):
    raise ValueError(f"patch side must be an integer in [1, {min(height, width)}]"
                     f", got {side!r}")


def corner(name: str, side: int, height: int, width: int) -> tuple[int, int]:
  """Top-left ``(y, x)`` of a patch in a named corner."""
  if name not in CORNERS[:-1]:
    raise ValueError(f"corner must be one of {CORNERS[:-1]}, got {name!r}")
  y = 0 if name.startswith("top") else height - side
  x = 0 if name.endswith("left") else width - side
  return y, x


def random_locations(key: jax.Array, n: int, side: int, height: int,
                     width: int) -> jax.Array:
  """``[n, 2]`` top-left corners, uniform over all positions inside."""
  ky, kx = jax.random.split(key)
  return jnp.stack([jax.random.randint(ky, (n,), 0, height - side + 1),
                    jax.random.randint(kx, (n,), 0, width - side + 1)], -1)


def paste(image: jax.Array, patch: jax.Array, loc: jax.Array) -> jax.Array:
  """One image ``[H, W, C]`` with ``patch [s, s, C]`` at ``loc = (y, x)``."""
  s = patch.shape[0]
  h, w = image.shape[:2]
  ys = jnp.arange(h)[:, None] - loc[0]
  xs = jnp.arange(w)[None, :] - loc[1]
  inside = (ys >= 0) & (ys < s) & (xs >= 0) & (xs < s)
  canvas = jax.lax.dynamic_update_slice(
      jnp.zeros_like(image), patch.astype(image.dtype), (loc[0], loc[1], 0))
  m = inside[..., None].astype(image.dtype)
  return (1 - m) * image + m * canvas


paste_batch = jax.vmap(paste)  # images [B,H,W,C], patches [B,s,s,C], locs [B,2]


def objective(logits: jax.Array, source: jax.Array,
              target: jax.Array) -> jax.Array:
  """``logit_target − logit_source`` per example (≡ the log-prob difference)."""
  take = lambda l: jnp.take_along_axis(logits, l[:, None], -1)[:, 0]
  return take(target) - take(source)


def draw_targets(key: jax.Array, source: jax.Array,
                 num_classes: int) -> jax.Array:
  """A target per example, uniform among the classes other than ``source``."""
  offset = jax.random.randint(key, source.shape, 1, num_classes)
  return (source + offset) % num_classes


@functools.partial(jax.jit, static_argnames=("logits_fn", "side", "steps",
                                             "domain"))
def per_image(logits_fn: Callable[[jax.Array], jax.Array], images: jax.Array,
              source: jax.Array, target: jax.Array, locs: jax.Array,
              key: jax.Array, *, side: int, steps: int = 500,
              step_size=0.05, confidence=0.9,
              domain: str = "image") -> tuple[jax.Array, jax.Array]:
  """Trains one patch per image; returns ``(patches [B,s,s,C], steps used [B])``.

  The patch starts uniform in [0, 1] and takes signed-gradient steps of
  ``step_size`` on ``logit_target − logit_source``; an example stops being
  updated once ``p(target) >= confidence``.
  """
  b, h, w, c = images.shape
  _check(domain, side, h, w)
  patches = jax.random.uniform(key, (b, side, side, c))

  def probs_target(p):
    logits = logits_fn(paste_batch(images, p, locs))
    pt = jnp.take_along_axis(jax.nn.softmax(logits.astype(jnp.float32)),
                             target[:, None], -1)[:, 0]
    return pt, logits

  def loss(p):
    return jnp.sum(objective(logits_fn(paste_batch(images, p, locs)), source,
                             target))

  def one_step(state):
    i, p, used, done = state
    done = done | (i >= steps)
    g = jax.grad(loss)(p)
    new = p + step_size * jnp.sign(g)
    if domain == "image":
      new = jnp.clip(new, 0.0, 1.0)
    p = jnp.where(done[:, None, None, None], p, new)
    used = used + (~done).astype(jnp.int32)
    pt, _ = probs_target(p)
    return i + 1, p, used, done | (pt >= confidence)

  def body(state):  # CHUNK steps unrolled (see CHUNK); exact per-step stops
    for _ in range(CHUNK):
      state = one_step(state)
    return state

  pt0, _ = probs_target(patches)
  state = (0, patches, jnp.zeros(b, jnp.int32), pt0 >= confidence)
  _, patches, used, _ = jax.lax.while_loop(
      lambda s: (s[0] < steps) & ~jnp.all(s[3]), body, state)
  return patches, used


LOSSES = ("logit_diff", "margin")


def target_margin(logits: jax.Array, target: jax.Array) -> jax.Array:
  """``logit_target − max_{j≠target} logit_j`` per example: > 0 exactly
  when the argmax is the target (ties aside)."""
  logits = logits.astype(jnp.float32)
  t = jnp.take_along_axis(logits, target[:, None], -1)[:, 0]
  others = jnp.where(jax.nn.one_hot(target, logits.shape[-1], dtype=bool),
                     -jnp.inf, logits)
  return t - jnp.max(others, -1)


def _init_patches(keys, side, channels):
  """One uniform [0, 1] patch per example from its own key, so an example's
  start does not depend on the batch it is in."""
  return jax.vmap(lambda k: jax.random.uniform(k, (side, side, channels)))(
      keys)


@functools.partial(jax.jit, static_argnames=("logits_fn", "side", "steps",
                                             "domain", "loss"))
def train_patches(logits_fn: Callable[[jax.Array], jax.Array],
                  images: jax.Array, source: jax.Array, target: jax.Array,
                  locs: jax.Array, keys: jax.Array, *, side: int, steps: int,
                  step_size=0.05, kappa=0.0, domain: str = "image",
                  loss: str = "logit_diff"):
  """Per-image targeted patches with best-iterate tracking.

  Each example's patch starts uniform in [0, 1] (from its own key of
  ``keys [B]``) and takes signed-gradient steps of ``step_size`` on
  ``loss``: ``logit_diff`` (LaVAN's ``logit_target − logit_source``) or
  ``margin`` (``logit_target − max other logit``). An example stops once its
  target margin exceeds ``kappa`` (argmax = target with that logit margin);
  the patch returned is the best iterate by target margin, not the last.

  Returns ``(patches [B,s,s,C], best margin [B], steps used [B])``; success
  is ``margin > 0`` (``> kappa`` where the rule stopped it).
  """
  b, h, w, c = images.shape
  _check(domain, side, h, w)
  if loss not in LOSSES:
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
  patches = _init_patches(keys, side, c)

  def margins(p):
    return target_margin(logits_fn(paste_batch(images, p, locs)), target)

  def loss_fn(p):
    logits = logits_fn(paste_batch(images, p, locs))
    if loss == "margin":
      return jnp.sum(target_margin(logits, target))
    return jnp.sum(objective(logits, source, target))

  def one_step(state):
    i, p, best_p, best_m, used, done = state
    done = done | (i >= steps)
    g = jax.grad(loss_fn)(p)
    new = p + step_size * jnp.sign(g)
    if domain == "image":
      new = jnp.clip(new, 0.0, 1.0)
    p = jnp.where(done[:, None, None, None], p, new)
    used = used + (~done).astype(jnp.int32)
    m = margins(p)
    better = (m > best_m) & ~done
    best_p = jnp.where(better[:, None, None, None], p, best_p)
    best_m = jnp.where(better, m, best_m)
    return i + 1, p, best_p, best_m, used, done | (m > kappa)

  def body(state):  # CHUNK steps unrolled (see CHUNK); exact per-step stops
    for _ in range(CHUNK):
      state = one_step(state)
    return state

  m0 = margins(patches)
  state = (0, patches, patches, m0, jnp.zeros(b, jnp.int32), m0 > kappa)
  _, _, best_p, best_m, used, _ = jax.lax.while_loop(
      lambda s: (s[0] < steps) & ~jnp.all(s[5]), body, state)
  return best_p, best_m, used


def salient_locations(logits_fn, images, source, target, side: int):
  """``[B, 2]``: the top-left of the ``side``-square with the largest summed
  input-gradient magnitude of ``logit_target − logit_source`` (α's
  criterion on the attack's own objective)."""
  b, h, w, _ = images.shape
  g = jax.grad(lambda x: jnp.sum(objective(logits_fn(x), source, target)))(
      images)
  sal = jnp.sum(jnp.abs(g.astype(jnp.float32)), -1)
  sums = jax.lax.reduce_window(sal, 0.0, jax.lax.add, (1, side, side),
                               (1, 1, 1), "VALID")
  flat = jnp.argmax(sums.reshape(b, -1), -1)
  span = w - side + 1
  return jnp.stack([flat // span, flat % span], -1).astype(jnp.int32)


def search_candidates(logits_fn, images, source, target, key, *, side: int,
                      n_random: int = 4):
  """``[B, 4 + 1 + n_random, 2]`` candidate locations per image: the four
  corners, the most salient window, and ``n_random`` uniform positions."""
  b, h, w, _ = images.shape
  fixed = jnp.asarray([corner(n, side, h, w) for n in CORNERS[:-1]],
                      jnp.int32)
  parts = [jnp.broadcast_to(fixed, (b, 4, 2)),
           salient_locations(logits_fn, images, source, target, side)[:, None]]
  if n_random:
    rand = random_locations(key, b * n_random, side, h, w)
    parts.append(rand.reshape(b, n_random, 2).astype(jnp.int32))
  return jnp.concatenate(parts, 1)


def search(logits_fn, images, source, target, key, *, side: int, steps: int,
           screen_steps: int = 100, keep: int = 2, restarts: int = 2,
           n_random: int = 4, step_size=0.05, kappa=0.0,
           domain: str = "image", loss: str = "logit_diff"):
  """Per-image patches with the location searched: the best per image.

  1. ``random``: the full budget at one uniform random location per image
     with keys ``fold_in(key, 0)`` — exactly ``location="random"``'s run, so
     the search is never weaker than it.
  2. Screen: ``screen_steps`` at every candidate of ``search_candidates``
     (corners, the most salient window, ``n_random`` random positions).
  3. Full budget (``steps``) with ``restarts`` random initialisations at the
     ``keep`` candidates the screen ranked best (by best margin).
  Per image, the best patch over every run above (best iterate, by target
  margin). Examples whose random run already succeeded skip nothing (the
  work is batched), but their result cannot get worse.

  Returns ``(patches, locs [B,2], margins [B], info)``: ``info`` holds the
  per-candidate screen margins ``[B, L]``, the candidates ``[B, L, 2]``,
  which stage found the best patch (0 random, 1 screen, 2 full), the steps
  spent per image (all stages), and the random stage's own margins and
  locations (``location="random"``'s result, for comparison).
  """
  b = images.shape[0]
  screen_steps = min(screen_steps, steps)   # a screen is never the longer run
  idx = jnp.arange(b)
  per_example = lambda k: jax.vmap(lambda i: jax.random.fold_in(k, i))(idx)
  h, w = images.shape[1:3]
  k_rand, k_cand, k_screen, k_full = (jax.random.fold_in(key, i)
                                      for i in range(4))
  kw = dict(side=side, step_size=step_size, kappa=kappa, domain=domain,
            loss=loss)
  # 1. The random location, as location="random" runs it.
  r_locs = random_locations(jax.random.fold_in(k_rand, 1), b, side, h, w)
  best_p, best_m, spent = train_patches(
      logits_fn, images, source, target, r_locs,
      per_example(jax.random.fold_in(k_rand, 2)), steps=steps, **kw)
  best_l = r_locs.astype(jnp.int32)
  stage = jnp.zeros(b, jnp.int32)
  random_margins = best_m

  def take(p, m, l, used, new_stage):
    nonlocal best_p, best_m, best_l, stage, spent
    better = m > best_m
    best_p = jnp.where(better[:, None, None, None], p, best_p)
    best_m = jnp.where(better, m, best_m)
    best_l = jnp.where(better[:, None], l, best_l)
    stage = jnp.where(better, new_stage, stage)
    spent = spent + used

  # 2. Screen every candidate.
  cands = search_candidates(logits_fn, images, source, target, k_cand,
                            side=side, n_random=n_random)
  n_c = cands.shape[1]
  rep = lambda a: jnp.repeat(a, n_c, 0)
  keys = jax.vmap(lambda i: jax.random.fold_in(k_screen, i))(
      jnp.arange(b * n_c))
  p, m, used = train_patches(logits_fn, rep(images), rep(source), rep(target),
                             cands.reshape(-1, 2), keys, steps=screen_steps,
                             **kw)
  screen_m = m.reshape(b, n_c)
  pick = jnp.argmax(screen_m, 1)
  take(p.reshape((b, n_c) + p.shape[1:])[idx, pick], screen_m[idx, pick],
       cands[idx, pick], used.reshape(b, n_c).sum(1), 1)
  # 3. The full budget at the best few, with restarts.
  keep = min(keep, n_c)
  top = jnp.argsort(-screen_m, 1)[:, :keep]              # [B, keep]
  locs = jnp.take_along_axis(cands, top[..., None], 1)   # [B, keep, 2]
  rk = lambda a: jnp.repeat(a, keep, 0)
  for r in range(restarts):
    keys = jax.vmap(lambda i: jax.random.fold_in(
        jax.random.fold_in(k_full, r), i))(jnp.arange(b * keep))
    p, m, used = train_patches(logits_fn, rk(images), rk(source), rk(target),
                               locs.reshape(-1, 2), keys, steps=steps, **kw)
    m = m.reshape(b, keep)
    j = jnp.argmax(m, 1)
    take(p.reshape((b, keep) + p.shape[1:])[idx, j], m[idx, j], locs[idx, j],
         used.reshape(b, keep).sum(1), 2)
  info = dict(screen_margins=screen_m, candidates=cands, stage=stage,
              steps_spent=spent, random_margins=random_margins,
              random_locs=r_locs)
  return best_p, best_l, best_m, info


def rates(logits: jax.Array, source: jax.Array, target: jax.Array,
          confidence=0.9) -> dict[str, jax.Array]:
  """The seed's three success indicators per example (bool ``[B]``)."""
  p = jax.nn.softmax(logits.astype(jnp.float32))
  pt = jnp.take_along_axis(p, target[:, None], -1)[:, 0]
  pred = jnp.argmax(logits, -1)
  return dict(confident=pt >= confidence, hit_target=pred == target,
              not_source=pred != source)


def shifted_locations(locs: jax.Array, side: int, height: int,
                      width: int) -> jax.Array:
  """Each location moved by exactly one pixel: right, or left at the edge."""
  x = locs[:, 1]
  x = jnp.where(x + 1 <= width - side, x + 1, x - 1)
  return jnp.stack([locs[:, 0], x], -1)


def shift_test(logits_fn, images, patches, locs, source):
  """Whether the prediction returns to ``source`` when each patch moves by
  one pixel (``shifted_locations``); bool ``[B]``."""
  h, w = images.shape[1:3]
  moved = shifted_locations(locs, patches.shape[1], h, w)
  pred = jnp.argmax(logits_fn(paste_batch(images, patches, moved)), -1)
  return pred == source


@functools.partial(jax.jit, static_argnames=("logits_fn", "side", "steps",
                                             "batch", "patience", "domain"))
def universal(logits_fn: Callable[[jax.Array], jax.Array],
              train_images: jax.Array, target, key: jax.Array, *, side: int,
              steps: int = 1000, batch: int = 32, step_size=0.01,
              confidence=0.9, patience: int = 30,
              domain: str = "image") -> tuple[jax.Array, jax.Array]:
  """One patch ``[s, s, C]`` that pushes any image towards ``target``.

  Each step draws ``batch`` random images of ``train_images`` (float in
  [0, 1]) and a random location for each, and ascends the mean of
  ``log p(target)`` — images of the target class included, as LaVAN's
  universal patches are trained. Stops after ``patience`` consecutive steps
  whose mean ``p(target)`` reaches ``confidence``, or after ``steps``.
  Returns ``(patch, steps used)``.
  """
  n, h, w, c = train_images.shape
  _check(domain, side, h, w)
  k_init, k_loop = jax.random.split(key)
  patch = jax.random.uniform(k_init, (side, side, c))
  target = jnp.asarray(target, jnp.int32)

  def batch_of(i):
    k_img, k_loc = jax.random.split(jax.random.fold_in(k_loop, i))
    idx = jax.random.randint(k_img, (batch,), 0, n)
    return train_images[idx], random_locations(k_loc, batch, side, h, w)

  def mean_logp(p, imgs, locs):
    ps = jnp.broadcast_to(p, (batch,) + p.shape)
    logits = logits_fn(paste_batch(imgs, ps, locs)).astype(jnp.float32)
    logp = jax.nn.log_softmax(logits)[:, target]
    return jnp.mean(logp), jnp.mean(jnp.exp(logp))

  def one_step(state):
    i, p, streak, used = state
    active = (i < steps) & (streak < patience)
    imgs, locs = batch_of(i)
    (_, pt), g = jax.value_and_grad(mean_logp, has_aux=True)(p, imgs, locs)
    streak = jnp.where(active, jnp.where(pt >= confidence, streak + 1, 0),
                       streak)
    new = p + step_size * jnp.sign(g)
    if domain == "image":
      new = jnp.clip(new, 0.0, 1.0)
    p = jnp.where(active & (streak < patience), new, p)
    return i + 1, p, streak, used + active.astype(jnp.int32)

  def body(state):  # CHUNK steps unrolled; stops exactly at the same step
    for _ in range(CHUNK):
      state = one_step(state)
    return state

  _, patch, _, used = jax.lax.while_loop(
      lambda s: (s[0] < steps) & (s[2] < patience), body,
      (0, patch, jnp.int32(0), jnp.int32(0)))
  return patch, used


def _patch_pixels(ratio, h, w):
  from mdr import masks  # pylint: disable=g-import-not-at-top
  return int(masks.side(ratio, h, w)) ** 2


LAVAN = register(AttackSpec(
    "lavan", "LaVAN patch", "LaVAN", "patch", random=True,
    budget="patch area (share of the image)", pixels=_patch_pixels,
    color="tab:olive"))
