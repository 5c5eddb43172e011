r"""Black-box transfer attacks: a source x target matrix (Random Mask protocol).

The protocol of the Random Mask paper (arXiv 2007.14249, code
tiangeluo/DefectiveCNN): adversarial examples are crafted on a *source*
model, saved as 8-bit images (here: rounded to uint8, as the reference saves
PNGs) and shown to a *target* model. For each (setting, source, target):

- ``kept``: the images that fooled the source (its prediction on the rounded
  adversarial image is wrong) **and** that the target classifies correctly
  when clean;
- ``accuracy``: the target's accuracy on the adversarial versions of the kept
  images (higher = more robust to the transfer);
- ``follow``: the share of kept images where the target predicts the
  source's adversarial label (the attack transferred as such).

Settings (:data:`SETTINGS`, ε and steps in /255 pixel units, no random
start): ``pgd16`` (ε 16, step 1, 20 steps: the main setting), ``fgsm16``,
``fgsm8`` and ``pgd8`` (ε 8, step 2, 7 steps).

Each source's adversarial images are crafted once and shown to every
target. As an evaluation suite (``"transfer"`` in ``config.eval.suites``)
the targets are the evaluated model and the sources themselves; the whole
matrix over trained runs is one command::

  python -m mdr.transfer --sources=wd_a,wd_b --targets=wd_c,wd_d \
      --data=../shared/data/cifar10-jpeg.zip --out=results/transfer

Writes ``transfer.json`` (records and settings) and ``transfer.md`` (one
matrix per setting).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from mdr import attacks
from mdr import report


@dataclasses.dataclass(frozen=True)
class Setting:
  """One way of crafting transferred examples (ε, step in /255 units)."""
  name: str
  attack: str          # a gradient attack of mdr.attacks: "pgd" | "fgsm"
  eps: float
  step: float
  steps: int
  display: str


SETTINGS = {s.name: s for s in (
    Setting("pgd16", "pgd", 16, 1, 20, "PGD-20 ε=16 step 1"),
    Setting("fgsm16", "fgsm", 16, 16, 1, "FGSM ε=16"),
    Setting("fgsm8", "fgsm", 8, 8, 1, "FGSM ε=8"),
    Setting("pgd8", "pgd", 8, 2, 7, "PGD-7 ε=8 step 2"),
)}


def to_uint8(images: jax.Array) -> jax.Array:
  """Images in [0, 1] rounded to 8 bits, as a saved PNG holds them."""
  return jnp.round(jnp.clip(images, 0.0, 1.0) * 255.0).astype(jnp.uint8)


def make_crafter(model, setting: Setting):
  """jitted ``(variables, images_u8 [B,H,W,C], labels [B]) -> (adv_u8,
  pred_on_adv)`` for a source ``model`` (inference mode).

  No random start; the adversarial images are rounded to uint8 before the
  source's own prediction on them is taken.
  """
  eps, step = setting.eps / 255.0, setting.step / 255.0

  @jax.jit
  def craft(variables, images_u8, labels):
    logits_fn = functools.partial(_inference, model, variables)
    x = images_u8.astype(jnp.float32) / 255.0
    adv = attacks.gradient.pgd(logits_fn, x, labels, jax.random.key(0),
                               eps=eps, step_size=step, steps=setting.steps,
                               random_start=False)
    adv_u8 = to_uint8(adv)
    return adv_u8, jnp.argmax(logits_fn(adv_u8.astype(jnp.float32) / 255.0),
                              -1)

  return craft


def make_predict(model):
  """jitted ``(variables, images_u8) -> argmax predictions``."""
  return jax.jit(lambda variables, u8: jnp.argmax(
      _inference(model, variables, u8.astype(jnp.float32) / 255.0), -1))


def _inference(model, variables, x):
  return model.apply(variables, x, train=False)


def _batched(fn, arrays, batch, *static):
  """``fn(*static, *batch_parts)`` over consecutive batches of ``arrays``
  (the last one padded), concatenated."""
  n = len(arrays[0])
  outs = []
  for s in range(0, n, batch):
    part = [a[s:s + batch] for a in arrays]
    short = batch - len(part[0])
    if short:
      part = [np.concatenate([p, np.repeat(p[-1:], short, 0)]) for p in part]
    out = fn(*static, *part)
    out = out if isinstance(out, tuple) else (out,)
    outs.append([np.asarray(o)[:batch - short] for o in out])
  return [np.concatenate(c) for c in zip(*outs)]


def metric(labels, source_adv_pred, target_clean_pred, target_adv_pred):
  """The transfer counts of one (source, target) pair (numpy arrays [N]).

  Returns ``{"n", "source_fooled", "kept", "accuracy", "follow"}``;
  ``accuracy`` and ``follow`` in percent of ``kept`` (NaN if none kept).
  """
  labels = np.asarray(labels)
  fooled = np.asarray(source_adv_pred) != labels
  kept = fooled & (np.asarray(target_clean_pred) == labels)
  k = int(kept.sum())
  adv = np.asarray(target_adv_pred)[kept]
  return dict(
      n=int(len(labels)), source_fooled=int(fooled.sum()), kept=k,
      accuracy=float((adv == labels[kept]).mean() * 100) if k else float("nan"),
      follow=float((adv == np.asarray(source_adv_pred)[kept]).mean() * 100)
      if k else float("nan"))


def matrix(sources: dict, targets: dict, images_u8: np.ndarray,
           labels: np.ndarray, settings=tuple(SETTINGS), batch: int = 500):
  """Records of every (setting, source, target).

  ``sources`` / ``targets``: ``{name: (model, variables)}`` (flax modules
  taking images in [0, 1], run in inference mode). Each source's examples
  are crafted once per setting and shown to every target.
  """
  labels = np.asarray(labels, np.int32)
  images_u8 = np.asarray(images_u8, np.uint8)
  predict = {t: make_predict(m) for t, (m, _) in targets.items()}
  clean = {t: _batched(predict[t], [images_u8], batch, v)[0]
           for t, (_, v) in targets.items()}
  records = []
  for name in settings:
    setting = SETTINGS[name]
    for src, (src_model, src_vars) in sources.items():
      t0 = time.perf_counter()
      adv, src_pred = _batched(make_crafter(src_model, setting),
                               [images_u8, labels], batch, src_vars)
      seconds = time.perf_counter() - t0
      for tgt, (_, tgt_vars) in targets.items():
        tgt_pred = _batched(predict[tgt], [adv], batch, tgt_vars)[0]
        records.append(dict(setting=name, source=src, target=tgt,
                            **metric(labels, src_pred, clean[tgt], tgt_pred)))
      logging.info("transfer %s from %s: crafted %d images in %.1f s; %s",
                   name, src, len(labels), seconds,
                   ", ".join(f"{r['target']} {r['accuracy']:.1f} %"
                             for r in records[-len(targets):]))
  return records


def markdown(records, settings=None) -> str:
  """One table per setting: rows = sources, columns = targets."""
  settings = settings or list(dict.fromkeys(r["setting"] for r in records))
  lines = []
  for name in settings:
    rs = [r for r in records if r["setting"] == name]
    srcs = list(dict.fromkeys(r["source"] for r in rs))
    tgts = list(dict.fromkeys(r["target"] for r in rs))
    by = {(r["source"], r["target"]): r for r in rs}
    lines += [f"### {SETTINGS[name].display} (uint8)", "",
              "Target accuracy (%) on the images that fooled the source and "
              "that the target classifies correctly when clean; in "
              "brackets: how many such images, and the share (%) where the "
              "target predicts the source's adversarial label.", "",
              "| source \\ target | " + " | ".join(tgts) + " |",
              "|---|" + "---|" * len(tgts)]
    for s in srcs:
      cells = []
      for t in tgts:
        r = by[(s, t)]
        cells.append(f"{r['accuracy']:.1f} ({r['kept']}; {r['follow']:.0f})")
      lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines.append("")
  return "\n".join(lines)


def write(out_dir: str, records, info: dict) -> None:
  """``transfer.json`` and ``transfer.md`` in ``out_dir``."""
  os.makedirs(out_dir, exist_ok=True)
  report.write_json(os.path.join(out_dir, "transfer.json"), dict(
      info, settings={k: dataclasses.asdict(v) for k, v in SETTINGS.items()
                      if k in {r["setting"] for r in records}},
      records=records))
  with open(os.path.join(out_dir, "transfer.md"), "w") as f:
    f.write("# Black-box transfer\n\n" + markdown(records))


def suite(config, workdir, model, variables, dataset, others: dict,
          out_dir: str) -> list:
  """The ``transfer`` evaluation suite: ``config.eval.transfer.sources``
  (loaded by the caller into ``others``: ``{workdir: (model, variables)}``)
  attack the evaluated model and each other, on a fixed subset of
  ``eval.transfer.images`` test images."""
  from mdr import data as data_lib  # pylint: disable=g-import-not-at-top
  tc = config.eval.transfer
  idx = data_lib.subsample(len(dataset.test.labels), tc.images)
  sources = {_name(wd): others[wd] for wd in tc.sources}
  targets = {_name(workdir): (model, variables), **sources}
  t0 = time.perf_counter()
  records = matrix(sources, targets, dataset.test.images[idx],
                   dataset.test.labels[idx], tuple(tc.settings),
                   config.eval.batch_size)
  if jax.process_index() == 0:
    write(out_dir, records, dict(images=int(len(idx)), tta=0,
                                 seconds=round(time.perf_counter() - t0, 1)))
  return records


def check_config(config) -> None:
  """``config.eval.transfer.settings`` are known settings, else one
  ``ConfigError`` naming the value and the settings there are."""
  from mdr import config as config_lib  # pylint: disable=g-import-not-at-top
  settings = config.eval.transfer.settings
  if isinstance(settings, str) or any(s not in SETTINGS for s in settings):
    raise config_lib.ConfigError(
        f"config.eval.transfer.settings = {settings!r} is not allowed: a "
        f"list of {list(SETTINGS)}")


def _name(workdir: str) -> str:
  return os.path.basename(os.path.normpath(workdir))


def main(argv):
  """``python -m mdr.transfer``: the matrix over trained runs."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from mdr import data as data_lib  # pylint: disable=g-import-not-at-top
  from mdr import runs  # pylint: disable=g-import-not-at-top
  from mdr.runtime import make_mesh  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  if len(argv) > 1:
    raise SystemExit(f"unexpected arguments: {argv[1:]}")
  split = lambda v: [x for x in v.split(",") if x]
  sources, targets = split(f.sources), split(f.targets)
  if not sources or not targets:
    raise SystemExit("error: --sources and --targets each need at least one "
                     "workdir (comma-separated)")
  bad = [s for s in split(f.settings) if s not in SETTINGS]
  if bad:
    raise SystemExit(f"error: --settings {bad} unknown; known: "
                     f"{list(SETTINGS)}")
  try:
    config = runs.load_trained_config(targets[0])
  except runs.ResumeError as e:
    raise SystemExit(f"error: {e}") from None
  if f.data:
    config.data.path = f.data
  dataset = data_lib.load(config.data)
  mesh = make_mesh()
  loaded = {}
  for wd in dict.fromkeys(sources + targets):
    try:
      _, model, variables = runs.load_trained(wd, dataset, mesh)
    except runs.ResumeError as e:
      raise SystemExit(f"error: {e}") from None
    loaded[wd] = (model, variables)
  idx = data_lib.subsample(len(dataset.test.labels), f.images)
  t0 = time.perf_counter()
  records = matrix({_name(w): loaded[w] for w in sources},
                   {_name(w): loaded[w] for w in targets},
                   dataset.test.images[idx], dataset.test.labels[idx],
                   tuple(split(f.settings)), f.batch_size)
  info = dict(images=int(len(idx)), tta=0, sources=sources, targets=targets,
              seconds=round(time.perf_counter() - t0, 1))
  write(f.out, records, info)
  print(markdown(records))


if __name__ == "__main__":
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags as _flags  # pylint: disable=g-import-not-at-top
  _flags.DEFINE_string("sources", "", "Workdirs of the source runs.")
  _flags.DEFINE_string("targets", "", "Workdirs of the target runs.")
  _flags.DEFINE_string("data", "", "Data path (image-folder zip); default: "
                       "the first target's config.")
  _flags.DEFINE_integer("images", 5000, "Test images (a fixed subset; 0 = "
                        "all).")
  _flags.DEFINE_string("settings", ",".join(SETTINGS), "Settings to run.")
  _flags.DEFINE_integer("batch_size", 500, "Batch size.")
  _flags.DEFINE_string("out", "transfer", "Output directory.")
  app.run(main)
