"""``patch_cleanser``: PatchCleanser's certified patch robustness of the
model as it is (no retraining; ``mdr.certify.pc``).

For each patch side of ``eval.certify_patches``: the mask set of
``eval.certify_masks`` masks per axis, filled with ``eval.certify_fill``
(the fill the model was trained with: ``zero`` for mdr's masked and mixed
models); on a fixed subset of ``eval.certify_images`` test images, without
TTA, the two-mask prediction map (M(M+1)/2 passes per image), the certified
accuracy (every two-mask prediction is the label), the defended prediction
on the clean image (double masking) and the share of images in each case
(I unanimous, II a disagreer's, III the majority). With
``eval.certify_attack_images``: the empirical check
(``mdr.certify.empirical``) at the largest patch side. Writes
``patch_cleanser.{json,md}``.
"""

from __future__ import annotations

import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from mdr import data as data_lib
from mdr.certify import empirical
from mdr.certify import pc
from mdr.evaluators import registry

FILLS = ("zero", "mean")


def prediction_map(logits_fn, x, masks, fill, per):
  """``pc.prediction_map`` over ``x`` in calls of ``per`` images."""
  return jnp.concatenate([pc.prediction_map(logits_fn, x[s:s + per], masks,
                                            fill, chunk=64)
                          for s in range(0, len(x), per)])


def compute(ctx: registry.Context) -> dict:
  ec = ctx.config.eval
  t0 = time.perf_counter()
  idx = data_lib.subsample(ctx.n, ec.certify_images)
  x = jnp.asarray(np.asarray(ctx.dataset.test.images)[idx], jnp.float32) / 255
  y = jnp.asarray(np.asarray(ctx.dataset.test.labels)[idx], jnp.int32)
  n, h, w = x.shape[:3]
  fill = 0.0 if ec.certify_fill == "zero" else jnp.asarray(ctx.mean)
  logits_fn = jax.jit(ctx.logits_fn(0))
  undefended = float(jnp.mean(jnp.argmax(logits_fn(x), -1) == y) * 100)
  per = max(1, ctx.batch // 64)      # images per call, 64 mask pairs each
  records = []
  for p in ec.certify_patches:
    t = time.perf_counter()
    masks = pc.mask_set(h, w, int(p), int(ec.certify_masks))
    m_side, _ = pc.positions(h, int(p), int(ec.certify_masks))
    pm = prediction_map(logits_fn, x, masks, fill, per)
    cert = np.asarray(pc.certify(pm, y))
    pred, case = pc.double_masking(pm)
    records.append(dict(
        defence="patchcleanser", patch=int(p), masks=int(len(masks)),
        masks_per_axis=int(ec.certify_masks), mask_side=int(m_side),
        passes=pc.passes(len(masks)), fill=ec.certify_fill, n=int(n),
        certified=float(cert.mean() * 100), certified_k=int(cert.sum()),
        clean_accuracy=float(np.mean(pred == np.asarray(y)) * 100),
        cases={str(c): float(np.mean(case == c) * 100) for c in (1, 2, 3)},
        seconds=time.perf_counter() - t,
        seconds_per_1000=(time.perf_counter() - t) / n * 1000))
  result = dict(records=records, n=int(n), undefended_accuracy=undefended,
                tta=0)
  if ec.certify_attack_images:
    t = time.perf_counter()
    # At the largest patch side; `cert` and `pred` above are the last
    # side's, recomputed unless that is the largest.
    side = max(int(p) for p in ec.certify_patches)
    masks = pc.mask_set(h, w, side, int(ec.certify_masks))
    if side != int(ec.certify_patches[-1]):
      pm = prediction_map(logits_fn, x, masks, fill, per)
      cert = np.asarray(pc.certify(pm, y))
      pred, _ = pc.double_masking(pm)
    result["empirical"] = empirical.check(
        empirical.pc_surrogate(logits_fn, masks, fill),
        empirical.pc_defended(logits_fn, masks, fill), x, y, cert,
        np.asarray(pred) == np.asarray(y), ctx.key(EVALUATOR),
        n=int(ec.certify_attack_images),
        n_uncertified=max(1, int(ec.certify_attack_images) // 2), side=side,
        steps=int(ec.certify_attack_steps),
        screen_steps=int(ec.certify_attack_screen))
    result["empirical"]["seconds"] = time.perf_counter() - t
  result["seconds"] = time.perf_counter() - t0
  return result


def markdown(result, title) -> str:
  lines = [f"# PatchCleanser: {title}", "",
           f"Certified and defended accuracy (%) on {result['n']} test "
           f"images (undefended: {result['undefended_accuracy']:.2f} %), no "
           "TTA. Certified: every two-mask prediction is the label, so no "
           "patch of that side anywhere changes the defended prediction.", "",
           "| patch | masks | mask side | passes per image | certified | "
           "defended clean | case I / II / III |",
           "|---:|---:|---:|---:|---:|---:|---|"]
  for r in result["records"]:
    cases = " / ".join(f"{r['cases'][c]:.1f}" for c in ("1", "2", "3"))
    lines.append(f"| {r['patch']}×{r['patch']} | {r['masks']} | "
                 f"{r['mask_side']} | {r['passes']} | {r['certified']:.2f} | "
                 f"{r['clean_accuracy']:.2f} | {cases} |")
  if "empirical" in result:
    lines += ["", empirical.markdown(result["empirical"])]
  return "\n".join(lines) + "\n"


def run(ctx: registry.Context) -> dict:
  result = compute(ctx)
  for r in result["records"]:
    logging.info("patch_cleanser p=%d: certified %.2f %%, defended %.2f %% "
                 "on %d images, %.1f s", r["patch"], r["certified"],
                 r["clean_accuracy"], r["n"], r["seconds"])
  registry.write_result(ctx, "patch_cleanser", result,
                        markdown(result, ctx.title))
  return result


def check(config) -> None:
  ec = config.eval
  empirical.check_fields(config, registry)
  registry.check_int("eval.certify_masks", ec.certify_masks, 1,
                     "a positive integer (masks per axis)")
  if ec.certify_fill not in FILLS:
    registry.fail("eval.certify_fill", ec.certify_fill,
                  f"one of {FILLS} (the fill the model was trained with)")


EVALUATOR = registry.register(registry.Evaluator(
    name="patch_cleanser", run=run, check=check,
    doc="PatchCleanser's certified patch robustness of the model as it is",
    fields=("certify_images", "certify_patches", "certify_masks",
            "certify_fill", "certify_attack_images", "certify_attack_steps",
            "certify_attack_screen"),
    files=("patch_cleanser",)))
