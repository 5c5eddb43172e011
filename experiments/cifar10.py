r"""Train and evaluate the seed's models on CIFAR-10, collect results.

  python experiments/cifar10.py                       # CPU scale: all runs below
  python experiments/cifar10.py --runs=clean:0,mixed:0
  python experiments/cifar10.py --scale=gpu --zip=data/cifar10-jpeg.zip

Each run is one ``python -m mdr.main`` (train, then the mask sweep and the
sparse-pixel curve) in ``workdirs/cifar10_<scale>/<model>_seed<k>`` (git-ignored;
a rerun resumes from its checkpoints), after which its small eval files are
copied to ``experiments/results/cifar10_<scale>/<model>/seed<k>/`` together with
``run.json`` (the exact command, commit, wall time, machine). A run whose
``run.json`` already exists is skipped, so the script can be rerun after an
interruption. Then ``python experiments/report.py`` builds the report.
``--out`` and ``--workdirs`` put a rerun elsewhere, to compare it with the
committed results: ``python experiments/report.py --check=OUT/cifar10_cpu``.

The models (``MODELS``):
  clean       configs/clean.py   no masks in training
  masked      configs/masked.py  every training image masked with gamma
  masked_all  configs/masked.py  every image masked with alpha, beta or gamma
  mixed       configs/mixed.py   half of each batch masked with alpha/beta/gamma
  masked_sparse configs/masked.py every image masked with gamma hiding 0-99 %
                                 (the others hide 0-20 % in training)

``run.json`` records the commit at the start of the run and whether the code
a run depends on (``mdr/``, ``configs/``, ``pyproject.toml``) had uncommitted
changes (``code_dirty``); result files and other experiments do not count.
"""

import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODELS = {
    "clean": ("configs/clean.py", []),
    "masked": ("configs/masked.py", []),
    "masked_all": ("configs/masked.py",
                   ['--config.train.mask_types=("alpha","beta","gamma")']),
    "mixed": ("configs/mixed.py", []),
    # Claim (b) is about classifying from a few visible pixels; the configs
    # above train on at most 20 % hidden, this one on up to 99 % hidden.
    "masked_sparse": ("configs/masked.py", ["--config.train.ratio_max=0.99"]),
}
# Order matters when time is short: one seed of each of the four
# models first, then second seeds, then the extras. These are the runs behind
# experiments/README.md.
CPU_RUNS = ("clean:0,mixed:0,masked:0,masked_all:0,clean:1,mixed:1,"
            "masked_sparse:0,clean:2")
GPU_RUNS = "clean:0,mixed:0,masked:0,masked_all:0,masked_sparse:0"

_SCALE = flags.DEFINE_enum("scale", "cpu", ["cpu", "gpu"],
                           "cpu: the :cpu configs (ResNet-8); gpu: the full "
                           "configs (ResNet-18, bf16).")
_RUNS = flags.DEFINE_string("runs", None, "model:seed,... (default: "
                            f"cpu {CPU_RUNS}; gpu {GPU_RUNS}).")
_EPOCHS = flags.DEFINE_float("epochs", None, "Training epochs (default: "
                             "the config's: 8 at cpu scale, 200 at gpu).")
_ZIP = flags.DEFINE_string("zip", os.path.join(REPO, "..", "shared", "data",
                                               "cifar10-jpeg.zip"),
                           "CIFAR-10 image-folder zip.")
_OVERRIDES = flags.DEFINE_multi_string(
    "override", [], "Extra --config.<field>=<value> for every run.")
_OUT = flags.DEFINE_string("out", os.path.join(REPO, "experiments", "results"),
                           "Results root (cifar10_<scale>/<model>/seed<k>/).")
_WORKDIRS = flags.DEFINE_string("workdirs", os.path.join(REPO, "workdirs"),
                                "Root of the run directories (checkpoints).")
_DRY = flags.DEFINE_bool("dry_run", False, "Print the commands only.")

EVAL_FILES = ("mask_sweep.json", "mask_sweep.md", "mask_sweep.png",
              "sparse_pixels.json", "sparse_pixels.md", "sparse_pixels.png")


def parse_runs(text):
  """'clean:0,mixed:1' -> [('clean', 0), ('mixed', 1)], with clear errors."""
  runs = []
  for item in text.split(","):
    model, _, seed = item.strip().partition(":")
    if model not in MODELS:
      raise app.UsageError(f"--runs: model {model!r} is not known: use one "
                           f"of {sorted(MODELS)}")
    if not seed.isdigit():
      raise app.UsageError(f"--runs: {item!r} needs a seed, e.g. {model}:0")
    runs.append((model, int(seed)))
  return runs


def command(model, seed, scale, epochs, data_zip, workdir, overrides=()):
  config, extra = MODELS[model]
  args = [sys.executable, "-m", "mdr.main",
          f"--config={config}{':cpu' if scale == 'cpu' else ''}",
          f"--config.data.path={data_zip}", f"--config.seed={seed}",
          f"--workdir={workdir}"] + extra
  if epochs is not None:
    args.append(f"--config.train.epochs={epochs}")
  return args + list(overrides)


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from provenance import CODE_PATHS, cpu_model, git_commit, machine, versions  # pylint: disable=g-import-not-at-top,unused-import


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  scale = _SCALE.value
  runs = parse_runs(_RUNS.value or (CPU_RUNS if scale == "cpu" else GPU_RUNS))
  epochs = _EPOCHS.value
  data_zip = os.path.abspath(_ZIP.value)
  if not os.path.isfile(data_zip):
    sys.exit(f"error: --zip={data_zip!r} does not exist: pass the CIFAR-10 "
             "image-folder zip (../shared/data/cifar10-jpeg.zip)")
  results = os.path.join(os.path.abspath(_OUT.value), f"cifar10_{scale}")
  info = machine()
  for i, (model, seed) in enumerate(runs):
    out = os.path.join(results, model, f"seed{seed}")
    if os.path.exists(os.path.join(out, "run.json")):
      print(f"[{i + 1}/{len(runs)}] {model} seed {seed}: done, skipped "
            f"({out}/run.json exists)", flush=True)
      continue
    workdir = os.path.join(os.path.abspath(_WORKDIRS.value),
                           f"cifar10_{scale}", f"{model}_seed{seed}")
    cmd = command(model, seed, scale, epochs, data_zip, workdir,
                  _OVERRIDES.value)
    print(f"[{i + 1}/{len(runs)}] {model} seed {seed}: {' '.join(cmd)}",
          flush=True)
    if _DRY.value:
      continue
    commit, dirty = git_commit()
    ckpts = os.path.join(workdir, "checkpoints")
    resumed = os.path.isdir(ckpts) and bool(os.listdir(ckpts))
    load_start = os.getloadavg()[0]
    start = time.time()
    proc = subprocess.run(cmd, cwd=REPO, check=False)
    wall = time.time() - start
    if proc.returncode:
      sys.exit(f"error: {model} seed {seed} exited {proc.returncode}; rerun "
               "this script to resume it")
    os.makedirs(out, exist_ok=True)
    for name in EVAL_FILES:
      src = os.path.join(workdir, "eval", name)
      if not os.path.exists(src):
        sys.exit(f"error: {model} seed {seed} finished without {src}")
      shutil.copy(src, out)
    shutil.copy(os.path.join(workdir, "config.json"), out)
    record = {
        "model": model, "seed": seed, "scale": scale, "epochs": epochs,
        "command": "python " + shlex.join(cmd[1:]).replace(
            REPO + os.sep, "").replace(os.path.dirname(REPO) + os.sep, "../"),
        "commit": commit, "code_dirty": dirty, "wall_s": round(wall, 1),
        "resumed": resumed,
        "load_avg_1min": [round(load_start, 2),
                          round(os.getloadavg()[0], 2)],
        "finished": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": info,
    }
    if resumed:
      record["wall_s_note"] = ("this invocation only: the run resumed from "
                               "checkpoints of an earlier, interrupted one")
    with open(os.path.join(out, "run.json"), "w") as f:
      json.dump(record, f, indent=1)
    print(f"[{i + 1}/{len(runs)}] {model} seed {seed}: {wall / 60:.1f} min, "
          f"results in {out}", flush=True)


if __name__ == "__main__":
  app.run(main)
