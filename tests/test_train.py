"""End to end: train_and_evaluate on tiny synthetic data, resume, devices."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, tiny_config
from mdr import train

SCHEMA = {"attack", "fill", "ratio", "hidden_pixels", "accuracy", "std", "n"}


def _read(path):
  with open(path) as f:
    return json.load(f)


def _metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("run") / "wd")
  result = train.train_and_evaluate(tiny_config(), workdir)
  return workdir, result


def test_end_to_end_writes_everything(trained):
  workdir, result = trained
  assert result["step"] == 8
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) >= ["4", "8"]
  config = _read(os.path.join(workdir, "config.json"))
  assert config["model"]["name"] == "resnet_tiny"
  logs = _metrics(workdir)
  assert [m["step"] for m in logs] == [4, 8]
  for m in logs:
    assert {"loss", "accuracy", "learning_rate", "l2_grads",
            "l2_params"} <= set(m)
    assert np.isfinite(m["loss"]) and 0 <= m["accuracy"] <= 100
  assert any(n.startswith("events.out.tfevents")
             for n in os.listdir(os.path.join(workdir, "tb")))

  eval_dir = os.path.join(workdir, "eval")
  for name in ("mask_sweep", "sparse_pixels"):
    for ext in ("json", "md", "png"):
      assert os.path.getsize(os.path.join(eval_dir, f"{name}.{ext}")) > 0
  sweep = _read(os.path.join(eval_dir, "mask_sweep.json"))
  assert {(r["attack"], r["ratio"]) for r in sweep} == {
      (a, r) for a in ("alpha", "beta", "gamma", "alpha_pixels")
      for r in (0.0, 0.1)}
  for r in sweep:
    assert set(r) == SCHEMA
    assert r["n"] == 96 and 0 <= r["accuracy"] <= 100 and r["std"] >= 0
    # 10% of 32x32: squares are 10x10 = 100 pixels, scattered 102 pixels.
    want = {0.0: 0, 0.1: 100 if r["attack"] in ("alpha", "beta") else 102}
    assert r["hidden_pixels"] == want[r["ratio"]]
    # Accuracy is a count over 96 images, averaged over the draws.
    draws = 2 if r["attack"] in ("beta", "gamma") else 1
    count = r["accuracy"] * 96 / 100 * draws
    assert abs(count - round(count)) < 1e-6
  clean = {r["accuracy"] for r in sweep if r["ratio"] == 0}
  assert len(clean) == 1  # ratio 0 hides nothing, whatever the attack
  alpha = {r["ratio"]: r for r in sweep if r["attack"] == "alpha"}
  assert alpha[0.1]["std"] == 0  # deterministic attack
  sparse = _read(os.path.join(eval_dir, "sparse_pixels.json"))
  assert [r["ratio"] for r in sparse] == [0.0, 0.5, 0.9]
  assert [r["hidden_pixels"] for r in sparse] == [0, 512, 922]
  assert all(set(r) == SCHEMA and r["attack"] == "gamma" for r in sparse)
  table = open(os.path.join(eval_dir, "mask_sweep.md")).read()
  assert "| mask ratio | α (salient square) | β (random square) |" in table
  assert "| 10 % |" in table


def test_resume_after_interruption_equals_uninterrupted(trained, tmp_path):
  workdir, result = trained
  # An interrupted run: the same command, stopped after the step-4
  # checkpoint (we drop what came later), then rerun.
  resumed = str(tmp_path / "resumed")
  shutil.copytree(workdir, resumed)
  shutil.rmtree(os.path.join(resumed, "checkpoints", "8"))
  shutil.rmtree(os.path.join(resumed, "eval"))
  again = train.train_and_evaluate(tiny_config(), resumed)
  assert again["step"] == 8
  for key in ("loss", "accuracy", "l2_params"):
    assert again[key] == result[key], key  # bitwise on CPU
  for name in ("mask_sweep.json", "sparse_pixels.json"):
    assert _read(os.path.join(resumed, "eval", name)) == _read(
        os.path.join(workdir, "eval", name))


def test_refuses_workdir_of_another_config(trained, tmp_path):
  workdir, _ = trained
  other = str(tmp_path / "other")
  shutil.copytree(workdir, other)
  before = sorted(os.listdir(os.path.join(other, "checkpoints")))
  with pytest.raises(ValueError, match="model.name: 'resnet_tiny' -> "
                     "'resnet_small'"):
    train.train_and_evaluate(tiny_config(**{"model.name": "resnet_small"}),
                             other)
  assert sorted(os.listdir(os.path.join(other, "checkpoints"))) == before


_EIGHT_DEVICES = r"""
import json, sys
sys.path.insert(0, {tests!r})
import jax
from conftest import tiny_config
from mdr import train
assert jax.device_count() == 8, jax.devices()
r = train.train_and_evaluate(tiny_config(**{{"eval.attacks": ("gamma",)}}),
                             {workdir!r})
print("RESULT", json.dumps({{k: r[k] for k in ("loss", "accuracy",
                                                 "l2_params")}}))
"""


@pytest.mark.slow
def test_eight_simulated_devices_match_one(tmp_path):
  runs = {}
  for devices in (1, 8):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count"
               f"={devices}", JAX_PLATFORMS="cpu")
    code = _EIGHT_DEVICES.replace("== 8", f"== {devices}").format(
        tests=os.path.join(REPO, "tests"), workdir=str(tmp_path / str(devices)))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT")][0]
    runs[devices] = json.loads(line.split(" ", 1)[1])
    runs[devices]["sweep"] = _read(str(tmp_path / str(devices) / "eval" /
                                       "mask_sweep.json"))
  one, eight = runs[1], runs[8]
  np.testing.assert_allclose(eight["loss"], one["loss"], rtol=1e-4)
  np.testing.assert_allclose(eight["l2_params"], one["l2_params"], rtol=1e-4)
  # Eval masks depend on (seed, draw, example), not on the device layout.
  for a, b in zip(one["sweep"], eight["sweep"]):
    assert a["hidden_pixels"] == b["hidden_pixels"]
    assert abs(a["accuracy"] - b["accuracy"]) <= 100 / 96 + 1e-9


def test_mixed_share_rounding_to_zero_masks_nothing():
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  tc = tiny_config(**{"train.mixed_share": 0.001}).train
  images = jax.random.uniform(jax.random.key(0), (32, 8, 8, 3))
  out = train.mask_training_batch(tc, jax.random.key(1), images,
                                  jnp.zeros(32, jnp.int32), None, None)
  np.testing.assert_array_equal(out, images)
  tc = tiny_config(**{"train.mode": "masked",
                      "train.mask_types": ("gamma",)}).train
  out = train.mask_training_batch(tc, jax.random.key(1), images,
                                  jnp.zeros(32, jnp.int32), None, None)
  hidden = np.asarray((out == 0).all(-1)).sum((1, 2))
  ratio_max = tc.ratio_max
  assert (hidden <= round(ratio_max * 64)).all() and hidden.max() > 0
