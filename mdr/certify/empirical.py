"""An empirical check of certificates, not a proof: attack the defended
prediction with the location-searched LaVAN patch and count successes.

The defences' predictions are votes and are not differentiable; the attack
optimises a surrogate, the log of the mean softmax over the copies the
defence classifies (every band for de-randomized smoothing, every one-mask
copy for PatchCleanser), with ``mdr.attacks.patch.search`` (the best per
image over corners, the most salient window and random positions, target =
the surrogate's runner-up class, margin loss), then pastes the patch it
found and asks the *defended* prediction. A success on a certified image is
a bug in the certificate; on uncertified images the same attack should
succeed sometimes, or the check could not fail.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from mdr.attacks import patch as patch_lib
from mdr.certify import ds
from mdr.certify import pc


def ds_surrogate(logits_fn, b: int, ablation=ds.ablate):
  """``x -> log mean_bands softmax``: smoothing's differentiable stand-in."""
  def fn(x):
    p = jax.nn.softmax(ds.band_logits(logits_fn, x, b, ablation).astype(
        jnp.float32))
    return jnp.log(p.mean(0) + 1e-12)
  return fn


def ds_defended(logits_fn, b: int, theta, ablation=ds.ablate):
  return jax.jit(lambda x: ds.smooth(logits_fn, x, b=b, theta=theta,
                                     ablation=ablation)[0])


def pc_surrogate(logits_fn, masks, fill):
  """``x -> log mean_masks softmax`` over PatchCleanser's one-mask copies."""
  masks = jnp.asarray(masks)

  def fn(x):
    def one(m):
      return jax.nn.softmax(logits_fn(pc.hide(x, m[None], fill)).astype(
          jnp.float32))
    return jnp.log(jax.lax.map(one, masks).mean(0) + 1e-12)
  return fn


def pc_defended(logits_fn, masks, fill):
  """Double masking's prediction (NumPy rules: not jittable)."""
  def fn(x):
    return pc.double_masking(pc.prediction_map(logits_fn, x, masks, fill))[0]
  return fn


def attack(surrogate_fn, defended_fn, images, labels, key, *, side: int,
           steps: int = 50, screen_steps: int = 10, n_random: int = 4,
           chunk: int = 16) -> dict:
  """Per image: does the searched patch change the defended prediction?

  Returns numpy arrays ``success`` (defended prediction ≠ label after the
  patch), ``surrogate_success`` (the surrogate's argmax moved to the
  target), ``locs`` and ``target``, and the search's settings.
  """
  surrogate = jax.jit(surrogate_fn)
  defended = defended_fn
  out = dict(success=[], surrogate_success=[], locs=[], target=[])
  search = functools.partial(
      patch_lib.search, surrogate_fn, side=side, steps=steps,
      screen_steps=screen_steps, keep=1, restarts=1, n_random=n_random,
      loss="margin", domain="image")
  for s in range(0, len(images), chunk):
    x, y = images[s:s + chunk], labels[s:s + chunk]
    logp = surrogate(x)
    target = jnp.argmax(jnp.where(jax.nn.one_hot(y, logp.shape[-1],
                                                 dtype=bool), -jnp.inf,
                                  logp), -1)
    patches, locs, margins, _ = search(x, y, target,
                                       jax.random.fold_in(key, s))
    pred = defended(patch_lib.paste_batch(x, patches, locs))
    out["success"].append(np.asarray(pred != y))
    out["surrogate_success"].append(np.asarray(margins > 0))
    out["locs"].append(np.asarray(locs))
    out["target"].append(np.asarray(target))
  result = {k: np.concatenate(v) if v else np.zeros((0,))
            for k, v in out.items()}
  result.update(side=side, steps=steps, screen_steps=screen_steps,
                n_random=n_random, candidates=4 + 1 + n_random)
  return result


def summary(certified_result, uncertified_result) -> dict:
  """The check's record: successes on certified images (must be 0) and on
  uncertified, correctly classified ones (shows the attack can succeed)."""
  def part(r):
    return dict(n=int(len(r["success"])),
                successes=int(np.sum(r["success"])),
                surrogate_successes=int(np.sum(r["surrogate_success"])))
  c, u = part(certified_result), part(uncertified_result)
  settings = {k: certified_result[k] for k in
              ("side", "steps", "screen_steps", "n_random", "candidates")}
  return dict(certified=c, uncertified=u, passed=c["successes"] == 0,
              can_fail=u["successes"] > 0, **settings)


def check(surrogate_fn, defended_fn, images, labels, certified, correct,
          key, *, n: int, side: int, steps: int, screen_steps: int,
          n_uncertified=None) -> dict:
  """:func:`attack` on the first ``n`` certified images and the first
  ``n_uncertified`` (default ``n``) correctly classified, uncertified ones
  (bool masks ``certified``, ``correct``); the :func:`summary` record."""
  certified, correct = np.asarray(certified), np.asarray(correct)
  n_uncertified = n if n_uncertified is None else n_uncertified
  kw = dict(side=side, steps=steps, screen_steps=screen_steps)
  parts = []
  for idx in (np.flatnonzero(certified)[:n],
              np.flatnonzero(correct & ~certified)[:n_uncertified]):
    parts.append(attack(surrogate_fn, defended_fn, images[idx], labels[idx],
                        jax.random.fold_in(key, len(parts)), **kw))
  return summary(*parts)


def check_fields(config, registry) -> None:
  """The fields both certificate evaluators read: ``eval.certify_images``,
  ``eval.certify_patches`` and ``eval.certify_attack_*``."""
  ec = config.eval
  registry.check_int("eval.certify_images", ec.certify_images, 0,
                     "an integer >= 0 (0 = all)")
  registry.check_sides("eval.certify_patches", ec.certify_patches)
  registry.check_int("eval.certify_attack_images", ec.certify_attack_images,
                     0, "an integer >= 0 (0 = no empirical check)")
  registry.check_int("eval.certify_attack_steps", ec.certify_attack_steps, 1,
                     "a positive integer")
  registry.check_int("eval.certify_attack_screen", ec.certify_attack_screen,
                     1, "a positive integer")


def markdown(record) -> str:
  """One paragraph: the check's counts and how it searched."""
  c, u = record["certified"], record["uncertified"]
  verdict = ("no success on a certified image" if record["passed"] else
             f"**{c['successes']} successes on certified images: a wrong "
             "certificate**")
  return (f"Empirical check (not a proof): the location-searched LaVAN patch "
          f"({record['side']}×{record['side']}, {record['candidates']} "
          f"candidate places screened for {record['screen_steps']} steps, "
          f"the best given {record['steps']}, margin loss on the surrogate) "
          f"changed the defended prediction of {c['successes']} of "
          f"{c['n']} certified images ({verdict}) and of {u['successes']} "
          f"of {u['n']} uncertified, correctly classified ones.")
