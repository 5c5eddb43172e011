r"""Clean CIFAR-10 accuracy vs wall time on this machine: the fast network's
frontier (widths x epochs) next to the ResNet-8 ("resnet_small") baseline.

  python experiments/fast_cpu.py                          # the runs in RUNS
  python experiments/fast_cpu.py --runs=airbench_w0.5_e8:0,resnet_small:0
  python experiments/fast_report.py                       # table + plot

Each run is one ``python -m mdr.main`` with clean-only evaluation in
``workdirs/fast_cpu/<run>_seed<k>``; its ``run.json`` is written to
``experiments/results/fast_cpu/<run>/seed<k>/`` when the run starts (command,
commit, whether the code differs from it, machine, load) and completed when
it ends (wall time of the whole process: data loading, compilation, training
and the clean evaluation; whether it resumed). ``clean.json`` (test accuracy
with and without TTA) and ``metrics.jsonl`` are copied next to it. Runs go
one after another: timings are only comparable on an otherwise idle machine,
so the load average at start and end is recorded.
"""

import datetime
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import provenance  # pylint: disable=g-import-not-at-top

REPO = provenance.REPO
# airbench_w<width>_e<epochs> (configs/fast.py:cpu with that width and
# length) or resnet_small (configs/clean.py:cpu_resnet8, the ResNet-8 baseline).
# The frontier of experiments/fast_cpu.md: each width at the epochs that fit
# about 30 minutes here, and the ResNet-8 baseline.
RUNS = ("resnet_small:0,airbench_w0.25_e8:0,airbench_w0.5_e8:0,"
        "airbench_w0.5_e10:0,airbench_w0.75_e5.5:0,airbench_w1_e3:0")
_RUNS = flags.DEFINE_string("runs", RUNS, "run:seed,...")
_ZIP = flags.DEFINE_string("zip", os.path.join(REPO, "..", "shared", "data",
                                               "cifar10-jpeg.zip"),
                           "CIFAR-10 image-folder zip.")
_OUT = flags.DEFINE_string("out", os.path.join(REPO, "experiments", "results",
                                               "fast_cpu"), "Results root.")
_WORKDIRS = flags.DEFINE_string("workdirs", os.path.join(REPO, "workdirs",
                                                         "fast_cpu"),
                                "Root of the run directories.")
_DRY = flags.DEFINE_bool("dry_run", False, "Print the commands only.")
_EXTRA = flags.DEFINE_string(
    "extra", "", "Extra flags appended to every run's command (shell "
    "syntax), e.g. evaluation suites: "
    "--extra=\"--config.eval.suites='(\\\"clean\\\",)'\"")

_AIRBENCH = re.compile(
    r"^airbench_w([0-9.]+)_e([0-9.]+)(?:_rm([0-9.]+)|_([a-z0-9_]+))?$")

# Training objectives other than clean (mdr.objectives) as run-name suffixes:
# the config and the flags of each setting.
OBJECTIVES = {
    "fgsm_rs": ["--config=configs/fgsm_rs.py:cpu"],
    "pgd_at": ["--config=configs/pgd_at.py:cpu"],
    "m2at_square_mixup": ["--config=configs/m2at.py:cpu",
                          "--config.train.m2at.mask=square",
                          "--config.train.m2at.mix=mixup"],
    "m2at_pixels_cutmix": ["--config=configs/m2at.py:cpu",
                           "--config.train.m2at.mask=pixels",
                           "--config.train.m2at.mix=cutmix"],
}


def command(run, seed, data_zip, workdir, extra_flags=()):
  """The ``python -m mdr.main`` argv of a run name.

  ``airbench_w<width>_e<epochs>``: configs/fast.py:cpu at that width and
  length; with ``_rm<drop>``: configs/random_mask.py:cpu (the same network
  and recipe with fixed random masks of that drop ratio on the shallow
  stages); with ``_<objective>`` (a key of ``OBJECTIVES``): that training
  objective's ``:cpu`` config (the same network and recipe);
  ``resnet_small``: configs/clean.py:cpu_resnet8.
  """
  m = _AIRBENCH.match(run)
  if m and m.group(4) is not None and m.group(4) not in OBJECTIVES:
    raise app.UsageError(f"--runs: {run!r}: objective {m.group(4)!r} is not "
                         f"known: use one of {sorted(OBJECTIVES)}")
  if m:
    width, epochs = float(m.group(1)), float(m.group(2))
    cfg = ["--config=configs/fast.py:cpu"]
    if m.group(3) is not None:
      cfg = ["--config=configs/random_mask.py:cpu"]
    elif m.group(4) is not None:
      cfg = OBJECTIVES[m.group(4)]
    extra = [*cfg, f"--config.model.width={width}",
             f"--config.train.epochs={epochs}",
             f"--config.optim.warmup_epochs={0.23 * epochs:.4f}"]
    if m.group(3) is not None:
      extra.append(f"--config.model.random_mask.drop={float(m.group(3))}")
  elif run == "resnet_small":
    extra = ["--config=configs/clean.py:cpu_resnet8",
             "--config.eval.suites=('clean',)"]
  else:
    raise app.UsageError(f"--runs: {run!r} is not known: use "
                         f"airbench_w<width>_e<epochs>[_rm<drop>|_<objective>] or "
                         f"resnet_small")
  return [sys.executable, "-m", "mdr.main", *extra,
          f"--config.data.path={data_zip}", f"--config.seed={seed}",
          f"--workdir={workdir}", *extra_flags]


def short(cmd):
  return "python " + shlex.join(cmd[1:]).replace(REPO + os.sep, "").replace(
      os.path.dirname(REPO) + os.sep, "../")


def write(path, record):
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(record, f, indent=1)
  os.replace(tmp, path)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  data_zip = os.path.abspath(_ZIP.value)
  if not os.path.isfile(data_zip):
    sys.exit(f"error: --zip={data_zip!r} does not exist: pass the CIFAR-10 "
             "image-folder zip (../shared/data/cifar10-jpeg.zip)")
  runs = []
  for item in _RUNS.value.split(","):
    run, _, seed = item.strip().partition(":")
    if not seed.isdigit():
      raise app.UsageError(f"--runs: {item!r} needs a seed, e.g. {run}:0")
    runs.append((run, int(seed)))
  info = provenance.machine()
  for i, (run, seed) in enumerate(runs):
    out = os.path.join(os.path.abspath(_OUT.value), run, f"seed{seed}")
    path = os.path.join(out, "run.json")
    if os.path.exists(path) and json.load(open(path)).get("status") == "done":
      print(f"[{i + 1}/{len(runs)}] {run} seed {seed}: done, skipped",
            flush=True)
      continue
    workdir = os.path.join(os.path.abspath(_WORKDIRS.value),
                           f"{run}_seed{seed}")
    cmd = command(run, seed, data_zip, workdir, shlex.split(_EXTRA.value))
    print(f"[{i + 1}/{len(runs)}] {run} seed {seed}: {short(cmd)}", flush=True)
    if _DRY.value:
      continue
    commit, dirty = provenance.git_commit()
    ckpts = os.path.join(workdir, "checkpoints")
    resumed_from = None
    if os.path.isdir(ckpts):
      steps = [int(s) for s in os.listdir(ckpts) if s.isdigit()]
      resumed_from = max(steps) if steps else None
    os.makedirs(out, exist_ok=True)
    record = {
        "run": run, "seed": seed, "command": short(cmd), "commit": commit,
        "code_dirty": dirty, "status": "running",
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "resumed_from_step": resumed_from,
        "load_avg_1min_start": round(os.getloadavg()[0], 2), "machine": info,
    }
    write(path, record)
    start = time.time()
    proc = subprocess.run(cmd, cwd=REPO, check=False)
    wall = time.time() - start
    if proc.returncode:
      record.update(status=f"failed (exit {proc.returncode})",
                    wall_s=round(wall, 1))
      write(path, record)
      sys.exit(f"error: {run} seed {seed} exited {proc.returncode}; rerun "
               "this script to resume it")
    for name in ("metrics.jsonl", "config.json"):
      shutil.copy(os.path.join(workdir, name), out)
    for name in sorted(os.listdir(os.path.join(workdir, "eval"))):
      if name.endswith((".json", ".md", ".png")):
        shutil.copy(os.path.join(workdir, "eval", name), out)
    record.update(
        status="done", wall_s=round(wall, 1),
        load_avg_1min_end=round(os.getloadavg()[0], 2),
        finished=datetime.datetime.now().isoformat(timespec="seconds"))
    write(path, record)
    acc = json.load(open(os.path.join(out, "clean.json")))["accuracy"]
    print(f"[{i + 1}/{len(runs)}] {run} seed {seed}: {wall / 60:.1f} min, "
          f"clean {acc:.2f} %", flush=True)


if __name__ == "__main__":
  app.run(main)
