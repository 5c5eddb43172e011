"""The evaluator registry: its contract for every entry, and a throwaway
evaluator that reaches a run with no file edited but its own."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config, validate
from mdr import attacks
from mdr import batches
from mdr import config as config_lib
from mdr import data as data_lib
from mdr import evaluate
from mdr import evaluators
from mdr import train
from test_eval_attacks import StubModel


@pytest.fixture(scope="module")
def shapes():
  return data_lib.synthetic(128, 64, seed=0)


def _field(ec, dotted):
  for part in dotted.split("."):
    ec = ec[part]
  return ec


@pytest.mark.parametrize("name", evaluators.names())
def test_every_entry_keeps_the_contract(name):
  """Documented, its fields exist in the base config, the defaults pass its
  own check, its stream is its own (no two entries draw the same keys)."""
  entry = evaluators.get(name)
  assert entry.name == name and entry.doc and entry.files
  ec = config_lib.base_config().eval
  for f in entry.fields:
    _field(ec, f)   # raises if the field is not in the base config
  if entry.check:
    entry.check(config_lib.base_config())
  streams = [e.stream if e.stream is not None else attacks.salt(e.name)
             for e in evaluators.REGISTRY.values()
             if e.stream != evaluators.registry.ROOT]
  assert len(streams) == len(set(streams))


def test_count_over_batches_is_exact_with_a_padded_last_batch():
  labels = jnp.arange(37) % 3
  images = jnp.zeros((37, 2, 2, 3), jnp.uint8)

  def fn(images, labels, start, size):
    _, y, idx, valid = batches.padded_batch(images, labels, start, size, 37)
    return jnp.sum((y == 0) & valid), jnp.sum(jnp.where(valid, idx, 0))

  for batch in (1, 5, 16, 37, 64):
    zeros, idx_sum = batches.count_over_batches(fn, 37, batch, images, labels)
    assert int(zeros) == 13 and int(idx_sum) == sum(range(37))


def test_a_throwaway_evaluator_needs_one_file_and_no_other_edit(shapes,
                                                                tmp_path):
  """An evaluator defined here (as a new module would define it) runs when
  eval.suites names it, checks its own settings, draws a stream salted by its
  name, and shares the batched counting loop."""
  seen = {}

  def run(ctx):
    key = ctx.key(entry)
    seen["key"] = jax.random.key_data(key)
    logits_fn = ctx.logits_fn()

    def correct(images, labels, start, size):
      x, y, _, valid = batches.padded_batch(images, labels, start, size, ctx.n)
      flipped = x[:, :, ::-1]
      return jnp.sum((jnp.argmax(logits_fn(flipped), -1) == y) & valid)

    count = batches.count_over_batches(correct, ctx.n, ctx.batch, ctx.images,
                                       ctx.labels)
    result = dict(accuracy=float(count) / ctx.n * 100, n=ctx.n)
    if ctx.write:
      with open(os.path.join(ctx.out, "mirror.json"), "w") as f:
        json.dump(result, f)
    return result

  def check(config):
    if config.eval.batch_size > 4096:
      evaluators.registry.fail("eval.batch_size", config.eval.batch_size,
                               "at most 4096 for the mirror evaluator")

  entry = evaluators.register(evaluators.Evaluator(
      name="mirror", run=run, check=check, doc="accuracy on mirrored images",
      fields=("batch_size",), files=("mirror",)))
  try:
    c = tiny_config(**{"eval.suites": ("clean", "mirror")})
    validate(c)
    with pytest.raises(config_lib.ConfigError, match="mirror evaluator"):
      validate(tiny_config(**{"eval.suites": ("mirror",),
                              "eval.batch_size": 8192}))
    model = StubModel()
    out = evaluate.evaluate(c, str(tmp_path), model, {}, shapes,
                            train.make_mesh())
    got = json.load(open(os.path.join(out, "mirror.json")))
    x = jnp.asarray(shapes.test.images, jnp.float32)[:, :, ::-1] / 255
    want = np.mean(np.argmax(model.apply({}, x), -1) == shapes.test.labels)
    assert got == dict(accuracy=float(want) * 100, n=64)
    root = train.rng_streams(c.seed)["eval"]
    np.testing.assert_array_equal(seen["key"], jax.random.key_data(
        jax.random.fold_in(root, attacks.salt("mirror"))))
  finally:
    evaluators.unregister("mirror")
  with pytest.raises(config_lib.ConfigError, match="registered evaluators"):
    validate(tiny_config(**{"eval.suites": ("mirror",)}))


def test_suites_run_in_the_order_written(shapes, tmp_path, monkeypatch):
  order = []
  for name in ("clean", "mask_sweep"):
    entry = evaluators.get(name)
    monkeypatch.setitem(evaluators.REGISTRY, name, evaluators.Evaluator(
        name=name, run=lambda ctx, n=name: order.append(n), doc=entry.doc,
        files=entry.files))
  evaluate.evaluate(tiny_config(**{"eval.suites": ("mask_sweep", "clean")}),
                    str(tmp_path), StubModel(), {}, shapes, train.make_mesh())
  assert order == ["mask_sweep", "clean"]


def test_every_matrix_column_reads_its_cell_or_says_why_not():
  """Every column of the matrix spec: its evaluator has a table; with no
  result files the cell is empty and names what is missing; with its own
  file the cell is that file's number."""
  from experiments.specs import matrix  # pylint: disable=g-import-not-at-top
  empty = evaluators.Reading(file=lambda stem: None, config={}, run="r",
                             seed=0, shared={"transfer": None})
  for col in matrix.COLUMNS:
    table = evaluators.get(col.evaluator).table
    params = col.kwargs
    assert table.key(params) and table.header(params)
    value, why, mark = table.cell(empty, params)
    assert value is None and why and mark == "", (col, why)
  files = {"clean": {"accuracy": 81.5},
           "mask_sweep": [{"attack": "alpha", "ratio": 0.2, "fill": "zero",
                           "accuracy": 35.0},
                          {"attack": "alpha", "ratio": 0.2, "fill": "mean",
                           "accuracy": 99.0}],
           "robustness": {"records": [
               {"attack": "pgd", "kind": "sweep", "loss": "ce",
                "eps": 8 / 255, "accuracy": 1.0},
               {"attack": "fgsm", "kind": "sweep", "loss": "ce",
                "eps": 8 / 255, "accuracy": 40.0}]}}
  reading = evaluators.Reading(file=files.get, config={"train": {
      "mode": "fgsm_rs"}}, run="r", seed=0, shared={})
  by_key = {evaluators.get(c.evaluator).table.key(c.kwargs): c
            for c in matrix.COLUMNS}
  cell = lambda key: evaluators.get(by_key[key].evaluator).table.cell(
      reading, by_key[key].kwargs)
  assert cell("clean") == (81.5, None, "")
  assert cell("alpha@0.2") == (35.0, None, "")   # the zero fill's
  assert cell("beta@0.2") == (None, "no beta in mask_sweep.json", "")
  # FGSM-trained, robust to FGSM and not to PGD: catastrophic overfitting.
  assert cell("pgd@8") == (1.0, None, "†")
