"""Trained weights kept for evaluation: one file per model, no retraining.

A weights file (msgpack, ``.msgpack``) holds what evaluation needs and
nothing else: the model's variables (``params``, ``batch_stats``, random
masks; floating-point arrays as float32; never optimizer state), the run's
config, and the data facts the model was built with (classes, mean, std,
image shape). ``load`` rebuilds the model from it and checks the file's
sha256 against the one given or the store's ``manifest.json``.

The project's store is ``experiments/weights/<group>/<run>/seed<k>.msgpack``
with ``experiments/weights/manifest.json`` (path -> sha256, bytes); ``export``
adds to it. Evaluating your own attack on a stored model::

  from mdr import weights
  stored = weights.load("experiments/weights/demo/resnet_small/seed0.msgpack")
  logits = stored.logits_fn(images)        # images [B, H, W, 3] in [0, 1]
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Optional

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

FORMAT = 1
MANIFEST = "manifest.json"


class WeightsError(ValueError):
  """A weights file that is missing, altered or not an mdr weights file."""


@dataclasses.dataclass
class Stored:
  """A loaded weights file.

  Attributes:
    config: the run's config (``mdr.config.base_config`` updated with it).
    model: the flax module, built as the run built it.
    variables: its variables (float32 where floating point).
    data: ``{"name", "num_classes", "class_names", "mean", "std",
      "image_shape"}`` of the data the model was trained on.
    sha256: the file's digest.
  """
  config: Any
  model: Any
  variables: dict
  data: dict
  sha256: str

  def __post_init__(self):
    self._apply = jax.jit(lambda v, x: self.model.apply(v, x, train=False))

  def logits_fn(self, images: jax.Array) -> jax.Array:
    """Logits ``[B, K]`` of images ``[B, H, W, C]`` in [0, 1] (inference
    mode, jitted; differentiable, so attacks can take its gradient)."""
    return self._apply(self.variables, images)


def sha256_of(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def _float32(tree):
  def cast(x):
    x = np.asarray(jax.device_get(x))
    return x.astype(np.float32) if np.issubdtype(x.dtype, np.floating) else x
  return jax.tree.map(cast, tree)


def _data_facts(dataset) -> dict:
  return dict(name=os.path.basename(os.path.normpath(dataset.name)),
              num_classes=int(dataset.num_classes),
              class_names=list(dataset.class_names),
              mean=[float(m) for m in dataset.mean],
              std=[float(s) for s in dataset.std],
              image_shape=[int(d) for d in dataset.image_shape])


def export(path: str, config, variables, dataset,
           store: Optional[str] = None) -> str:
  """Writes ``variables`` (float32), ``config`` and ``dataset``'s facts to
  ``path`` atomically; returns its sha256. With ``store`` (a folder above
  ``path``), records the file in ``store/manifest.json``."""
  payload = dict(format=FORMAT, config=config.to_json_best_effort(),
                 data=json.dumps(_data_facts(dataset)),
                 variables=_float32(dict(variables)))
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path + ".tmp", "wb") as f:
    f.write(flax.serialization.msgpack_serialize(payload))
  os.replace(path + ".tmp", path)
  digest = sha256_of(path)
  if store:
    manifest_path = os.path.join(store, MANIFEST)
    manifest = (json.load(open(manifest_path))
                if os.path.exists(manifest_path) else {})
    manifest[os.path.relpath(path, store)] = dict(
        sha256=digest, bytes=os.path.getsize(path))
    with open(manifest_path + ".tmp", "w") as f:
      json.dump(dict(sorted(manifest.items())), f, indent=1)
      f.write("\n")
    os.replace(manifest_path + ".tmp", manifest_path)
  return digest


def export_run(workdir: str, path: str, store: Optional[str] = None) -> str:
  """``export`` of the newest checkpoint of a trained run (its own data
  loaded to build the model as it was trained); returns the sha256."""
  from mdr import data as data_lib  # pylint: disable=g-import-not-at-top
  from mdr import runs  # pylint: disable=g-import-not-at-top
  from mdr.runtime import make_mesh  # pylint: disable=g-import-not-at-top
  config = runs.load_trained_config(workdir)
  dataset = data_lib.load(config.data)
  config, _, variables = runs.load_trained(workdir, dataset, make_mesh())
  return export(path, config, variables, dataset, store)


def _manifest_digest(path: str) -> Optional[str]:
  """The sha256 the nearest ``manifest.json`` above ``path`` records."""
  here = os.path.dirname(os.path.abspath(path))
  while True:
    manifest_path = os.path.join(here, MANIFEST)
    if os.path.exists(manifest_path):
      entry = json.load(open(manifest_path)).get(
          os.path.relpath(os.path.abspath(path), here))
      return entry["sha256"] if entry else None
    parent = os.path.dirname(here)
    if parent == here:
      return None
    here = parent


def load(path: str, sha256: Optional[str] = None) -> Stored:
  """The model of a weights file, ready to evaluate.

  Args:
    path: a ``.msgpack`` written by ``export``.
    sha256: the expected digest; default: the one the nearest
      ``manifest.json`` above ``path`` records (none: not checked).

  Raises:
    WeightsError: the file is missing, its digest differs, or it is not an
      mdr weights file.
  """
  from mdr import runs  # pylint: disable=g-import-not-at-top
  from mdr import state  # pylint: disable=g-import-not-at-top
  if not os.path.isfile(path):
    raise WeightsError(f"no weights file at {path!r}")
  digest = sha256_of(path)
  expected = sha256 or _manifest_digest(path)
  if expected and digest != expected:
    raise WeightsError(f"{path!r} has sha256 {digest}, not the expected "
                       f"{expected}: the file was altered or is not the "
                       f"stored one")
  with open(path, "rb") as f:
    try:
      payload = flax.serialization.msgpack_restore(f.read())
    except Exception as e:  # pylint: disable=broad-except
      raise WeightsError(f"{path!r} is not an mdr weights file: {e}") from e
  if not isinstance(payload, dict) or payload.get("format") != FORMAT:
    raise WeightsError(f"{path!r} is not an mdr weights file of format "
                       f"{FORMAT}")
  config = runs.config_from_dict(json.loads(payload["config"]))
  data = json.loads(payload["data"])
  facts = _Facts(num_classes=data["num_classes"], mean=data["mean"],
                 std=data["std"])
  model = state.build_model(config, facts)
  variables = jax.tree.map(jnp.asarray, payload["variables"])
  return Stored(config=config, model=model, variables=variables, data=data,
                sha256=digest)


@dataclasses.dataclass
class _Facts:
  """What ``mdr.state.build_model`` reads of a dataset."""
  num_classes: int
  mean: list
  std: list
