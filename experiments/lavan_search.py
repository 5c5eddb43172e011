r"""Per-image LaVAN with the location searched, against one corner, one random
location and universal patches, on the same correctly classified images.

  python -m experiments.lavan_search \
      --weights=experiments/weights/cifar10_cpu/clean/seed0.msgpack \
      --data=../shared/data/cifar10-jpeg.zip --images=260 --steps=300

On a fixed subset of ``--images`` test images (``mdr.data.subsample``), the
correctly classified ones get a target drawn uniformly among the other
classes. Per domain (image: patch in [0, 1]; network: unconstrained) and per
location: ``bottom_right`` (the corner the matrix used), ``random`` (one
uniform position per image) and ``search`` (``mdr.attacks.patch.search``:
the best per image over the corners, the most salient window and random
positions; its first stage is exactly the ``random`` run, reported from the
same call). Universal: one patch per target class (image domain, trained on
train images at random positions), pasted at a random position on the
images whose drawn target is that class. Success = argmax is the target;
each rate with its 95 % Wilson interval. The sanity flags: search >= random,
search >= the corner, search >= universal, network >= image (search).

Writes ``experiments/results/lavan_search/<name>/`` with ``run.json``
(written at the start, completed at the end), ``lavan.json`` and
``lavan.md``.
"""

import argparse
import json
import os
import sys
import time
import types

import jax
import jax.numpy as jnp
import numpy as np

from experiments import provenance

from mdr import data as data_lib  # noqa: E402
from mdr import intervals  # noqa: E402
from mdr import masks  # noqa: E402
from mdr import patch_eval  # noqa: E402
from mdr import weights  # noqa: E402
from mdr.attacks import patch as patch_lib  # noqa: E402

RESULTS = os.path.join(provenance.REPO, "experiments", "results",
                       "lavan_search")


def _rate(ok):
  ok = np.asarray(ok, bool)
  lo, hi = intervals.wilson(int(ok.sum()), len(ok))
  return dict(success=float(ok.mean() * 100), k=int(ok.sum()), n=len(ok),
              ci95=[lo * 100, hi * 100])


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--weights", required=True)
  p.add_argument("--data", default=os.path.join(
      os.path.dirname(provenance.REPO), "shared", "data", "cifar10-jpeg.zip"),
                 help="image folder or zip, or 'stored': the stored model's "
                 "own data config")
  p.add_argument("--name", default=None, help="results folder name")
  p.add_argument("--images", type=int, default=260)
  p.add_argument("--patch_ratio", type=float, default=0.02)
  p.add_argument("--steps", type=int, default=300)
  p.add_argument("--step_size", type=float, default=0.05)
  p.add_argument("--screen_steps", type=int, default=50)
  p.add_argument("--keep", type=int, default=2)
  p.add_argument("--restarts", type=int, default=1)
  p.add_argument("--random_candidates", type=int, default=4)
  p.add_argument("--universal_steps", type=int, default=500)
  p.add_argument("--domains", default="image,network")
  a = p.parse_args()
  name = a.name or os.path.splitext(os.path.relpath(
      os.path.abspath(a.weights), os.path.join(provenance.REPO, "experiments",
                                               "weights")))[0].replace(
                                                   os.sep, "_")
  out = os.path.join(RESULTS, name)
  os.makedirs(out, exist_ok=True)
  commit, dirty = provenance.git_commit()
  run = dict(command="python -m experiments.lavan_search " + " ".join(
      sys.argv[1:]), commit=commit, code_dirty=dirty, status="running",
             started=time.strftime("%Y-%m-%dT%H:%M:%S"),
             load_avg_1min_start=round(os.getloadavg()[0], 2),
             machine=provenance.machine())
  provenance.write_json(os.path.join(out, "run.json"), run)
  t_start = time.time()

  stored = weights.load(a.weights)
  logits_fn = stored.logits_fn
  ds = (data_lib.load(stored.config.data) if a.data == "stored"
        else data_lib.image_folder(a.data))
  idx = data_lib.subsample(len(ds.test.labels), a.images)
  x = jnp.asarray(ds.test.images[idx], jnp.float32) / 255
  y = jnp.asarray(ds.test.labels[idx], jnp.int32)
  correct = np.asarray(jnp.argmax(logits_fn(x), -1) == y)
  xs, src = x[correct], y[correct]
  n = int(len(src))
  h, w = x.shape[1:3]
  side = int(masks.side(a.patch_ratio, h, w))
  key = jax.random.key(0)
  tgt = patch_lib.draw_targets(jax.random.fold_in(key, 0), src,
                               ds.num_classes)
  print(f"{n} correctly classified of {len(y)}; patch {side}x{side} "
        f"({side * side / (h * w) * 100:.2f} % of the image)", flush=True)
  base = dict(patch_steps=a.steps, patch_step_size=a.step_size,
              patch_kappa=0.0, patch_loss="logit_diff",
              patch_screen_steps=a.screen_steps, patch_keep=a.keep,
              patch_restarts=a.restarts,
              patch_random_candidates=a.random_candidates)
  records = []
  hit = lambda p_, l_: np.asarray(jnp.argmax(logits_fn(
      patch_lib.paste_batch(xs, p_, l_)), -1) == tgt)
  for domain in a.domains.split(","):
    for location in ("bottom_right", "search"):
      t = time.perf_counter()
      ec = types.SimpleNamespace(patch_location=location, **base)
      patches, locs, info = patch_eval.per_image(
          ec, logits_fn, xs, src, tgt, jax.random.fold_in(key, 1), side,
          domain)
      ok = hit(patches, locs)
      seconds = time.perf_counter() - t
      records.append(dict(domain=domain, location=location, **_rate(ok),
                          seconds=round(seconds, 1), **info))
      print(records[-1], flush=True)
    # location="random": the search's first stage is exactly its run (same
    # function, keys and batch), so its count comes from the same call.
    k = records[-1]["random_location_k"]
    lo, hi = intervals.wilson(k, n)
    records.append(dict(domain=domain, location="random", success=k / n * 100,
                        k=k, n=n, ci95=[lo * 100, hi * 100],
                        seconds="(in search)"))
  # Universal patches (image domain), one per target class present.
  t = time.perf_counter()
  m = len(ds.train.images)
  pick = np.linspace(0, m - 1, min(m, patch_eval.UNIVERSAL_TRAIN_IMAGES)
                     ).astype(int)
  train = jnp.asarray(ds.train.images[pick], jnp.float32) / 255
  uni_ok = np.zeros(n, bool)
  tg = np.asarray(tgt)
  for c in sorted(set(tg.tolist())):
    kc = jax.random.fold_in(jax.random.fold_in(key, 2), c)
    patch, _ = patch_lib.universal(logits_fn, train, c, kc, side=side,
                                   steps=a.universal_steps, batch=32,
                                   step_size=a.step_size / 5, domain="image")
    sel = np.nonzero(tg == c)[0]
    locs = patch_lib.random_locations(jax.random.fold_in(kc, 1), len(sel),
                                      side, h, w)
    pe = jnp.broadcast_to(patch, (len(sel),) + patch.shape)
    pred = jnp.argmax(logits_fn(patch_lib.paste_batch(xs[sel], pe, locs)), -1)
    uni_ok[sel] = np.asarray(pred == c)
  records.append(dict(domain="image", location="universal (random position)",
                      **_rate(uni_ok), seconds=round(time.perf_counter() - t,
                                                     1)))
  print(records[-1], flush=True)

  get = lambda d, l: next((r for r in records if r["domain"] == d
                           and r["location"] == l), None)
  flags = []
  for d in a.domains.split(","):
    s = get(d, "search")
    for other in ("random", "bottom_right"):
      flags.append(dict(check=f"search >= {other} ({d})",
                        passed=bool(s["k"] >= get(d, other)["k"])))
  flags.append(dict(check="search (image) >= universal",
                    passed=bool(get("image", "search")["k"] >= uni_ok.sum())))
  if get("network", "search"):
    flags.append(dict(check="network >= image (search)",
                      passed=bool(get("network", "search")["k"]
                                  >= get("image", "search")["k"])))
  result = dict(weights=os.path.relpath(os.path.abspath(a.weights),
                                        provenance.REPO),
                sha256=stored.sha256, images=len(y), n_correct=n, side=side,
                settings=vars(a), records=records, flags=flags)
  provenance.write_json(os.path.join(out, "lavan.json"), result)
  lines = [
      f"# LaVAN per image: where the patch goes ({name})", "",
      f"Generated by `{run['command']}`. {n} correctly classified of "
      f"{len(y)} test images (a fixed subset), a target per image drawn "
      f"among the other classes; a {side}x{side} patch "
      f"({side * side / (h * w) * 100:.2f} % of the image), signed-gradient "
      f"steps of {a.step_size} on logit_target - logit_source, stopping at "
      f"argmax = target, best iterate kept, {a.steps} steps. Search: "
      f"{4 + 1 + a.random_candidates} candidates per image (4 corners, the "
      f"most salient window, {a.random_candidates} random), a "
      f"{a.screen_steps}-step screen at each, {a.steps} steps x "
      f"{a.restarts} restart(s) at the best {a.keep}, and the random "
      "location's run. Success: argmax = target, with its 95 % Wilson "
      "interval.", "",
      "| domain | location | success % | 95 % interval | k / n | seconds |",
      "|---|---|---:|---|---:|---:|"]
  for r in records:
    lines.append(f"| {r['domain']} | {r['location']} | {r['success']:.1f} | "
                 f"[{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}] | "
                 f"{r['k']} / {r['n']} | {r['seconds']} |")
  lines += ["", "Sanity checks:", ""] + [
      f"- {f['check']}: {'passed' if f['passed'] else 'FAILED'}"
      for f in flags]
  for r in records:
    if "best_found_by" in r:
      lines.append(f"- {r['domain']} search: best patch found by " + ", ".join(
          f"{k} {v:.0f} %" for k, v in r["best_found_by"].items())
                   + "; at " + ", ".join(f"{k} {v:.0f} %" for k, v in
                                         r["best_location"].items()))
  with open(os.path.join(out, "lavan.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  run.update(status="done", wall_s=round(time.time() - t_start, 1),
             load_avg_1min_end=round(os.getloadavg()[0], 2),
             finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
  provenance.write_json(os.path.join(out, "run.json"), run)


if __name__ == "__main__":
  main()
