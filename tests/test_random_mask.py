"""Random Mask CNNs: exact masks, placement, state handling, training."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mdr import config as config_lib
from mdr import models
from mdr.models import random_mask as rm
from tests.conftest import linear_probe_class
from tests.conftest import tiny_config
from tests.conftest import validate

SHAPE = (1, 32, 32, 3)


def _masks(name, seed=0, drop=0.5, stages="shallow", shared=False, **kw):
  spec = rm.RandomMaskSpec(drop=drop, stages=stages, shared_channels=shared,
                           seed=seed)
  model = models.get(name, 10, random_mask=spec, **kw)
  variables = jax.jit(lambda: model.init(jax.random.key(123),
                                         jnp.zeros(SHAPE)))()
  flat = jax.tree_util.tree_flatten_with_path(variables[rm.COLLECTION])[0]
  return model, variables, {
      "/".join(str(getattr(k, "key", k)) for k in path): np.asarray(v)
      for path, v in flat}


def _mask_layout(name, drop=0.5, stages="shallow", seed=0, **kw):
  """{path: mask} without compiling the model: the layout from
  ``eval_shape``, the values from ``draw`` (which the model's own masks
  equal: test_masks_same_for_same_seed_and_differ_across_seeds)."""
  spec = rm.RandomMaskSpec(drop=drop, stages=stages, seed=seed)
  model = models.get(name, 10, random_mask=spec, **kw)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0),
                                             jnp.zeros(SHAPE)))
  flat = jax.tree_util.tree_flatten_with_path(shapes[rm.COLLECTION])[0]
  out = {}
  for path, v in flat:
    key = "/".join(str(getattr(k, "key", k)) for k in path)
    out[key] = np.asarray(rm.draw(seed, key.rsplit("/", 1)[0], v.shape,
                                  drop))
  return out


@pytest.mark.parametrize("drop", [0.3, 0.7])
def test_resnet18_shallow_has_ten_masks_with_exact_zero_counts(drop):
  masks = _mask_layout("resnet18", drop=drop)
  assert len(masks) == 10                       # stem + 8 convs + 1 shortcut
  assert "BasicBlock_2/shortcut_mask/mask" in masks
  assert not any(k.startswith(("BasicBlock_0/shortcut", "BasicBlock_4",
                               "BasicBlock_6")) for k in masks)
  for name, m in masks.items():
    assert set(np.unique(m)) <= {0.0, 1.0}
    assert m.shape[-1] in (64, 128)
    assert int((m == 0).sum()) == math.floor(round(drop * m.size, 6)), name


def test_deep_set_masks_stages_three_and_four():
  masks = _mask_layout("resnet18", stages="deep")
  blocks = sorted({k.split("/")[0] for k in masks})
  assert blocks == ["BasicBlock_4", "BasicBlock_5", "BasicBlock_6",
                    "BasicBlock_7"]
  assert len(masks) == 10                       # 8 convs + 2 shortcuts


def test_masks_same_for_same_seed_and_differ_across_seeds():
  _, _, a = _masks("airbench", seed=0, width=0.25)
  _, _, b = _masks("airbench", seed=0, width=0.25)
  _, _, c = _masks("airbench", seed=1, width=0.25)
  assert sorted(a) == sorted(b) == sorted(c)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])
    assert (a[k] != c[k]).any(), k
  # Every mask of the model is draw() at its path.
  for k, m in a.items():
    np.testing.assert_array_equal(m, rm.draw(0, k.rsplit("/", 1)[0],
                                             m.shape, 0.5))
  # A pure function of (seed, layer path, shape): draw() gives the same.
  m = a["group1/mask1/mask"]
  np.testing.assert_array_equal(
      m, rm.draw(0, "group1/mask1", m.shape, 0.5))
  # ... and independent of the parameter init key.
  spec = rm.RandomMaskSpec(drop=0.5, seed=0)
  model = models.get("airbench", 10, width=0.25, random_mask=spec)
  other = model.init(jax.random.key(999), jnp.zeros(SHAPE))
  np.testing.assert_array_equal(
      other[rm.COLLECTION]["group1"]["mask1"]["mask"], m)


def test_shared_channels_variant_shares_one_pattern():
  _, _, masks = _masks("resnet_small", drop=0.5, shared=True)
  for name, m in masks.items():
    assert m.shape[-1] == 1, name
    assert int((m == 0).sum()) == (m.shape[0] * m.shape[1]) // 2
  model, variables, _ = _masks("resnet_small", drop=0.5, shared=True)
  x = jax.random.uniform(jax.random.key(0), (2,) + SHAPE[1:])
  _, inter = model.apply(variables, x, capture_intermediates=True,
                         mutable=["intermediates"])
  out = np.asarray(inter["intermediates"]["stem_mask"]["__call__"][0])
  zero = out == 0
  assert zero.all(-1).sum() > 0
  np.testing.assert_array_equal(zero.any(-1), zero.all(-1))  # same in all C


def test_mask_sits_after_batch_norm_before_relu_and_add():
  model, variables, masks = _masks("resnet_small", drop=0.5)
  # Random parameters (the blocks' last BN scale starts at 0).
  leaves, tree = jax.tree.flatten(variables["params"])
  keys = jax.random.split(jax.random.key(5), len(leaves))
  variables = dict(variables, params=jax.tree.unflatten(tree, [
      l + 0.1 * jax.random.normal(k, l.shape) for l, k in zip(leaves, keys)]))
  x = jax.random.uniform(jax.random.key(1), (4,) + SHAPE[1:])
  _, inter = model.apply(variables, x, capture_intermediates=True,
                         mutable=["intermediates"])
  it = inter["intermediates"]
  pairs = [("stem_norm", "stem_mask", "stem_mask/mask"),
           ("BasicBlock_0/BatchNorm_0", "BasicBlock_0/mask1",
            "BasicBlock_0/mask1/mask"),
           ("BasicBlock_0/BatchNorm_1", "BasicBlock_0/mask2",
            "BasicBlock_0/mask2/mask"),
           ("BasicBlock_1/shortcut_norm", "BasicBlock_1/shortcut_mask",
            "BasicBlock_1/shortcut_mask/mask")]
  get = lambda path: np.asarray(_lookup(it, path)["__call__"][0])
  for norm, mask_layer, mask_key in pairs:
    bn_out, masked = get(norm), get(mask_layer)
    m = masks[mask_key]
    # The mask layer's input is the batch norm's output, exactly ...
    np.testing.assert_array_equal(masked, bn_out * m)
    # ... zeros exactly where the mask is 0 (BN outputs are a.s. non-zero),
    assert (masked[:, m == 0] == 0).all()
    assert (masked[:, m == 1] != 0).all()
    # ... and before the ReLU: the kept units still take negative values.
    assert (masked < 0).any()
  # No mask in stage 3 (not in the shallow set): conv outputs unmasked.
  assert "mask1" not in it["BasicBlock_2"]


def _lookup(tree, path):
  for p in path.split("/"):
    tree = tree[p]
  return tree


def test_stage_names_are_checked():
  assert rm.resolve_stages("shallow", 3) == ("stem", "stage1", "stage2")
  assert rm.resolve_stages("deep", 4) == ("stage3", "stage4")
  assert rm.resolve_stages("stem, stage2", 3) == ("stem", "stage2")
  with pytest.raises(ValueError, match="stage9"):
    rm.resolve_stages("stage9", 3)
  with pytest.raises(ValueError, match="at least 3 stages"):
    rm.resolve_stages("deep", 2)
  c = tiny_config(**{"model.random_mask.drop": 0.5,
                     "model.random_mask.stages": "deep"})
  with pytest.raises(config_lib.ConfigError, match="random_mask.stages"):
    config_lib.validate(c)
  c = tiny_config(**{"model.random_mask.drop": 1.0})
  with pytest.raises(config_lib.ConfigError, match="random_mask.drop"):
    config_lib.validate(c)


def test_masks_survive_training_and_checkpoints_bit_for_bit(tmp_path):
  from mdr import data as data_lib  # pylint: disable=g-import-not-at-top
  from mdr import train  # pylint: disable=g-import-not-at-top
  c = tiny_config(**{"model.random_mask.drop": 0.7,
                     "model.random_mask.stages": "stem,stage1",
                     "train.mode": "clean", "eval.suites": ("clean",)})
  dataset = data_lib.load(c.data)
  model = train.build_model(c, dataset)
  fresh = model.init(jax.random.key(0), jnp.zeros((1,) + dataset.image_shape))
  train.train_and_evaluate(c, str(tmp_path), dataset)
  mesh = train.make_mesh()
  _, _, variables = train.load_trained(str(tmp_path), dataset, mesh)
  restored = jax.device_get(variables[rm.COLLECTION])
  expected = jax.device_get(fresh[rm.COLLECTION])
  assert jax.tree.structure(restored) == jax.tree.structure(expected)
  for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(expected)):
    np.testing.assert_array_equal(a, b)
  # Training changed the parameters and batch statistics, not the masks.
  assert not np.array_equal(
      jax.device_get(variables["params"]["stem_conv"]["kernel"]),
      jax.device_get(fresh["params"]["stem_conv"]["kernel"]))
  assert "random_masks" not in variables["params"]


def test_a_model_without_batch_norm_trains(tmp_path):
  from mdr import data as data_lib  # pylint: disable=g-import-not-at-top
  from mdr import train  # pylint: disable=g-import-not-at-top
  models.REGISTRY["no_norm"] = models.ModelSpec(linear_probe_class())
  try:
    c = tiny_config(**{"model.name": "no_norm", "train.steps": 4,
                       "train.mode": "mixed", "eval.suites": ("clean",)})
    dataset = data_lib.load(c.data)
    out = train.train_and_evaluate(c, str(tmp_path), dataset)
    assert np.isfinite(out["loss"])
    _, _, variables = train.load_trained(str(tmp_path), dataset,
                                         train.make_mesh())
    assert set(variables) == {"params"}
  finally:
    del models.REGISTRY["no_norm"]


# ---------------------------------------------------------------------------
# The black-box transfer evaluation.
# ---------------------------------------------------------------------------

def test_transfer_metric_on_a_hand_built_case():
  from mdr import transfer  # pylint: disable=g-import-not-at-top
  labels = np.array([0, 1, 2, 3, 4, 5])
  src_adv = np.array([9, 1, 7, 7, 8, 8])     # fooled on 0, 2, 3, 4, 5
  tgt_clean = np.array([0, 1, 2, 0, 4, 5])   # wrong when clean on 3
  tgt_adv = np.array([0, 1, 7, 3, 8, 9])     # kept 0, 2, 4, 5
  r = transfer.metric(labels, src_adv, tgt_clean, tgt_adv)
  assert r == dict(n=6, source_fooled=5, kept=4, accuracy=25.0, follow=50.0)
  none = transfer.metric(labels, labels, tgt_clean, tgt_adv)
  assert none["kept"] == 0 and np.isnan(none["accuracy"])


def test_transferred_images_are_rounded_to_uint8():
  from mdr import transfer  # pylint: disable=g-import-not-at-top
  x = jnp.array([0.0, 0.5 / 255, 0.51 / 255, 1.49 / 255, 1.2, -0.1])
  np.testing.assert_array_equal(transfer.to_uint8(x), [0, 0, 1, 1, 255, 0])
  assert transfer.to_uint8(x).dtype == jnp.uint8


class Linear(nn.Module):
  """logits = x·W: the sign of W is FGSM's direction."""
  num_classes: int = 2

  @nn.compact
  def __call__(self, x, train: bool = False):
    if train:
      raise AssertionError("attacks must run the model in inference mode")
    w = self.param("w", nn.initializers.normal(1.0),
                   (x[0].size, self.num_classes))
    return x.reshape(len(x), -1) @ w


def test_transfer_matrix_crafts_in_uint8_and_counts_per_pair():
  from mdr import transfer  # pylint: disable=g-import-not-at-top
  model = Linear()
  x = jax.random.uniform(jax.random.key(0), (40, 4, 4, 3))
  va = model.init(jax.random.key(1), x)
  vb = model.init(jax.random.key(2), x)
  images = np.asarray(transfer.to_uint8(x))
  preds = lambda v: np.asarray(jnp.argmax(model.apply(v, images / 255.0), -1))
  labels = preds(va)                           # source a is right on all
  # Crafting: FGSM 16/255 on the uint8 images, no random start.
  craft = transfer.make_crafter(model, transfer.SETTINGS["fgsm16"])
  adv, pred = craft(va, images, labels)
  assert adv.dtype == jnp.uint8
  diff = np.asarray(adv, int) - images
  assert np.abs(diff).max() <= 16
  w = np.asarray(va["params"]["w"])
  # Each pixel moves by 16 against the label's margin gradient (unless
  # clipped at 0 or 255).
  g = (w[:, 1 - labels] - w[:, labels]).T.reshape(images.shape)
  inside = (images >= 16) & (images <= 239)
  np.testing.assert_array_equal(diff[inside], (16 * np.sign(g))[inside])
  records = transfer.matrix({"a": (model, va)}, {"a": (model, va),
                                                 "b": (model, vb)},
                            images, labels, ("fgsm16",), batch=16)
  assert [(r["source"], r["target"]) for r in records] == [("a", "a"),
                                                           ("a", "b")]
  ra, rb = records
  fooled = np.asarray(pred) != labels
  assert ra["source_fooled"] == fooled.sum() > 0
  assert ra["kept"] == fooled.sum() and ra["accuracy"] == 0.0
  assert ra["follow"] == 100.0
  expect = transfer.metric(labels, np.asarray(pred), preds(vb),
                           preds_adv := np.asarray(jnp.argmax(model.apply(
                               vb, np.asarray(adv) / 255.0), -1)))
  del preds_adv
  assert rb == dict(setting="fgsm16", source="a", target="b", **expect)


def test_transfer_suite_writes_a_matrix_and_checks_its_sources(tmp_path):
  from mdr import data as data_lib  # pylint: disable=g-import-not-at-top
  from mdr import train  # pylint: disable=g-import-not-at-top
  src = str(tmp_path / "src")
  c = tiny_config(**{"train.mode": "clean", "eval.suites": ("clean",)})
  dataset = data_lib.load(c.data)
  train.train_and_evaluate(c, src, dataset)
  with pytest.raises(config_lib.ConfigError, match="transfer.sources"):
    validate(tiny_config(**{"eval.suites": ("transfer",)}))
  c = tiny_config(**{"model.random_mask.drop": 0.5, "seed": 1,
                     "eval.suites": ("transfer",),
                     "eval.transfer.sources": (src,),
                     "eval.transfer.images": 40,
                     "eval.transfer.settings": ("fgsm8",)})
  train.train_and_evaluate(c, str(tmp_path / "rm"), dataset)
  import json  # pylint: disable=g-import-not-at-top
  out = json.load(open(tmp_path / "rm" / "eval" / "transfer.json"))
  assert out["images"] == 40
  pairs = [(r["setting"], r["source"], r["target"]) for r in out["records"]]
  assert pairs == [("fgsm8", "src", "rm"), ("fgsm8", "src", "src")]
  for r in out["records"]:
    assert r["n"] == 40 and 0 <= r["kept"] <= r["source_fooled"] <= 40
  md = open(tmp_path / "rm" / "eval" / "transfer.md").read()
  assert "| src |" in md
  # A workdir that is not a trained run is one clear error.
  c.eval.transfer.sources = (str(tmp_path / "nothing"),)
  with pytest.raises(train.ResumeError, match="not a trained mdr run"):
    train.evaluate_only(c, str(tmp_path / "rm"), dataset)
