"""The patch suite: LaVAN patches per image and universal, the seed's rates.

Per image: on a fixed subset of ``eval.patch_images`` test images, those the
model classifies correctly get a target class drawn uniformly among the
others and a patch of ``eval.patch_ratio`` of the image (5x5 on 32x32 at
0.02) at ``eval.patch_location`` (a corner, or random), trained for at most
``eval.patch_steps`` steps, per domain of ``eval.patch_domains``. Reported:
the share with p(target) >= 0.9, argmax = target, argmax != source, the mean
steps used, and the location test: the share of confident patches whose
prediction returns to the source class when the patch moves by one pixel.

Universal: one patch per target of ``eval.patch_universal_targets``, trained
on train images at random positions (``mdr.attacks.patch.universal``), then
pasted at random positions on the correctly classified test images of other
classes; the same three rates. Transfer: the same patches pasted on the test
images that each model of ``eval.patch_transfer_workdirs`` classifies
correctly (a variant ``universal → <run>``).

Writes ``patch.{json,md,png}`` and ``patch_examples.png`` (clean and patched
images with target and prediction).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from mdr import attacks
from mdr import masks
from mdr.attacks import patch as patch_lib

CONFIDENCE = 0.9
UNIVERSAL_TRAIN_IMAGES = 5000


def per_image(ec, logits_fn, xs, src, tgt, key, side, domain, steps=None):
  """Per-image patches at ``ec.patch_location``: ``(patches, locations,
  info)``. A corner or ``random`` trains at that one place
  (``patch_lib.train_patches``); ``search`` takes the best per image over
  the corners, the most salient window and random positions
  (``patch_lib.search``), and is never weaker than ``random``."""
  n, h, w = xs.shape[:3]
  kw = dict(side=side, steps=steps or ec.patch_steps,
            step_size=ec.patch_step_size,
            kappa=ec.patch_kappa, domain=domain, loss=ec.patch_loss)
  idx = jnp.arange(n)
  if ec.patch_location == "search":
    patches, locs, margins, found = patch_lib.search(
        logits_fn, xs, src, tgt, key, screen_steps=ec.patch_screen_steps,
        keep=ec.patch_keep, restarts=ec.patch_restarts,
        n_random=ec.patch_random_candidates, **kw)
    stage = np.asarray(found["stage"])
    cands = np.asarray(found["candidates"])
    at = (cands == np.asarray(locs)[:, None]).all(-1)
    kind = np.where(at[:, :4].any(1), "corner",
                    np.where(at[:, 4], "salient", "random"))
    info = dict(
        candidates=int(cands.shape[1]), screen_steps=ec.patch_screen_steps,
        keep=ec.patch_keep, restarts=ec.patch_restarts,
        steps_mean=float(np.mean(found["steps_spent"])),
        best_found_by={s: float(np.mean(stage == i) * 100) for i, s in
                       enumerate(("random location", "screen", "full budget"))},
        best_location={k: float(np.mean(kind == k) * 100)
                       for k in ("corner", "salient", "random")},
        # The search's first stage is location="random"'s run: its result.
        random_location_k=int(np.sum(np.asarray(found["random_margins"]) > 0)))
    return patches, locs, info
  # One place per image: as search's first stage for "random".
  k_rand = jax.random.fold_in(key, 0)
  if ec.patch_location == "random":
    locs = patch_lib.random_locations(jax.random.fold_in(k_rand, 1), n, side,
                                      h, w)
  else:
    locs = jnp.broadcast_to(jnp.asarray(patch_lib.corner(
        ec.patch_location, side, h, w)), (n, 2))
  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.fold_in(k_rand, 2),
                                               i))(idx)
  patches, _, used = patch_lib.train_patches(logits_fn, xs, src, tgt, locs,
                                             keys, **kw)
  return patches, locs, dict(steps_mean=float(jnp.mean(used)))


def _rates(logits, src, tgt):
  r = patch_lib.rates(logits, src, tgt, CONFIDENCE)
  return {k: float(jnp.mean(v) * 100) for k, v in r.items()}


def evaluate(config, logits_fn, test_images_u8, test_labels, train_images_u8,
             num_classes, key, transfer=None):
  """Runs the suite; returns ``(result dict, example arrays for the grid)``.

  ``transfer``: ``{name: logits_fn}`` of other models the universal patches
  are also pasted on (their own correctly classified test images).
  """
  ec = config.eval
  names = [a for a in ec.attacks if attacks.get(a).family == "patch"]
  x = jnp.asarray(test_images_u8, jnp.float32) / 255.0
  y = jnp.asarray(test_labels, jnp.int32)
  h, w = x.shape[1:3]
  side = int(masks.side(ec.patch_ratio, h, w))
  correct = np.asarray(jnp.argmax(logits_fn(x), -1) == y)
  xs, src = x[correct], y[correct]
  n = int(len(src))
  records, examples = [], None
  for name in names:
    spec = attacks.get(name)
    k = jax.random.fold_in(key, attacks.salt(name))
    tgt = patch_lib.draw_targets(jax.random.fold_in(k, 0), src, num_classes)
    for domain in ec.patch_domains:
      patches, locs, info = per_image(ec, logits_fn, xs, src, tgt,
                                      jax.random.fold_in(k, 1), side, domain)
      patched = patch_lib.paste_batch(xs, patches, locs)
      logits = logits_fn(patched)
      rec = dict(attack=name, variant="per_image", domain=domain,
                 location=ec.patch_location, side=side,
                 pixels=spec.pixels(ec.patch_ratio, h, w), n=n,
                 loss=ec.patch_loss, kappa=float(ec.patch_kappa),
                 steps=int(ec.patch_steps), **info,
                 **_rates(logits, src, tgt))
      ok = np.asarray(patch_lib.rates(logits, src, tgt,
                                      CONFIDENCE)["hit_target"])
      back = np.asarray(patch_lib.shift_test(logits_fn, xs, patches, locs,
                                             src))
      rec["shift_n"] = int(ok.sum())
      rec["shift_returns_to_source"] = (float(back[ok].mean() * 100)
                                        if ok.any() else None)
      records.append(rec)
      # The sanity runs: the same images, targets and keys at other step
      # budgets and patch sides (first domain only).
      extra = ([("steps", s, side) for s in ec.patch_sanity_steps]
               + [("side", ec.patch_steps, s) for s in ec.patch_sanity_sides]
               if domain == ec.patch_domains[0] else [])
      for what, s_steps, s_side in extra:
        p2, l2, _ = per_image(ec, logits_fn, xs, src, tgt,
                              jax.random.fold_in(k, 1), s_side, domain,
                              steps=s_steps)
        value = s_steps if what == "steps" else s_side
        records.append(dict(
            attack=name, variant=f"per_image ({what} {value})",
            domain=domain, sanity=what, location=ec.patch_location,
            side=s_side, pixels=s_side * s_side, n=n, steps=int(s_steps),
            **_rates(logits_fn(patch_lib.paste_batch(xs, p2, l2)), src,
                     tgt)))
      if examples is None and domain == "image":
        k_show = min(6, n)
        examples = dict(clean=np.asarray(xs[:k_show]),
                        patched=np.asarray(patched[:k_show]),
                        source=np.asarray(src[:k_show]),
                        target=np.asarray(tgt[:k_show]),
                        pred=np.asarray(jnp.argmax(logits[:k_show], -1)))
    if len(ec.patch_universal_targets):
      m = len(train_images_u8)
      pick = np.linspace(0, m - 1, min(m, UNIVERSAL_TRAIN_IMAGES)).astype(int)
      train = jnp.asarray(train_images_u8[pick], jnp.float32) / 255.0
    for t in ec.patch_universal_targets:
      keep = np.asarray(src != t)
      for domain in ec.patch_domains:
        kt = jax.random.fold_in(jax.random.fold_in(k, 3), int(t))
        p, steps = patch_lib.universal(
            logits_fn, train, int(t), kt, side=side,
            steps=ec.patch_universal_steps, batch=32,
            step_size=ec.patch_step_size / 5, confidence=CONFIDENCE,
            domain=domain)
        xe, se = xs[keep], src[keep]
        le = patch_lib.random_locations(jax.random.fold_in(kt, 1), len(se),
                                        side, h, w)
        pe = jnp.broadcast_to(p, (len(se),) + p.shape)
        te = jnp.full_like(se, int(t))
        logits = logits_fn(patch_lib.paste_batch(xe, pe, le))
        records.append(dict(
            attack=name, variant="universal", domain=domain,
            location="random", side=side, target=int(t),
            pixels=spec.pixels(ec.patch_ratio, h, w), n=int(len(se)),
            train_steps=int(steps), **_rates(logits, se, te)))
        for other, other_fn in (transfer or {}).items():
          ok = np.asarray((jnp.argmax(other_fn(x), -1) == y) & (y != t))
          xo, yo = x[ok], y[ok]
          lo = patch_lib.random_locations(jax.random.fold_in(kt, 2), len(yo),
                                          side, h, w)
          po = jnp.broadcast_to(p, (len(yo),) + p.shape)
          logits_o = other_fn(patch_lib.paste_batch(xo, po, lo))
          records.append(dict(
              attack=name, variant=f"universal → {os.path.basename(other.rstrip('/'))}",
              domain=domain, location="random", side=side, target=int(t),
              pixels=spec.pixels(ec.patch_ratio, h, w), n=int(len(yo)),
              train_steps=int(steps), transfer_to=other,
              **_rates(logits_o, yo, jnp.full_like(yo, int(t)))))
  found = checks(records)
  for c in found:
    if not c["passed"]:
      logging.warning("patch check FAILED: %s (%s): %s", c["check"],
                      c["domain"], c["detail"])
  return dict(records=records, n_correct=n, n=int(len(y)),
              confidence=CONFIDENCE, checks=found), examples


def checks(records):
  """The sanity checks of a patch evaluation's records (``passed``, a
  ``detail`` naming the numbers): per domain, the per-image patch's targeted
  success is not below the universal patch's mean (an optimiser working on
  each image should never lose to one patch for all); per variant, the
  network domain's is not below the image domain's (its box contains the
  image domain's); where ``eval.patch_sanity_steps`` / ``_sides`` ran, the
  per-image success does not fall as the steps or the patch side grow.
  Tolerance: one image of the smaller set."""
  out = []
  get = lambda v, d: [r for r in records
                      if r["variant"] == v and r["domain"] == d and r["n"]]
  mean = lambda rs: sum(r["hit_target"] for r in rs) / len(rs)
  tol = lambda rs: 100.0 / min(r["n"] for r in rs)
  for d in sorted({r["domain"] for r in records}):
    per, uni = get("per_image", d), get("universal", d)
    if per and uni:
      p, u = mean(per), mean(uni)
      out.append(dict(check="per_image_not_below_universal", domain=d,
                      passed=p + tol(per + uni) >= u,
                      detail=f"per image {p:.1f} %, universal {u:.1f} %"))
  for d in sorted({r["domain"] for r in records}):
    main = get("per_image", d)
    for what in ("steps", "side"):
      runs = [r for r in records if r.get("sanity") == what
              and r["domain"] == d and r["n"]]
      if not main or not runs:
        continue
      runs = sorted(runs + main[:1], key=lambda r: r[what])
      falls = [(a[what], b[what], a["hit_target"], b["hit_target"])
               for a, b in zip(runs, runs[1:])
               if b["hit_target"] + tol([a, b]) < a["hit_target"]]
      out.append(dict(
          check=f"not_falling_with_{what}", domain=d, passed=not falls,
          detail=", ".join(f"{what} {r[what]}: {r['hit_target']:.1f} %"
                           for r in runs)))
  for v in ("per_image", "universal"):
    img, net = get(v, "image"), get(v, "network")
    if img and net:
      a, b = mean(img), mean(net)
      out.append(dict(check="network_not_below_image", domain=v,
                      passed=b + tol(img + net) >= a,
                      detail=f"{v}: network {b:.1f} %, image {a:.1f} %"))
  return out


def markdown(result, title, class_names=None) -> str:
  del class_names
  lines = [f"# Adversarial patches: {title}", "",
           f"LaVAN patches on {result['n_correct']} correctly classified test "
           f"images (of {result['n']}). Rates in %: p(target) >= "
           f"{result['confidence']}, argmax = target, argmax != source; the "
           "location test moves each successful (argmax = target) per-image "
           "patch by one pixel and counts predictions that return to the "
           "source class.", "",
           "| attack | variant | domain | location | side (px) | n | "
           "p(target) ≥ 0.9 | argmax = target | argmax ≠ source | "
           "returns to source after 1-px shift | steps |",
           "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
  searched = []
  for r in result["records"]:
    shift = r.get("shift_returns_to_source")
    shift = "—" if shift is None else f"{shift:.1f} (of {r['shift_n']})"
    steps = (f"{r['steps_mean']:.1f} (mean)" if "steps_mean" in r else
             f"{r['train_steps']} (train)" if "train_steps" in r else
             f"{r['steps']} (budget)")
    variant = r["variant"] + (f", target {r['target']}" if "target" in r
                              else "")
    if "best_found_by" in r:
      searched.append(
          f"- {r['domain']} domain: {r['candidates']} candidate locations "
          f"per image ({r['screen_steps']}-step screen at each, "
          f"{r['steps']} steps x {r['restarts']} restarts at the best "
          f"{r['keep']}, plus one random location at {r['steps']} steps); "
          "best patch found by " + ", ".join(
              f"{k} {v:.0f} %" for k, v in r["best_found_by"].items())
          + "; at " + ", ".join(f"{k} {v:.0f} %"
                                for k, v in r["best_location"].items())
          + f"; loss {r['loss']}, stop at a target margin > {r['kappa']:g}.")
    lines.append(
        f"| {attacks.get(r['attack']).display} | {variant} | {r['domain']} | "
        f"{r['location']} | {r['side']} | {r['n']} | {r['confident']:.1f} | "
        f"{r['hit_target']:.1f} | {r['not_source']:.1f} | {shift} | "
        f"{steps} |")
  if searched:
    lines += ["", "Location search (per image):", *searched]
  return "\n".join(lines) + "\n"


def plot(result, path, title):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(6.4, 4.0), dpi=120)
  ax = fig.subplots()
  recs = result["records"]
  labels = [f"{r['variant']}\n{r['domain']}" + (f"\nt={r['target']}"
                                                 if "target" in r else "")
            for r in recs]
  xs = np.arange(len(recs))
  for j, (key, name) in enumerate((("confident", "p(target) ≥ 0.9"),
                                   ("hit_target", "argmax = target"),
                                   ("not_source", "argmax ≠ source"))):
    ax.bar(xs + (j - 1) * 0.27, [r[key] for r in recs], 0.27, label=name)
  ax.set_xticks(xs, labels, fontsize=7)
  ax.set_ylabel("% of correctly classified images")
  ax.set_ylim(0, 100)
  ax.set_title(f"LaVAN patches: {title}", fontsize=9)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path)


def plot_examples(examples, path, class_names):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  k = len(examples["source"])
  fig = Figure(figsize=(1.6 * k, 3.6), dpi=120)
  axes = fig.subplots(2, k, squeeze=False)
  name = lambda i: class_names[i] if class_names else str(i)
  for i in range(k):
    axes[0, i].imshow(np.clip(examples["clean"][i], 0, 1))
    axes[0, i].set_title(f"clean: {name(examples['source'][i])}", fontsize=7)
    axes[1, i].imshow(np.clip(examples["patched"][i], 0, 1))
    axes[1, i].set_title(f"target {name(examples['target'][i])}\npred "
                         f"{name(examples['pred'][i])}", fontsize=7)
    for a in axes[:, i]:
      a.axis("off")
  fig.tight_layout()
  fig.savefig(path)


def write(out, result, examples, title, class_names):
  from mdr import report  # pylint: disable=g-import-not-at-top
  report.write_json(os.path.join(out, "patch.json"), result)
  with open(os.path.join(out, "patch.md"), "w") as f:
    f.write(markdown(result, title))
  if result["records"]:
    plot(result, os.path.join(out, "patch.png"), title)
  if examples is not None:
    plot_examples(examples, os.path.join(out, "patch_examples.png"),
                  class_names)
