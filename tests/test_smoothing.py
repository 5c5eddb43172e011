"""De-randomized smoothing's base model: the 6-channel airbench, its
whitening, the ablated training objective, the config checks, and the
``smoothing`` evaluator after a short ablated training run."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config, validate
from mdr import config as config_lib
from mdr import data as data_lib
from mdr import models
from mdr import objectives
from mdr.certify import ds
from mdr.models import airbench


@pytest.fixture(scope="module")
def shapes():
  return data_lib.synthetic(256, 64, seed=0)


def _ds_model(shapes, width=0.0625):
  model = models.get("airbench", 10, width=width, mean=shapes.mean,
                     std=shapes.std, encoding="ds")
  params = jax.jit(lambda k: model.init(k, jnp.zeros((1, 32, 32, 3))))(
      jax.random.key(0))["params"]
  return model, params


def test_the_ds_network_takes_three_or_six_channels(shapes):
  model, params = _ds_model(shapes)
  assert params["whiten"]["kernel"].shape == (2, 2, 6, 28)
  x = jnp.asarray(shapes.test.images[:8], jnp.float32) / 255
  variables = model.init(jax.random.key(0), x[:1])
  three = model.apply(variables, x)
  six = model.apply(variables, ds.encode(x))
  np.testing.assert_allclose(np.asarray(three), np.asarray(six), atol=1e-6)
  band = model.apply(variables, ds.ablate(x, 3, 4))
  assert not np.allclose(np.asarray(band), np.asarray(three), atol=1e-3)
  with pytest.raises(ValueError, match="takes 3 or 6 channels, got 5"):
    model.apply(variables, jnp.zeros((1, 32, 32, 5)))
  with pytest.raises(ValueError, match="encodings"):
    models.get("resnet_tiny", 10, encoding="ds")


def test_ds_whitening_covers_band_ablated_inputs(shapes):
  """Whitening fit on the ablated encoding keeps a band-ablated image's
  whitened channels near unit scale and none of them constant (a constant
  channel overflows the batch norms); fit on whole images only, the
  directions an ablated column adds are outside its data and blow up
  (by ~1/sqrt(eps)): the test can tell the two apart."""
  _, params = _ds_model(shapes)
  prepared = models.REGISTRY["airbench"].prepare(
      params, shapes.train.images, shapes.mean, shapes.std, encoding="ds")
  mean, std = airbench.input_stats(shapes.mean, shapes.std, "ds")
  x = jnp.asarray(shapes.test.images[:32], jnp.float32) / 255
  bands = jnp.concatenate([ds.ablate(x, p, 4) for p in (0, 9, 30)])
  naive = airbench.whitening_kernel(
      np.asarray(ds.encode(jnp.asarray(shapes.train.images[:256],
                                        jnp.float32) / 255)) * 255, mean, std,
      keep=14)

  def rms(kernel):
    out = jax.lax.conv_general_dilated(
        (bands - jnp.asarray(mean)) / jnp.asarray(std), jnp.asarray(kernel),
        (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return np.sqrt((np.asarray(out, np.float64).reshape(-1, 28) ** 2).mean(0))

  fitted = rms(prepared["whiten"]["kernel"])
  assert fitted.max() < 3.0 and fitted.min() > 0.1, fitted
  assert rms(naive).max() > 10.0


def _context(config, images, labels):
  return objectives.Context(
      config=config, key=jax.random.key(1), images=images, labels=labels,
      num_classes=10, logits_fn=None, train_logits_fn=None,
      mean=jnp.full((3,), 0.5))


def test_ablated_training_keeps_one_band_of_columns_per_image(shapes):
  c = tiny_config(**{"train.mode": "ablated", "model.encoding": "ds",
                     "model.name": "airbench", "train.ds_band": 4})
  x = jnp.asarray(shapes.train.images[:64], jnp.float32) / 255
  y = jnp.asarray(shapes.train.labels[:64])
  out, labels = objectives.get("ablated").prepare(_context(c, x, y))
  out = np.asarray(out)
  assert out.shape == (64, 32, 32, 6)
  np.testing.assert_array_equal(np.asarray(labels), np.asarray(y))
  kept = out[..., :3] + out[..., 3:]            # 1 where kept, 0 where not
  assert set(np.unique(np.round(kept, 5))) <= {0.0, 1.0}
  cols = kept[:, 0, :, 0] > 0.5                  # [B, W]
  starts = []
  for i, row in enumerate(cols):
    assert row.sum() == 4 and (kept[i, :, row] == 1).all()
    start = [s for s in range(32) if all(row[(s + j) % 32] for j in range(4))]
    assert len(start) == 1
    starts.append(start[0])
    np.testing.assert_allclose(out[i, :, row, :3], np.asarray(x)[i, :, row],
                               atol=1e-6)
  assert len(set(starts)) >= 16                  # one random position each


def test_ablated_training_needs_the_ds_encoding():
  c = tiny_config(**{"train.mode": "ablated", "model.name": "airbench"})
  with pytest.raises(config_lib.ConfigError,
                     match="model.encoding = 'rgb'.*'ds' with train.mode"):
    validate(c)
  c = tiny_config(**{"model.encoding": "ds"})
  with pytest.raises(config_lib.ConfigError,
                     match=r"model.encoding = 'ds'.*\['airbench'\]"):
    validate(c)
  c = tiny_config(**{"train.mode": "ablated", "model.name": "airbench",
                     "model.encoding": "ds", "train.ds_band": 0})
  with pytest.raises(config_lib.ConfigError, match="train.ds_band = 0"):
    validate(c)


def test_smoothing_after_a_short_ablated_run(tmp_path):
  """configs/ablated.py's recipe, shrunk: the run trains on ablated images
  and the smoothing evaluator writes its records (certified <= smoothed
  accuracy, 32 passes per image, Δ = p + b − 1) and the empirical check."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  from mdr import train  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location(
      "ablated_config", os.path.join(os.path.dirname(__file__), "..",
                                     "configs", "ablated.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config("cpu")
  small = tiny_config()
  c.data = small.data
  c.model.width = 0.0625
  c.train.steps, c.train.batch_size = 6, 32
  c.optim.learning_rate *= 32 / 1024       # the recipe's rate at batch 32
  c.log_every_steps = c.checkpoint_every_steps = 3
  c.eval.certify_images, c.eval.batch_size = 24, 24
  c.eval.certify_attack_images = 2
  c.eval.certify_attack_steps = c.eval.certify_attack_screen = 1
  validate(c)
  out = train.train_and_evaluate(c, str(tmp_path))
  del out
  path = [os.path.join(d, "smoothing.json") for d, _, f in os.walk(tmp_path)
          if "smoothing.json" in f]
  r = json.load(open(path[0]))
  assert r["n"] == 24 and r["passes"] == 32 and r["band"] == 4
  assert [(x["votes"], x["patch"], x["delta"]) for x in r["records"]] == [
      ("threshold", 2, 5), ("threshold", 5, 8), ("top1", 2, 5),
      ("top1", 5, 8)]
  for x in r["records"]:
    assert 0 <= x["certified"] <= x["clean_accuracy"] <= 100
  assert r["records"][0]["certified"] >= r["records"][1]["certified"]
  e = r["empirical"]      # at the largest side, threshold votes
  assert e["side"] == 5 and e["passed"]
  assert e["certified"]["n"] == min(2, r["records"][1]["certified_k"])
