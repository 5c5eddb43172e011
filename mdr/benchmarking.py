"""One call that measures any JAX classifier against the toolkit's attacks.

  result = mdr.benchmark(logits_fn, images, labels, key, suite="quick")
  print(result.table())            # markdown
  json.dump(result.to_json(), f)   # the records

``logits_fn`` maps images ``[B, H, W, C]`` in [0, 1] to logits ``[B, K]``
(the model in inference mode); no config, no training code. Every number is
the share of the ``n`` images (or, for patches, of the correctly classified
ones) with its 95 % Wilson interval, and every combined row is the worst
case per image over the rows it names, so it is never above any of them:

- clean accuracy;
- the mask attacks at each hidden share of the suite (α, β, γ, α-pixels on
  every image; α*, the worst-case square over every position, on the first
  ``exhaustive_images``), and the per-image occlusion worst case over all
  five on α*'s images;
- PGD (ℓ∞, step 2.5·ε/steps, random starts) with the cross-entropy and the
  margin loss, and their per-image worst case;
- APGD-CE and APGD-T (targeted DLR over the top classes; Croce & Hein
  2020), and the ensemble: per image the worst over PGD's worst case,
  APGD-CE and APGD-T;
- LaVAN with its location searched (``mdr.attacks.patch.search``: corners,
  the most salient window, random positions; image domain, a square patch of
  ``patch_share`` of the image), its targeted success on the correctly
  classified images (higher = weaker model).

``suite="quick"`` takes about a minute for a small network on a CPU (fewer
steps, restarts and α* images); ``suite="standard"`` is the full budget.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from mdr import attacks
from mdr import intervals
from mdr import masks
from mdr import saliency as saliency_lib
from mdr.attacks import patch as patch_lib

# The mask attacks of the sweep and the α* one (names of mdr.attacks).
MASKS = ("alpha", "beta", "gamma", "alpha_pixels")
EXHAUSTIVE = "alpha_exhaustive"
SUITES = {
    "quick": dict(ratios=(0.2,), pgd_steps=10, pgd_restarts=1,
                  apgd_steps=10, apgd_targets=3, patch_steps=40,
                  patch_screen_steps=10, patch_restarts=1, patch_random=2,
                  exhaustive_images=64),
    "standard": dict(ratios=(0.1, 0.2), pgd_steps=50, pgd_restarts=2,
                     apgd_steps=100, apgd_targets=9, patch_steps=1000,
                     patch_screen_steps=100, patch_restarts=2,
                     patch_random=4, exhaustive_images=1000),
}


@dataclasses.dataclass
class Result:
  """What ``benchmark`` measured: ``records`` (one dict per row: ``name``,
  ``attack``, ``setting``, ``n``, ``k`` (images robust, or patches that hit
  their target), ``value`` (%), ``interval`` ([low, high] %), ``of`` (the
  rows a worst case combines)), the suite and its settings."""
  records: list
  suite: str
  settings: dict

  def table(self) -> str:
    """The records as a markdown table."""
    lines = ["| row | setting | images | % | 95 % interval |",
             "|---|---|---:|---:|---|"]
    for r in self.records:
      lo, hi = r["interval"]
      lines.append(f"| {r['name']} | {r['setting']} | {r['n']} | "
                   f"{r['value']:.1f} | [{lo:.1f}, {hi:.1f}] |")
    return "\n".join(lines) + "\n"

  def to_json(self) -> dict:
    return dict(suite=self.suite, settings=self.settings,
                records=self.records)

  def get(self, name):
    """The record called ``name``."""
    for r in self.records:
      if r["name"] == name:
        return r
    raise KeyError(f"no record {name!r}: {[r['name'] for r in self.records]}")


def _record(name, attack, setting, ok, of=()):
  ok = np.asarray(ok, bool)
  n, k = int(ok.size), int(ok.sum())
  lo, hi = intervals.wilson(k, n) if n else (0.0, 1.0)
  return dict(name=name, attack=attack, setting=setting, n=n, k=k,
              value=100.0 * k / n if n else float("nan"),
              interval=[100.0 * lo, 100.0 * hi], of=list(of))


def benchmark(logits_fn: Callable[[jax.Array], jax.Array], images, labels,
              key: jax.Array, *, suite: str = "standard", eps: float = 8 / 255,
              fill: str = "zero", patch_share: float = 0.02,
              batch: int = 128, **overrides: Any) -> Result:
  """Measures ``logits_fn`` on ``images``/``labels`` (see the module doc).

  Args:
    logits_fn: images ``[B, H, W, C]`` in [0, 1] -> logits ``[B, K]``.
    images: float ``[N, H, W, C]`` in [0, 1]; labels: int ``[N]``.
    key: the PRNG key of every random draw (salted by attack name).
    suite: ``"quick"`` or ``"standard"`` (budgets in ``SUITES``).
    eps: the ℓ∞ radius of PGD and APGD, in [0, 1] pixel units.
    fill: how masked pixels are hidden (``mdr.masks.FILLS``).
    patch_share: the patch's share of the image (its side is the nearest
      integer to the square root of that share of the pixels).
    batch: images per compiled call.
    **overrides: any budget of ``SUITES[suite]``, e.g. ``ratios=(0.1,)``.
  """
  if suite not in SUITES:
    raise ValueError(f"suite must be one of {sorted(SUITES)}, got {suite!r}")
  unknown = sorted(set(overrides) - set(SUITES[suite]))
  if unknown:
    raise ValueError(f"unknown settings {unknown}; known: "
                     f"{sorted(SUITES[suite])}")
  s = dict(SUITES[suite], **overrides)
  images = jnp.asarray(images, jnp.float32)
  labels = jnp.asarray(labels, jnp.int32)
  if images.ndim != 4 or labels.shape != images.shape[:1]:
    raise ValueError(f"images must be [N, H, W, C] and labels [N], got "
                     f"{images.shape} and {labels.shape}")
  n, h, w = images.shape[:3]
  side = max(1, round(math.sqrt(patch_share * h * w)))
  salted = lambda name: jax.random.fold_in(key, attacks.salt(name))
  hide = lambda x, m: masks.apply(x, m, fill)
  correct = lambda x, y: jnp.argmax(logits_fn(x), -1) == y

  @jax.jit
  def occlusion(x, y, start, ratio):
    sal = saliency_lib.input_gradient(logits_fn, x, y)
    out = {}
    for name in MASKS:
      keys = jax.vmap(lambda i, k=salted(name): jax.random.fold_in(k, i))(
          start + jnp.arange(x.shape[0]))
      m = masks.batch_masks(name, keys, ratio, (h, w), saliency=sal)
      out[name] = correct(hide(x, m), y)
    return out

  @jax.jit
  def exhaustive(x, y, ratio):
    return correct(hide(x, attacks.worst_square(logits_fn, x, y, ratio,
                                                hide)), y)

  @jax.jit
  def gradient(x, y, start):
    out = {}
    for loss in ("ce", "margin"):
      adv = attacks.pgd(logits_fn, x, y, jax.random.fold_in(
          salted(f"pgd_{loss}"), start), eps=eps,
                        step_size=2.5 * eps / s["pgd_steps"],
                        steps=s["pgd_steps"], restarts=s["pgd_restarts"],
                        loss=loss)
      out[f"pgd_{loss}"] = correct(adv, y)
    adv = attacks.apgd(logits_fn, x, y, jax.random.fold_in(
        salted("apgd"), start), eps=eps, steps=s["apgd_steps"], loss="ce")
    out["apgd_ce"] = correct(adv, y)
    adv = attacks.apgd_targeted(logits_fn, x, y, jax.random.fold_in(
        salted("apgd_t"), start), eps=eps, steps=s["apgd_steps"],
                                n_targets=s["apgd_targets"])
    out["apgd_t"] = correct(adv, y)
    return out

  def batches(limit=n):
    for start in range(0, limit, batch):
      stop = min(start + batch, limit)
      yield start, images[start:stop], labels[start:stop]

  def cat(parts):
    return np.concatenate([np.asarray(p) for p in parts]) if parts else (
        np.zeros(0, bool))

  records = []
  clean = cat([correct(x, y) for _, x, y in batches()])
  records.append(_record("clean", "clean", "no attack", clean))
  for ratio in s["ratios"]:
    r = jnp.float32(ratio)
    found = [occlusion(x, y, start, r) for start, x, y in batches()]
    per = {name: cat([f[name] for f in found]) for name in MASKS}
    m_ex = min(n, int(s["exhaustive_images"]))
    per[EXHAUSTIVE] = cat([exhaustive(x, y, r)
                           for _, x, y in batches(m_ex)])
    share = f"{ratio * 100:g} % hidden, {fill} fill"
    for name in (*MASKS[:1], EXHAUSTIVE, *MASKS[1:]):
      records.append(_record(f"{name}@{ratio:g}", name, share, per[name]))
    worst = per[EXHAUSTIVE] & np.all([per[m][:m_ex] for m in MASKS], 0)
    records.append(_record(f"occlusion_worst@{ratio:g}", "occlusion",
                           share + f", first {m_ex} images", worst,
                           of=[EXHAUSTIVE, *MASKS]))
  found = [gradient(x, y, start) for start, x, y in batches()]
  per = {k: cat([f[k] for f in found]) for k in found[0]}
  e255 = f"ε {eps * 255:g}/255"
  pgd = f"PGD-{s['pgd_steps']} × {s['pgd_restarts']} restarts, {e255}"
  records.append(_record("pgd_ce", "pgd", pgd + ", CE", per["pgd_ce"]))
  records.append(_record("pgd_margin", "pgd", pgd + ", margin",
                         per["pgd_margin"]))
  pgd_worst = per["pgd_ce"] & per["pgd_margin"]
  records.append(_record("pgd_worst", "pgd", pgd + ", worst of CE and margin",
                         pgd_worst, of=["pgd_ce", "pgd_margin"]))
  apgd = f"{s['apgd_steps']} steps, {e255}"
  records.append(_record("apgd_ce", "apgd", "APGD-CE, " + apgd,
                         per["apgd_ce"]))
  records.append(_record("apgd_t", "apgd", f"APGD-T (top {s['apgd_targets']}"
                         f" targets), " + apgd, per["apgd_t"]))
  records.append(_record("ensemble", "ensemble", "worst of PGD (CE, margin),"
                         " APGD-CE and APGD-T, " + e255,
                         pgd_worst & per["apgd_ce"] & per["apgd_t"],
                         of=["pgd_worst", "apgd_ce", "apgd_t"]))
  hits = []
  k_patch = salted("lavan")
  for start, x, y in batches():
    ok = np.asarray(correct(x, y))
    if not ok.any():
      continue
    idx = np.nonzero(ok)[0]
    xs, ys = x[idx], y[idx]
    k = jax.random.fold_in(k_patch, start)
    target = patch_lib.draw_targets(jax.random.fold_in(k, 0), ys,
                                    int(logits_fn(xs[:1]).shape[-1]))
    patches, locs, _, _ = patch_lib.search(
        logits_fn, xs, ys, target, jax.random.fold_in(k, 1), side=side,
        steps=s["patch_steps"], screen_steps=s["patch_screen_steps"],
        restarts=s["patch_restarts"], n_random=s["patch_random"])
    adv = patch_lib.paste_batch(xs, patches, locs)
    hits.append(np.asarray(jnp.argmax(logits_fn(adv), -1) == target))
  records.append(_record(
      "lavan_search", "lavan", f"{side}×{side} patch "
      f"({side * side / (h * w) * 100:.1f} % of the image), image domain, "
      f"location searched, {s['patch_steps']} steps; targeted success on "
      f"the correctly classified images", cat(hits)))
  return Result(records=records, suite=suite,
                settings=dict(s, eps=eps, fill=fill, patch_side=side,
                              n=int(n)))
