"""``patch``: LaVAN patches of ``eval.attacks`` (per image and universal, in
the image and network domains) and the seed's rates; the computation and
its files are ``mdr.patch_eval`` (``patch.{json,md,png}``,
``patch_examples.png``)."""

from __future__ import annotations

import statistics
import time

from absl import logging

from mdr import attacks
from mdr import data as data_lib
from mdr import patch_eval
from mdr.attacks import patch as patch_lib
from mdr.evaluators import registry


def run(ctx: registry.Context):
  ec = ctx.config.eval
  if not any(attacks.get(a).family == "patch" for a in ec.attacks):
    return None
  t = time.perf_counter()
  idx = data_lib.subsample(ctx.n, ec.patch_images)
  transfer = {name: ctx.logits_fn(model=m, variables=v)
              for name, (m, v) in ctx.others.items()
              if name in ec.patch_transfer_workdirs}
  ds = ctx.dataset
  result, examples = patch_eval.evaluate(
      ctx.config, ctx.logits_fn(), ds.test.images[idx], ds.test.labels[idx],
      ds.train.images, ds.num_classes, ctx.key(EVALUATOR), transfer)
  result["tta"] = ec.tta
  logging.info("patch suite: %.1f s", time.perf_counter() - t)
  if ctx.write:
    patch_eval.write(ctx.out, result, examples, ctx.title, ds.class_names)
  return result


def check(config) -> None:
  ec = config.eval
  if not 0 < ec.patch_ratio <= 1:
    registry.fail("eval.patch_ratio", ec.patch_ratio,
                  "a share of the image in (0, 1]")
  if ec.patch_location not in (*patch_lib.CORNERS, "search"):
    registry.fail("eval.patch_location", ec.patch_location,
                  f"one of {(*patch_lib.CORNERS, 'search')}")
  if ec.patch_loss not in patch_lib.LOSSES:
    registry.fail("eval.patch_loss", ec.patch_loss,
                  f"one of {patch_lib.LOSSES}")
  kappa = ec.patch_kappa
  if isinstance(kappa, bool) or not isinstance(kappa, (int, float)) or \
      not 0 <= kappa < float("inf"):
    registry.fail("eval.patch_kappa", kappa, "a finite number >= 0 (a "
                  "logit margin)")
  for field in ("patch_screen_steps", "patch_keep", "patch_restarts"):
    registry.check_int(f"eval.{field}", ec[field], 1, "a positive integer")
  registry.check_int("eval.patch_random_candidates",
                     ec.patch_random_candidates, 0, "an integer >= 0")
  for field in ("patch_sanity_steps", "patch_sanity_sides"):
    values = ec[field]
    if isinstance(values, str) or any(
        isinstance(v, bool) or not isinstance(v, int) or v < 1
        for v in values) or len(set(values)) < len(values):
      registry.fail(f"eval.{field}", values,
                    "distinct positive integers (empty: none)")
  doms = ec.patch_domains
  if isinstance(doms, str) or not doms or any(d not in patch_lib.DOMAINS
                                              for d in doms):
    registry.fail("eval.patch_domains", doms,
                  f"a non-empty list of {patch_lib.DOMAINS}")
  for field in ("patch_steps", "patch_universal_steps"):
    registry.check_int(f"eval.{field}", ec[field], 1, "a positive integer")
  registry.check_int("eval.patch_images", ec.patch_images, 0,
                     "an integer >= 0 (0 = all)")
  wds = ec.patch_transfer_workdirs
  if isinstance(wds, str) or any(not isinstance(w, str) or not w for w in wds):
    registry.fail("eval.patch_transfer_workdirs", wds, "a list of workdirs "
                  "of trained runs, e.g. '(\"runs/clean\",)'")
  if not ec.patch_step_size > 0:
    registry.fail("eval.patch_step_size", ec.patch_step_size, "a number > 0")


def _cell(reading, params):
  """``params``: variant ("per_image" | "universal"), domain ("image" |
  "network"); the cell is the mean targeted success (%)."""
  patch = reading.file("patch")
  hits = [r["hit_target"] for r in (patch or {}).get("records", [])
          if r.get("variant") == params["variant"]
          and r.get("domain") == params["domain"]]
  if hits:
    # The checks that say this cell understates the attack: the per-image
    # patch below the universal one (its domain), or the image domain's
    # above the network domain's (its variant).
    failed = [c for c in patch_eval.checks(patch["records"])
              if not c["passed"] and (
                  (c["check"] == "per_image_not_below_universal"
                   and params["variant"] == "per_image"
                   and c["domain"] == params["domain"]) or
                  (c["check"] == "network_not_below_image"
                   and c["domain"] == params["variant"]))]
    return statistics.fmean(hits), None, "‡" if failed else ""
  return None, ("no patch.json" if patch is None else
                f"patch.json has no {params['variant']} "
                f"{params['domain']}-domain patch"), ""


def _count(reading, params):
  """(hits, images) pooled over the records of the variant and domain (the
  correctly classified images each was tried on)."""
  recs = [r for r in (reading.file("patch") or {}).get("records", [])
          if r.get("variant") == params["variant"]
          and r.get("domain") == params["domain"] and r.get("n")]
  if not recs:
    return None
  return (sum(int(round(r["hit_target"] * r["n"] / 100)) for r in recs),
          sum(int(r["n"]) for r in recs))


def _footnote(params, who, mark):
  del mark
  return (f"‡ A sanity check of the patch failed in {who} (per image below "
          f"universal, or network below image domain; "
          f"`mdr.patch_eval.checks`, recomputed from the stored records): "
          f"the {params['variant'].replace('_', ' ')} cell understates the "
          f"attack.")


def _describe(params_list, readings, names):
  """The patch columns' clause: side, share of the image, images."""
  del names
  images, side, share = set(), set(), set()
  pixels = params_list[0].get("image_pixels", 32 * 32)
  for reading in readings:
    patch = reading.file("patch")
    if not patch:
      continue
    if patch.get("n"):
      images.add(patch["n"])
    side.update(r["side"] for r in patch.get("records", []) if r.get("side"))
    share.update(r["pixels"] / pixels for r in patch.get("records", [])
                 if r.get("pixels"))
  if not images:
    return ""
  join = lambda s: "/".join(f"{x:,}" for x in sorted(s))
  sides = join(side)
  domains = {p["domain"] for p in params_list}
  values = ("with values in [0, 1]" if domains == {"image"} else
            "unconstrained (network domain)" if domains == {"network"} else
            "in the image and the network domain")
  name = attacks.get("lavan").symbol
  return (f"{name}: a {sides}×{sides} patch "
          f"({'/'.join(f'{x * 100:.1f}' for x in sorted(share))} % of the "
          f"image, the nearest square to {name}'s 2 %), {values}, per image "
          f"on the correctly classified of {join(images)} test images and "
          f"universal (one patch for a target class, at random positions), "
          f"its targeted success in % (lower is more robust)")


EVALUATOR = registry.register(registry.Evaluator(
    name="patch", run=run, check=check, stream=3,
    doc="LaVAN patches per image and universal, the seed's rates",
    fields=("attacks", "patch_ratio", "patch_images", "patch_steps",
            "patch_step_size", "patch_location", "patch_domains",
            "patch_loss", "patch_kappa", "patch_screen_steps", "patch_keep",
            "patch_restarts", "patch_random_candidates",
            "patch_sanity_steps", "patch_sanity_sides",
            "patch_universal_targets", "patch_universal_steps",
            "patch_transfer_workdirs", "tta"),
    files=("patch", "patch_examples"),
    table=registry.Table(
        key=lambda p: f"lavan_{p['variant']}",
        header=lambda p: (f"{attacks.get('lavan').symbol} "
                          f"{p['variant'].replace('_', ' ')}"),
        cell=_cell, describe=_describe, count=_count, footnote=_footnote)))
