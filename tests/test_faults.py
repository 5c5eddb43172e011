"""Faults: damaged checkpoints, non-finite training, SIGTERM, determinism."""

import glob
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, tiny_config
from mdr import checkpoint as ckpt_lib
from mdr import train


def _read(path):
  with open(path) as f:
    return f.read()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("faults") / "wd")
  return workdir, train.train_and_evaluate(tiny_config(), workdir)


def _same_results(a, b, names=("mask_sweep.json", "sparse_pixels.json")):
  for name in names:
    assert _read(os.path.join(a, "eval", name)) == _read(
        os.path.join(b, "eval", name)), name


# A resumed copy of the module's run evaluates clean accuracy only: the same
# trained weights give the same clean.json (mask suites: the test above).
_CLEAN_ONLY = {"eval.suites": ("clean",)}


def _same_clean(a, b):
  rec = lambda w: {k: v for k, v in json.loads(_read(os.path.join(
      w, "eval", "clean.json"))).items() if k != "seconds"}
  assert rec(a) == rec(b)


def test_same_config_and_seed_twice_is_identical(run, tmp_path):
  workdir, result = run
  again = str(tmp_path / "again")
  result2 = train.train_and_evaluate(tiny_config(), again)
  assert _read(os.path.join(again, "metrics.jsonl")) == _read(
      os.path.join(workdir, "metrics.jsonl"))
  _same_results(workdir, again)
  assert result2["loss"] == result["loss"]


def _damage(step_dir, how):
  files = sorted((p for p in glob.glob(os.path.join(step_dir, "**"),
                                       recursive=True) if os.path.isfile(p)),
                 key=os.path.getsize, reverse=True)
  assert files
  if how == "truncate":
    for p in files[: max(1, len(files) // 2)]:
      with open(p, "r+b") as f:
        f.truncate(os.path.getsize(p) // 2)
  else:  # half-deleted
    for p in files[::2]:
      os.remove(p)


@pytest.mark.parametrize("how", ["truncate", "delete"])
def test_damaged_newest_checkpoint_resumes_from_previous(run, tmp_path, how,
                                                         caplog):
  workdir, result = run
  copy = str(tmp_path / "copy")
  shutil.copytree(workdir, copy)
  shutil.rmtree(os.path.join(copy, "eval"))
  _damage(os.path.join(copy, "checkpoints", "8"), how)
  caplog.set_level(logging.WARNING)
  again = train.train_and_evaluate(tiny_config(**_CLEAN_ONLY), copy)
  warnings = " ".join(r.getMessage() for r in caplog.records)
  assert "checkpoint at step 8 is damaged" in warnings
  assert "resuming from step 4" in warnings
  assert "damaged_step_8" in os.listdir(os.path.join(copy, "checkpoints"))
  assert again["loss"] == result["loss"]  # retrained 4 -> 8, same batches
  _same_clean(workdir, copy)


def test_all_checkpoints_damaged_refuses_to_restart(run, tmp_path):
  workdir, _ = run
  copy = str(tmp_path / "copy")
  shutil.copytree(workdir, copy)
  for step in ("4", "8"):
    _damage(os.path.join(copy, "checkpoints", step), "truncate")
  before = sorted(os.listdir(os.path.join(copy, "checkpoints")))
  with pytest.raises(ckpt_lib.ResumeError, match=r"tried steps \[8, 4\]"):
    train.train_and_evaluate(tiny_config(), copy)
  assert sorted(os.listdir(os.path.join(copy, "checkpoints"))) == before


def test_non_finite_loss_stops_naming_step_and_keeps_last_good(tmp_path):
  workdir = str(tmp_path / "nan")
  config = tiny_config(**{"optim.learning_rate": 1e12,
                          "optim.warmup_epochs": 0.0,
                          "checkpoint_every_steps": 1, "log_every_steps": 1,
                          "train.steps": 30})
  with pytest.raises(train.NonFiniteError) as e:
    train.train_and_evaluate(config, workdir)
  message = str(e.value)
  bad = int(message.split("at step ")[1].split(" ")[0])
  assert f"the last good checkpoint is step {bad}" in message
  steps = sorted(int(s) for s in os.listdir(os.path.join(workdir,
                                                          "checkpoints")))
  assert steps[-1] == bad
  # The last checkpoint restores, and its parameters are finite.
  import jax  # pylint: disable=g-import-not-at-top
  from mdr import data as data_lib  # pylint: disable=g-import-not-at-top
  dataset = data_lib.load(config.data)
  total, _, sched = train.schedule_and_steps(config, 256)
  model = train.build_model(config, dataset)
  params = model.init(jax.random.key(1), np.zeros((1, 32, 32, 3)))["params"]
  tx = train.make_optimizer(config, sched, params)
  state = train.init_state(model, tx, jax.random.key(1), (32, 32, 3))
  restored = ckpt_lib.restore_latest(ckpt_lib.manager(workdir, config), state)
  assert int(restored["step"]) == bad
  assert all(np.isfinite(np.asarray(x)).all()
             for x in jax.tree.leaves(restored["params"]))


CLI = ["--config", "configs/demo.py", "--config.model.name=resnet_tiny",
       "--config.data.synthetic_train=512", "--config.data.synthetic_test=64",
       "--config.train.batch_size=32", "--config.train.steps=150",
       "--config.log_every_steps=20", "--config.checkpoint_every_steps=50",
       "--config.eval.ratios=(0.0,0.1)", "--config.eval.sparse_ratios=(0.0,)",
       "--config.eval.attacks=('beta','gamma')"]


def _cli(workdir, *extra, **kw):
  return subprocess.Popen([sys.executable, "-m", "mdr.main", *CLI, *extra,
                           f"--workdir={workdir}"], cwd=REPO, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


@pytest.mark.slow
def test_sigterm_saves_and_exits_zero_then_resumes(tmp_path):
  # Clean accuracy only: the resumed weights equal the uninterrupted ones
  # (the last metrics line and clean.json); the mask suites of equal weights
  # are equal (test_same_config_and_seed_twice_is_identical).
  ref, cut = str(tmp_path / "ref"), str(tmp_path / "cut")
  clean_only = "--config.eval.suites=('clean',)"
  proc = _cli(cut, clean_only)
  ckpt = os.path.join(cut, "checkpoints")
  deadline = time.time() + 240
  while time.time() < deadline and not (
      os.path.isdir(ckpt) and any(n.isdigit() for n in os.listdir(ckpt))):
    time.sleep(0.2)
  time.sleep(0.5)
  proc.send_signal(signal.SIGTERM)
  sent = time.time()
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err[-2000:]
  assert time.time() - sent < 30
  stopped = [l for l in err.splitlines() if "after SIGTERM" in l]
  assert stopped, err[-2000:]
  step = int(stopped[0].split("stopped at step ")[1].split(" ")[0])
  assert 0 < step < 150
  assert str(step) in os.listdir(ckpt)
  assert not os.path.exists(os.path.join(cut, "eval"))
  # The same command again finishes, equal to an uninterrupted run.
  for workdir in (cut, ref):
    p = _cli(workdir, clean_only)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-2000:]
  _same_clean(ref, cut)
  last = lambda w: _read(os.path.join(w, "metrics.jsonl")).splitlines()[-1]
  assert json.loads(last(cut)) == json.loads(last(ref))


def test_half_written_checkpoint_is_ignored(run, tmp_path):
  """A kill inside a save leaves only Orbax's temporary directory behind."""
  workdir, result = run
  copy = str(tmp_path / "copy")
  shutil.copytree(workdir, copy)
  shutil.rmtree(os.path.join(copy, "eval"))
  shutil.rmtree(os.path.join(copy, "checkpoints", "8"))
  # What a SIGKILL during the step-8 save leaves: an uncommitted temp dir.
  partial = os.path.join(copy, "checkpoints",
                         "8.orbax-checkpoint-tmp-1763780000000000")
  shutil.copytree(os.path.join(workdir, "checkpoints", "8"), partial)
  _damage(partial, "truncate")
  again = train.train_and_evaluate(tiny_config(**_CLEAN_ONLY), copy)
  assert again["loss"] == result["loss"]
  _same_clean(workdir, copy)
