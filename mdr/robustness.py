"""The robustness suite: accuracy under the gradient attacks of
``config.eval.attacks`` over an ε sweep, and the sanity checks of careful
robustness evaluation.

For each gradient attack (``family == "gradient"`` in ``mdr.attacks``) and
each ε of ``eval.pgd_eps`` (in /255): top-1 accuracy on a fixed subset of
``eval.robust_images`` test images, iterative attacks with
``eval.pgd_steps`` steps; random attacks averaged over ``eval.draws`` draws
(mean and sample std). The model is attacked in inference mode, with the
evaluation's TTA. Iterative attacks are also run with the margin loss at
8/255, with twice the steps at 8/255, and at ε = 0.5.

Checks, written into the JSON and logged as warnings when they fail:
``monotone_in_eps`` (accuracy never rises with ε; iterative attacks only: one
signed step can raise the loss without flipping the argmax, so a single-step
attack's accuracy may rise with ε without a fault), ``more_steps_never_help``
(twice the steps never raise accuracy), ``converged`` (twice the steps lower
it by at most CONVERGED_POINTS: else the attack had not converged),
``large_eps_reaches_zero`` (≤ 1 % at ε = 0.5 for every model, defended or
not: in ℓ∞ at 0.5 any image can be turned into any other), and
``iterative_not_weaker`` (each iterative attack is at least as strong as
each single-step one at every ε). A tolerance of half a point (or one image
where n < 200) absorbs random-start noise.

The ``pgd_strong`` suite (:func:`strong`) is the stronger white-box check of
robust models: ℓ∞ PGD with ``eval.strong_steps`` steps (step 2.5·ε/steps)
and ``eval.strong_restarts`` random restarts at ε = ``eval.strong_eps``/255,
with each loss of ``eval.strong_losses`` (cross-entropy and the margin loss
by default), on a fixed subset of ``eval.strong_images`` test images. An
image counts as robust only if no loss × restart fools the model (the worst
case per image; each loss's own accuracy is reported beside it). Each image's random starts come from its own key
(the suite key folded with the image's index), so the result does not
depend on the batch size or the device count.
"""

from __future__ import annotations

import functools
import os
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from mdr import attacks
from mdr import batches

CHECK_EPS = 8 / 255
LARGE_EPS = 0.5
CONVERGED_POINTS = 1.0   # doubling the steps may lower accuracy this much


def accuracy_under(model, variables, images, labels, spec, eps_list, steps,
                   loss, key, draws, batch, tta_wrap):
  """Accuracy (%) ``[draws, len(eps_list)]`` of the model under ``spec``."""
  n = int(labels.shape[0])

  @functools.partial(jax.jit, static_argnames=("size",))
  def correct(variables, images, labels, eps, draw, start, size):
    x, y, _, valid = batches.padded_batch(images, labels, start, size, n)
    logits_fn = tta_wrap(lambda z: model.apply(variables, z, train=False))
    k = jax.random.fold_in(jax.random.fold_in(key, draw), start)
    adv = spec.perturb(logits_fn, x, y, k, eps, steps, loss)
    return jnp.sum((jnp.argmax(logits_fn(adv), -1) == y) & valid)

  out = np.zeros((draws, len(eps_list)))
  for d in range(draws):
    for j, eps in enumerate(eps_list):
      total = batches.count_over_batches(
          correct, n, batch, variables, images, labels, jnp.float32(eps), d)
      out[d, j] = int(total) / n * 100
  return out


def _record(attack, eps, acc, n, steps, loss, kind="sweep"):
  return dict(attack=attack, eps=float(eps), accuracy=float(acc.mean()),
              std=float(acc.std(ddof=1)) if len(acc) > 1 else 0.0, n=n,
              steps=steps, loss=loss, kind=kind)


def checks(records, n):
  """The sanity checks over the records (see the module docstring)."""
  tol = max(0.5, 100.0 / n) if n and n < 200 else 0.5
  out = []
  sweep = [r for r in records if r["kind"] == "sweep" and r["loss"] == "ce"]
  by_attack = {}
  for r in sweep:
    by_attack.setdefault(r["attack"], []).append(r)
  for a, rs in by_attack.items():
    if not attacks.get(a).iterative:
      continue   # one step may raise the loss without flipping the argmax
    rs = sorted(rs, key=lambda r: r["eps"])
    rises = [(p["eps"], q["eps"], q["accuracy"] - p["accuracy"])
             for p, q in zip(rs, rs[1:]) if q["accuracy"] > p["accuracy"] + tol]
    out.append(dict(check="monotone_in_eps", attack=a, passed=not rises,
                    detail=("accuracy never rises with ε" if not rises else
                            "rises: " + ", ".join(
                                f"{e0 * 255:g}→{e1 * 255:g}/255 +{d:.2f}"
                                for e0, e1, d in rises))))
  for r2 in (r for r in records if r["kind"] == "more_steps"):
    base = [r for r in sweep if r["attack"] == r2["attack"] and
            abs(r["eps"] - r2["eps"]) < 1e-9]
    if base:
      ok = r2["accuracy"] <= base[0]["accuracy"] + tol
      detail = (f"{base[0]['steps']} steps {base[0]['accuracy']:.2f} %, "
                f"{r2['steps']} steps {r2['accuracy']:.2f} %")
      out.append(dict(check="more_steps_never_help", attack=r2["attack"],
                      passed=ok, detail=detail))
      drop = base[0]["accuracy"] - r2["accuracy"]
      out.append(dict(check="converged", attack=r2["attack"],
                      passed=drop <= CONVERGED_POINTS, detail=(
                          detail + f": {abs(drop):.2f} points "
                          f"{'lower' if drop >= 0 else 'higher'} with twice "
                          f"the steps (at most {CONVERGED_POINTS:g} lower)")))
  for r in (r for r in records if r["kind"] == "large_eps"):
    out.append(dict(check="large_eps_reaches_zero", attack=r["attack"],
                    passed=r["accuracy"] <= 1.0,
                    detail=f"{r['accuracy']:.2f} % at ε = {r['eps']:g}"))
  single = [a for a in by_attack
            if not attacks.get(a).iterative]
  multi = [a for a in by_attack if attacks.get(a).iterative]
  for m in multi:
    for s in single:
      worse = [(r["eps"], r["accuracy"], q["accuracy"])
               for r in by_attack[m] for q in by_attack[s]
               if abs(r["eps"] - q["eps"]) < 1e-9 and
               r["accuracy"] > q["accuracy"] + tol]
      out.append(dict(check="iterative_not_weaker", attack=f"{m} vs {s}",
                      passed=not worse, detail=(
                          "never weaker" if not worse else "weaker at " +
                          ", ".join(f"{e * 255:g}/255 ({a:.2f} vs {b:.2f})"
                                    for e, a, b in worse))))
  return out


def evaluate(config, model, variables, images, labels, key, batch,
             tta_wrap):
  """Runs the suite; returns ``{"records": [...], "checks": [...]}``."""
  ec = config.eval
  names = [a for a in ec.attacks if attacks.get(a).family == "gradient"]
  n = int(labels.shape[0])
  eps_list = [e / 255 for e in ec.pgd_eps]
  records = []
  for a in names:
    spec = attacks.get(a)
    draws = ec.draws if spec.random else 1
    t = time.perf_counter()
    salt = jax.random.fold_in(key, attacks.salt(a))
    run = functools.partial(accuracy_under, model, variables, images, labels,
                            spec, key=salt, draws=draws, batch=batch,
                            tta_wrap=tta_wrap)
    steps = ec.pgd_steps if spec.iterative else 1
    acc = run(eps_list, steps, "ce")
    records += [_record(a, e, acc[:, j], n, steps, "ce")
                for j, e in enumerate(eps_list)]
    if spec.iterative:
      acc = run([CHECK_EPS], steps, "margin")
      records.append(_record(a, CHECK_EPS, acc[:, 0], n, steps, "margin"))
      acc = run([CHECK_EPS], 2 * steps, "ce")
      records.append(_record(a, CHECK_EPS, acc[:, 0], n, 2 * steps, "ce",
                             "more_steps"))
      acc = run([LARGE_EPS], steps, "ce")
      records.append(_record(a, LARGE_EPS, acc[:, 0], n, steps, "ce",
                             "large_eps"))
    logging.info("robustness %s on %d images: %.1f s", a, n,
                 time.perf_counter() - t)
  found = checks(records, n)
  for c in found:
    if not c["passed"]:
      logging.warning("robustness check FAILED: %s (%s): %s", c["check"],
                      c["attack"], c["detail"])
  return dict(records=records, checks=found, n=n)


def markdown(result, title) -> str:
  recs = [r for r in result["records"] if r["kind"] == "sweep" and
          r["loss"] == "ce"]
  names = list(dict.fromkeys(r["attack"] for r in recs))
  eps = sorted({r["eps"] for r in recs})
  at = {(r["attack"], r["eps"]): r for r in recs}
  cell = lambda r: (f"{r['accuracy']:.2f}" if r["std"] == 0 else
                    f"{r['accuracy']:.2f} ± {r['std']:.2f}")
  lines = [f"# Robustness: {title}", "",
           f"Top-1 accuracy (%) on {result['n']} test images under white-box "
           "gradient attacks (inference mode); ± = std over random-start "
           "draws.", "",
           "| ε (/255) | " + " | ".join(
               f"{attacks.get(a).display}"
               + (f"-{at[(a, eps[0])]['steps']}" if attacks.get(a).iterative
                  else "") for a in names) + " |",
           "|---" * (len(names) + 1) + "|"]
  for e in eps:
    lines.append(f"| {e * 255:g} | " + " | ".join(
        cell(at[(a, e)]) if (a, e) in at else "" for a in names) + " |")
  extra = [r for r in result["records"] if r not in recs]
  if extra:
    lines += ["", "| attack | ε (/255) | steps | loss | accuracy |",
              "|---|---:|---:|---|---:|"]
    for r in extra:
      lines.append(f"| {attacks.get(r['attack']).display} | "
                   f"{r['eps'] * 255:g} | {r['steps']} | {r['loss']} | "
                   f"{cell(r)} |")
  lines += ["", "Sanity checks:", ""]
  for c in result["checks"]:
    lines.append(f"- {'passed' if c['passed'] else '**FAILED**'}: "
                 f"{c['check']} ({c['attack']}): {c['detail']}")
  return "\n".join(lines) + "\n"


def plot(result, path, title):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(6.4, 4.4), dpi=120)
  ax = fig.subplots()
  recs = [r for r in result["records"] if r["kind"] == "sweep" and
          r["loss"] == "ce"]
  for a in dict.fromkeys(r["attack"] for r in recs):
    rs = sorted((r for r in recs if r["attack"] == a), key=lambda r: r["eps"])
    spec = attacks.get(a)
    ax.errorbar([r["eps"] * 255 for r in rs], [r["accuracy"] for r in rs],
                yerr=[r["std"] for r in rs], marker="o", ms=3, capsize=2,
                color=spec.color, label=spec.display)
  ax.set_xlabel("ε (/255, ℓ∞)")
  ax.set_ylabel("top-1 accuracy (%)")
  ax.set_ylim(0, 100)
  ax.grid(alpha=0.3)
  ax.set_title(f"Gradient attacks: {title}")
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path)


def write(out, result, title):
  from mdr import report  # pylint: disable=g-import-not-at-top
  report.write_json(os.path.join(out, "robustness.json"), result)
  with open(os.path.join(out, "robustness.md"), "w") as f:
    f.write(markdown(result, title))
  plot(result, os.path.join(out, "robustness.png"), title)


def strong(config, model, variables, images, labels, key, batch, tta_wrap):
  """The ``pgd_strong`` suite on ``images``/``labels`` (see the docstring).

  Returns ``{"attack": "pgd", "norm": "linf", "eps", "step_size", "steps",
  "restarts", "loss", "losses", "by_loss", "n", "robust", "accuracy",
  "clean_accuracy", "seconds"}``: ``accuracy`` the worst case per image over
  ``losses`` × restarts (``robust`` images of ``n``), ``by_loss`` each
  loss's own accuracy; accuracies in percent on the same ``n`` images,
  ``eps`` and ``step_size`` in [0, 1] pixel units. Batches of ``batch`` (the last one padded, then
  masked); one compilation for all batches.
  """
  ec = config.eval
  n = int(labels.shape[0])
  steps, restarts = int(ec.strong_steps), int(ec.strong_restarts)
  losses = tuple(ec.strong_losses)
  eps = float(ec.strong_eps) / 255
  t = time.perf_counter()

  @functools.partial(jax.jit, static_argnames=("size",))
  def correct(variables, images, labels, eps, start, size):
    x, y, idx, valid = batches.padded_batch(images, labels, start, size, n)
    logits_fn = tta_wrap(lambda z: model.apply(variables, z, train=False))

    def one(xi, yi, i, loss):   # one image (a batch of 1) with its own key
      # The first loss keeps the key of the CE-only suite before it.
      k = jax.random.fold_in(key, i)
      if loss != losses[0]:
        k = jax.random.fold_in(k, attacks.salt(loss))
      return attacks.pgd(logits_fn, xi[None], yi[None], k,
                         eps=eps, step_size=2.5 * eps / steps, steps=steps,
                         restarts=restarts, loss=loss)[0]

    clean = (jnp.argmax(logits_fn(x), -1) == y) & valid
    per_loss = []
    for loss in losses:
      adv = jax.vmap(lambda a, b, c, l=loss: one(a, b, c, l))(x, y, idx)
      per_loss.append((jnp.argmax(logits_fn(adv), -1) == y) & valid)
    worst = functools.reduce(jnp.logical_and, per_loss)
    return (jnp.sum(clean), jnp.sum(worst),
            *(jnp.sum(r) for r in per_loss))

  clean_total, robust_total, *by_loss = (
      int(c) for c in batches.count_over_batches(
          correct, n, batch, variables, images, labels, jnp.float32(eps)))
  result = dict(attack="pgd", norm="linf", eps=eps,
                step_size=2.5 * eps / steps, steps=steps, restarts=restarts,
                loss=losses[0] if len(losses) == 1 else
                "worst of " + ", ".join(losses), losses=list(losses),
                by_loss={l: k / n * 100 for l, k in zip(losses, by_loss)},
                n=n, robust=robust_total, accuracy=robust_total / n * 100,
                clean_accuracy=clean_total / n * 100,
                seconds=time.perf_counter() - t)
  logging.info("pgd_strong: PGD-%d x %d restarts x %s at %g/255 on %d "
               "images: %.2f %% (clean %.2f %%), %.1f s", steps, restarts,
               "/".join(losses), eps * 255, n, result["accuracy"],
               result["clean_accuracy"], result["seconds"])
  return result


def strong_markdown(result, title) -> str:
  return "\n".join([
      f"# Strong PGD: {title}", "",
      f"ℓ∞ PGD-{result['steps']} (step 2.5·ε/steps, loss "
      f"{' and '.join(result.get('losses', [result['loss']]))}) with "
      f"{result['restarts']} random restarts each, the model in inference "
      "mode; an image counts as robust only if no loss × restart fools it. "
      "Accuracies (%) on the same fixed subset of test images.", "",
      "| images | ε (/255) | steps | restarts | clean accuracy | " +
      "".join(f"{l} only | " for l in result.get("by_loss", {})) +
      "robust accuracy (worst case) |",
      "|---:|---:|---:|---:|---:|" + "---:|" * len(result.get("by_loss", {}))
      + "---:|",
      f"| {result['n']} | {result['eps'] * 255:g} | {result['steps']} | "
      f"{result['restarts']} | {result['clean_accuracy']:.2f} | " +
      "".join(f"{v:.2f} | " for v in result.get("by_loss", {}).values()) +
      f"{result['accuracy']:.2f} |"]) + "\n"


def write_strong(out, result, title):
  """Writes ``pgd_strong.json`` and ``pgd_strong.md`` into ``out``."""
  from mdr import report  # pylint: disable=g-import-not-at-top
  report.write_json(os.path.join(out, "pgd_strong.json"), result)
  with open(os.path.join(out, "pgd_strong.md"), "w") as f:
    f.write(strong_markdown(result, title))
