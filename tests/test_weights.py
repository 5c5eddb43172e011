"""The weight store: a stored model evaluates to its committed accuracy
exactly, its digest is checked on load, and export/load round-trips."""

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO, tiny_config
from mdr import data as data_lib
from mdr import train
from mdr import weights
from mdr.evaluators import clean

STORE = os.path.join(REPO, "experiments", "weights")
DEMO = os.path.join(STORE, "demo", "resnet_small", "seed0.msgpack")


def test_the_stored_demo_model_reproduces_its_committed_accuracy_exactly():
  stored = weights.load(DEMO)       # digest checked against manifest.json
  manifest = json.load(open(os.path.join(STORE, "manifest.json")))
  assert stored.sha256 == manifest["demo/resnet_small/seed0.msgpack"][
      "sha256"]
  committed = json.load(open(os.path.join(
      REPO, "experiments", "results", "demo", "seed0", "clean.json")))
  dataset = data_lib.load(stored.config.data)
  assert stored.data["num_classes"] == dataset.num_classes
  acc = clean.accuracy(stored.logits_fn, jnp.asarray(dataset.test.images),
                       jnp.asarray(dataset.test.labels.astype(np.int32)), 500)
  assert acc == committed["accuracy"] and committed["n"] == 1000


def test_an_altered_file_is_refused(tmp_path):
  copy = tmp_path / "seed0.msgpack"
  shutil.copy(DEMO, copy)
  good = weights.sha256_of(DEMO)
  weights.load(str(copy), sha256=good)
  data = bytearray(copy.read_bytes())
  data[len(data) // 2] ^= 1
  copy.write_bytes(bytes(data))
  with pytest.raises(weights.WeightsError, match="not the expected"):
    weights.load(str(copy), sha256=good)
  with pytest.raises(weights.WeightsError, match="no weights file"):
    weights.load(str(tmp_path / "missing.msgpack"))


def test_export_then_load_gives_the_same_predictions(tmp_path):
  c = tiny_config(**{"eval.suites": ("clean",)})
  wd = str(tmp_path / "run")
  train.train_and_evaluate(c, wd)
  store = str(tmp_path / "store")
  path = os.path.join(store, "g", "run", "seed0.msgpack")
  digest = weights.export_run(wd, path, store)
  stored = weights.load(path)
  assert stored.sha256 == digest
  for leaf in jax.tree.leaves(stored.variables):
    assert leaf.dtype in (jnp.float32, jnp.int32, jnp.bool_, jnp.uint8)
  dataset = data_lib.load(c.data)
  _, model, variables = train.load_trained(wd, dataset, train.make_mesh())
  x = jnp.asarray(dataset.test.images[:16], jnp.float32) / 255
  apply = jax.jit(lambda v, x: model.apply(v, x, train=False))
  np.testing.assert_array_equal(stored.logits_fn(x), apply(variables, x))
  clean_json = json.load(open(os.path.join(wd, "eval", "clean.json")))
  acc = clean.accuracy(stored.logits_fn, jnp.asarray(dataset.test.images),
                       jnp.asarray(dataset.test.labels.astype(np.int32)), 48)
  assert acc == clean_json["accuracy"]


def test_stored_weights_evaluate_without_a_checkpoint(tmp_path):
  """``--mode=eval --weights``: the stored demo model's evaluation with its
  own config gives the committed clean accuracy; another model's config is
  refused by name."""
  from mdr import config as config_lib  # pylint: disable=g-import-not-at-top
  path = os.path.join(STORE, "demo", "resnet_small", "seed0.msgpack")
  c = weights.load(path).config
  c.eval.suites = ("clean",)
  out = train.evaluate_stored(c, str(tmp_path / "wd"), path)["eval_dir"]
  got = json.load(open(os.path.join(out, "clean.json")))
  want = json.load(open(os.path.join(
      REPO, "experiments", "results", "demo", "seed0", "clean.json")))
  assert (got["accuracy"], got["n"]) == (want["accuracy"], want["n"])
  c.model.name = "resnet_tiny"
  with pytest.raises(config_lib.ConfigError,
                     match="config.model.name = 'resnet_tiny' is not the "
                           "stored model's 'resnet_small'"):
    train.evaluate_stored(c, str(tmp_path / "wd2"), path)
