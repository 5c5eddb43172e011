r"""Train and evaluate the seed's models on CIFAR-10, collect results.

  python experiments/cifar10.py                       # CPU scale: CPU_RUNS
  python experiments/cifar10.py --runs=clean:0,mixed:0
  python experiments/cifar10.py --scale=gpu --zip=data/cifar10-jpeg.zip
  python experiments/cifar10.py --transfer            # after training: transfer

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

Scales (``--scale``): ``cpu`` the ``:cpu`` configs (the fast network at width
0.25, 8 epochs, ``mdr.config.CPU_SCALE``); ``cpu_resnet8`` the ``:cpu_resnet8``
configs (ResNet-8, the first CPU scale: its committed runs were made when
``:cpu`` meant ResNet-8, so their ``run.json`` commands say ``:cpu``);
``gpu`` the ``:gpu`` configs (the full-width fast network, airbench94's
9.9 epochs, bf16: three seeds of clean, masked and mixed in minutes on one
GPU); ``full`` the full configs (ResNet-18, 200 epochs).

``--transfer`` trains nothing: it runs the black-box transfer of the model ×
attack matrix (``python -m mdr.transfer``: PGD-20 at ε 16/255 crafted on every
trained seed of the standard network, ``report_load.STANDARD``, and shown to
every trained model of the scale, on ``--transfer_images`` test images) into
``experiments/results/cifar10_<scale>/transfer/``.

``run.json`` (``provenance.run_step``) is written when a run starts (the
command, the commit, whether the code a run depends on — ``mdr/``,
``configs/``, ``pyproject.toml`` — had uncommitted changes, the machine, the
checkpoint step it resumes from) and completed when it ends (status, wall
time, load). A run whose ``run.json`` says done is skipped.
"""

import os
import shlex
import shutil
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=g-import-not-at-top
import provenance
import transfer_step
from report_load import STANDARD
# pylint: enable=g-import-not-at-top

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
# Order matters when time is short: the three models the seed's claims rest
# on (clean, masked, mixed) seed by seed, then the two other masked models.
CPU_RUNS = ("clean:0,masked:0,mixed:0,clean:1,masked:1,mixed:1,clean:2,"
            "masked:2,mixed:2,masked_all:0,masked_sparse:0,masked_all:1,"
            "masked_sparse:1,masked_all:2,masked_sparse:2")
# The runs behind the ResNet-8 section of experiments/README.md.
RESNET8_RUNS = ("clean:0,mixed:0,masked:0,masked_all:0,clean:1,mixed:1,"
                "masked_sparse:0,clean:2")
GPU_RUNS = ("clean:0,masked:0,mixed:0,clean:1,masked:1,mixed:1,clean:2,"
            "masked:2,mixed:2")
# --scale: the config argument each scale appends to configs/<name>.py.
SCALES = {"cpu": ":cpu", "cpu_resnet8": ":cpu_resnet8", "gpu": ":gpu",
          "full": ""}

_SCALE = flags.DEFINE_enum(
    "scale", "cpu", list(SCALES),
    "cpu: the :cpu configs (the fast network, width 0.25, 8 epochs); "
    "cpu_resnet8: the :cpu_resnet8 configs (ResNet-8, the first CPU scale); "
    "gpu: the :gpu configs (the full-width fast network, 9.9 epochs, bf16); "
    "full: the full configs (ResNet-18, 200 epochs, bf16).")
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
_TRANSFER = flags.DEFINE_bool(
    "transfer", False, "Train nothing: black-box transfer from every trained "
    f"{STANDARD!r} seed onto every trained model of the scale "
    "(cifar10_<scale>/transfer/).")
_TRANSFER_IMAGES = flags.DEFINE_integer(
    "transfer_images", 5000, "--transfer: test images (a fixed subset).")

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
          f"--config={config}{SCALES[scale]}",
          f"--config.data.path={data_zip}", f"--config.seed={seed}",
          f"--workdir={workdir}"] + extra
  if epochs is not None:
    args.append(f"--config.train.epochs={epochs}")
  return args + list(overrides)


def resumed_from_step(workdir):
  """The newest checkpoint step in ``workdir`` (a rerun resumes there)."""
  ckpts = os.path.join(workdir, "checkpoints")
  steps = ([int(s) for s in os.listdir(ckpts) if s.isdigit()]
           if os.path.isdir(ckpts) else [])
  return max(steps) if steps else None


def copy_results(workdir, out):
  """Copies the run's eval files (every fill), config and metrics to out."""
  evals = os.path.join(workdir, "eval")
  names = sorted(n for n in os.listdir(evals)
                 if n.endswith((".json", ".md", ".png")))
  missing = [n for n in ("mask_sweep.json", "sparse_pixels.json")
             if n not in names]
  if missing:
    sys.exit(f"error: {workdir} finished without eval/{missing[0]}")
  for name in names:
    shutil.copy(os.path.join(evals, name), out)
  for name in ("config.json", "metrics.jsonl"):
    if os.path.exists(os.path.join(workdir, name)):
      shutil.copy(os.path.join(workdir, name), out)


def transfer(results, workdirs, data_zip, images):
  """``transfer_step`` for the MDR models of ``results``: from the trained
  STANDARD seeds onto every trained run, into ``results/transfer``; a
  recorded workdir without checkpoints is looked up under ``workdirs``."""
  cmd, out = transfer_step.command(results, "mdr", data_zip, images,
                                   fallback=workdirs)
  transfer_step.run(cmd, out, os.path.dirname(REPO), _DRY.value)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  scale = _SCALE.value
  runs = parse_runs(_RUNS.value or {"cpu": CPU_RUNS, "gpu": GPU_RUNS,
                                    "full": GPU_RUNS,
                                    "cpu_resnet8": RESNET8_RUNS}[scale])
  epochs = _EPOCHS.value
  data_zip = os.path.abspath(_ZIP.value)
  if not os.path.isfile(data_zip):
    sys.exit(f"error: --zip={data_zip!r} does not exist: pass the CIFAR-10 "
             "image-folder zip (../shared/data/cifar10-jpeg.zip)")
  results = os.path.join(os.path.abspath(_OUT.value), f"cifar10_{scale}")
  if _TRANSFER.value:
    transfer(results, os.path.join(os.path.abspath(_WORKDIRS.value),
                                        f"cifar10_{scale}"),
                  data_zip, _TRANSFER_IMAGES.value)
    return
  for i, (model, seed) in enumerate(runs):
    out = os.path.join(results, model, f"seed{seed}")
    if provenance.is_done(os.path.join(out, "run.json")):
      print(f"[{i + 1}/{len(runs)}] {model} seed {seed}: done, skipped "
            f"({out}/run.json)", flush=True)
      continue
    workdir = os.path.join(os.path.abspath(_WORKDIRS.value),
                           f"cifar10_{scale}", f"{model}_seed{seed}")
    cmd = command(model, seed, scale, epochs, data_zip, workdir,
                  _OVERRIDES.value)
    short = "python " + shlex.join(cmd[1:]).replace(
        REPO + os.sep, "").replace(os.path.dirname(REPO) + os.sep, "../")
    print(f"[{i + 1}/{len(runs)}] {model} seed {seed}: {short}", flush=True)
    if _DRY.value:
      continue
    start = time.time()
    provenance.run_step(cmd, out, short, after=lambda: copy_results(
        workdir, out), model=model, seed=seed, scale=scale, epochs=epochs,
                        resumed_from_step=resumed_from_step(workdir))
    print(f"[{i + 1}/{len(runs)}] {model} seed {seed}: "
          f"{(time.time() - start) / 60:.1f} min, results in {out}",
          flush=True)


if __name__ == "__main__":
  app.run(main)
