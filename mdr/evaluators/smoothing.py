"""``smoothing``: column de-randomized smoothing's certified patch
robustness (``mdr.certify.ds``). A base model that takes the 6-channel
ablated encoding (``model.encoding="ds"``, trained with ``train.mode =
"ablated"``) sees each band in it; any other model sees the band with every
other column 0 (``ds.zero_fill``: the model as it is, like PatchCleanser's
masks; the certificate holds either way).

On a fixed subset of ``eval.certify_images`` test images, without TTA: the
base model on every band of ``eval.ds_band`` columns (W passes per image),
votes with the softmax threshold ``eval.ds_theta`` and with one top-1 vote
per band; the smoothed clean accuracy and, for each patch side of
``eval.certify_patches``, the certified accuracy (``n1 − n2 > 2Δ``, Δ = p +
b − 1, ties to the smaller class). Writes ``smoothing.{json,md}``.
"""

from __future__ import annotations

import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from mdr import data as data_lib
from mdr.certify import ds
from mdr.certify import empirical
from mdr.evaluators import registry

VOTES = (("threshold", "softmax ≥ θ"), ("top1", "top-1"))


def compute(ctx: registry.Context) -> dict:
  ec = ctx.config.eval
  t0 = time.perf_counter()
  idx = data_lib.subsample(ctx.n, ec.certify_images)
  x = jnp.asarray(np.asarray(ctx.dataset.test.images)[idx], jnp.float32) / 255
  y = np.asarray(ctx.dataset.test.labels)[idx].astype(np.int64)
  n, _, w = x.shape[:3]
  band = int(ec.ds_band)
  logits_fn = ctx.logits_fn(0)
  ablation_name = ablation_of(ctx.config)
  ablation = ds.ABLATIONS[ablation_name]
  band_logits = jax.jit(lambda v: ds.band_logits(logits_fn, v, band,
                                                 ablation))
  per = max(1, ctx.batch)
  t = time.perf_counter()
  logits = jnp.concatenate([band_logits(x[s:s + per])
                            for s in range(0, n, per)], axis=1)
  logits.block_until_ready()
  seconds_bands = time.perf_counter() - t
  records = []
  for votes_name, _ in VOTES:
    theta = float(ec.ds_theta) if votes_name == "threshold" else None
    v = ds.votes(logits, theta)
    pred = np.asarray(ds.predict(v))
    for p in ec.certify_patches:
      cert = np.asarray(ds.certified(v, int(p), band, w)) & (pred == y)
      records.append(dict(
          defence="smoothing", votes=votes_name, theta=theta, band=band,
          patch=int(p), delta=ds.delta(int(p), band, w), passes=int(w),
          n=int(n), certified=float(cert.mean() * 100),
          certified_k=int(cert.sum()),
          clean_accuracy=float(np.mean(pred == y) * 100)))
  undefended = float(np.mean(np.asarray(jnp.argmax(
      jax.jit(logits_fn)(x), -1)) == y) * 100)
  result = dict(records=records, n=int(n), band=band, passes=int(w),
                ablation=ablation_name,
                undefended_accuracy=undefended, tta=0,
                seconds_per_1000=seconds_bands / n * 1000)
  if ec.certify_attack_images:
    t = time.perf_counter()
    theta = float(ec.ds_theta)
    v = ds.votes(logits, theta)
    pred = np.asarray(ds.predict(v))
    side = max(int(p) for p in ec.certify_patches)
    result["empirical"] = empirical.check(
        empirical.ds_surrogate(logits_fn, band, ablation),
        empirical.ds_defended(logits_fn, band, theta, ablation), x,
        jnp.asarray(y),
        np.asarray(ds.certified(v, side, band, w)) & (pred == y), pred == y,
        ctx.key(EVALUATOR), n=int(ec.certify_attack_images),
        n_uncertified=max(1, int(ec.certify_attack_images) // 2), side=side,
        steps=int(ec.certify_attack_steps),
        screen_steps=int(ec.certify_attack_screen))
    result["empirical"].update(votes="threshold",
                               seconds=time.perf_counter() - t)
  result["seconds"] = time.perf_counter() - t0
  return result


def ablation_of(config) -> str:
  """``ds`` for a model that takes the ablated encoding, else ``zero``."""
  return "ds" if config.model.get("encoding", "rgb") == "ds" else "zero"


ABLATION_WORDS = {"ds": "the 6-channel encoding, ablated pixels (0, 0)",
                  "zero": "the other columns filled with 0"}


def markdown(result, title) -> str:
  lines = [f"# De-randomized smoothing (columns): {title}", "",
           f"Smoothed and certified accuracy (%) on {result['n']} test "
           f"images, band of {result['band']} columns "
           f"({ABLATION_WORDS[result.get('ablation', 'ds')]}), "
           f"{result['passes']} "
           f"passes per image ({result['seconds_per_1000']:.1f} s per 1,000 "
           f"images), no TTA; the base model on the whole image (nothing "
           f"ablated): {result['undefended_accuracy']:.2f} %. Certified: "
           "the vote gap exceeds 2Δ (Δ = p + b − 1 bands a patch touches), "
           "so no patch of that side anywhere changes the prediction.", "",
           "| votes | patch | Δ | certified | smoothed clean |",
           "|---|---:|---:|---:|---:|"]
  label = dict(VOTES)
  for r in result["records"]:
    votes = label[r["votes"]] + (f" (θ = {r['theta']:g})" if r["theta"]
                                 is not None else "")
    lines.append(f"| {votes} | {r['patch']}×{r['patch']} | {r['delta']} | "
                 f"{r['certified']:.2f} | {r['clean_accuracy']:.2f} |")
  if "empirical" in result:
    lines += ["", empirical.markdown(result["empirical"])]
  return "\n".join(lines) + "\n"


def run(ctx: registry.Context) -> dict:
  result = compute(ctx)
  for r in result["records"]:
    logging.info("smoothing (%s votes) p=%d: certified %.2f %%, smoothed "
                 "%.2f %% on %d images", r["votes"], r["patch"],
                 r["certified"], r["clean_accuracy"], r["n"])
  registry.write_result(ctx, "smoothing", result,
                        markdown(result, ctx.title))
  return result


def check(config) -> None:
  ec = config.eval
  empirical.check_fields(config, registry)
  registry.check_int("eval.ds_band", ec.ds_band, 1,
                     "a positive integer (columns each band keeps)")
  theta = ec.ds_theta
  if isinstance(theta, bool) or not isinstance(theta, (int, float)) or \
      not 0 < theta <= 1:
    registry.fail("eval.ds_theta", theta, "a number in (0, 1] (the softmax "
                  "threshold of a vote)")


EVALUATOR = registry.register(registry.Evaluator(
    name="smoothing", run=run, check=check,
    doc="column de-randomized smoothing's certified patch robustness",
    fields=("certify_images", "certify_patches", "ds_band", "ds_theta",
            "certify_attack_images", "certify_attack_steps",
            "certify_attack_screen"),
    files=("smoothing",)))
