"""Two processes on localhost with jax.distributed (CPU collectives, gloo)."""

import json
import os
import socket
import subprocess
import sys

import pytest

from conftest import REPO

ARGS = ["--config", "configs/demo.py", "--config.model.name=resnet_tiny",
        "--config.data.synthetic_train=256", "--config.data.synthetic_test=64",
        "--config.train.batch_size=32", "--config.train.steps=6",
        "--config.log_every_steps=3", "--config.checkpoint_every_steps=3",
        "--config.eval.ratios=(0.0,0.1)", "--config.eval.sparse_ratios=(0.0,)",
        "--config.eval.attacks=('alpha','gamma')",
        "--config.eval.batch_size=32"]


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_evaluate_and_write_once(tmp_path):
  workdir = str(tmp_path / "wd")
  port = _free_port()
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)
  procs = [subprocess.Popen(
      [sys.executable, "-m", "mdr.main", *ARGS, f"--workdir={workdir}",
       f"--coordinator=localhost:{port}", "--num_processes=2",
       f"--process_id={i}"], cwd=REPO, env=env, text=True,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
  outs = [p.communicate(timeout=600) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  # Both processes saw the global 2-device mesh.
  assert "2 device(s)" in outs[0][1]
  # One set of checkpoints, logs and results.
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["3", "6"]
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    steps = [json.loads(line)["step"] for line in f]
  assert steps == [3, 6]  # written by process 0 only
  with open(os.path.join(workdir, "eval", "mask_sweep.json")) as f:
    sweep = json.load(f)
  assert len(sweep) == 4 and all(r["n"] == 64 for r in sweep)
  assert len(os.listdir(os.path.join(workdir, "tb"))) == 1
