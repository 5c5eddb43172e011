"""Kill training with SIGKILL at random points, rerun, compare with no kill.

  python -m experiments.preemption                 # 5 kills, demo config shrunk
  python -m experiments.preemption --kills=8 --signal=TERM

Runs ``python -m mdr.main`` once uninterrupted (workdir A), then again in
workdir B where the same command is killed at ``--kills`` random moments
(uniform over 15-60 % of an uninterrupted run's time: start-up, compilation,
training steps and the frequent checkpoint saves, every 10 steps) and rerun each time until it exits 0.
Prints a table of the kills and whether the final eval files and last logged
metrics of B equal those of A exactly (bitwise on CPU).
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

_KILLS = flags.DEFINE_integer("kills", 5, "How many times to kill run B.")
_SIGNAL = flags.DEFINE_enum("signal", "KILL", ["KILL", "TERM"], "Signal.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the kill times.")
_KEEP = flags.DEFINE_string("workdir", "", "Keep workdirs here (default: "
                            "a temporary directory, removed).")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--config", os.path.join(REPO, "configs", "demo.py"),
        "--config.data.synthetic_train=2048", "--config.data.synthetic_test=256",
        "--config.model.name=resnet_tiny", "--config.train.batch_size=64",
        "--config.train.steps=1200", "--config.log_every_steps=20",
        "--config.checkpoint_every_steps=10",
        "--config.eval.ratios=(0.0,0.1,0.2)",
        "--config.eval.sparse_ratios=(0.0,0.5,0.9)"]


TOTAL_STEPS = 1200


def latest(workdir):
  """Newest checkpoint step in workdir (-1 if none)."""
  d = os.path.join(workdir, "checkpoints")
  steps = [int(n) for n in os.listdir(d) if n.isdigit()] if os.path.isdir(
      d) else []
  return max(steps, default=-1)


def command(workdir):
  return [sys.executable, "-m", "mdr.main", f"--workdir={workdir}"] + ARGS


def outputs(workdir):
  out = {}
  for name in ("mask_sweep.json", "sparse_pixels.json"):
    with open(os.path.join(workdir, "eval", name)) as f:
      out[name] = json.load(f)
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    lines = [json.loads(l) for l in f]
  out["last_metrics"] = lines[-1]
  out["logged_steps"] = sorted({l["step"] for l in lines})
  return out


def main(_):
  root = _KEEP.value or tempfile.mkdtemp(prefix="mdr_preempt_")
  a, b = os.path.join(root, "A"), os.path.join(root, "B")
  shutil.rmtree(a, ignore_errors=True)
  shutil.rmtree(b, ignore_errors=True)
  t = time.perf_counter()
  subprocess.run(command(a), cwd=REPO, check=True, capture_output=True)
  full = time.perf_counter() - t
  print(f"uninterrupted run: {full:.1f} s")
  rng = random.Random(_SEED.value)
  sig = getattr(signal, f"SIG{_SIGNAL.value}")
  # Kill points: random training steps, each plus a random fraction of a
  # second, so that some land inside the frequent checkpoint saves.
  targets = sorted(rng.sample(range(20, TOTAL_STEPS - 20, 10), _KILLS.value))
  rows = []
  for i, target in enumerate(targets):
    proc = subprocess.Popen(command(b), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while proc.poll() is None and latest(b) < target:
      time.sleep(0.05)
    jitter = rng.uniform(0.0, 0.3)
    time.sleep(jitter)
    at = latest(b)
    if proc.poll() is None:
      proc.send_signal(sig)
      proc.wait()
      status = f"killed (exit {proc.returncode})"
    else:
      status = f"finished before the kill (exit {proc.returncode})"
    rows.append((i + 1, target, jitter, at, status, latest(b)))
  final = subprocess.run(command(b), cwd=REPO, capture_output=True, text=True)
  print("| kill | target step | + jitter (s) | newest checkpoint at kill | "
        "outcome | newest checkpoint after |")
  print("|---|---:|---:|---:|---|---:|")
  for i, target, jitter, at, status, after in rows:
    print(f"| {i} | {target} | {jitter:.2f} | {at} | {status} | {after} |")
  print(f"final rerun: exit {final.returncode}")
  if final.returncode:
    print(final.stderr[-2000:])
    sys.exit(1)
  oa, ob = outputs(a), outputs(b)
  same = {k: oa[k] == ob[k] for k in oa}
  print("identical to the uninterrupted run:", same)
  if not _KEEP.value:
    shutil.rmtree(root)
  sys.exit(0 if all(same.values()) else 1)


if __name__ == "__main__":
  app.run(main)
