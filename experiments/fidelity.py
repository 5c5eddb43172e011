r"""Is mdr's airbench94 port faithful at full scale? The reference and the port
trained on the same data, side by side.

The reference is Keller Jordan's airbench94 itself (experiments/reference/
airbench94.py: legacy/airbench94.py of KellerJordan/cifar10-airbench, changed
only to run on a CPU in float32 and read a local image zip; every change is
marked "# mdr:"). The port is ``python -m mdr.main --config configs/fast.py``
in float32. Both train 9.9 epochs at full width on the same CIFAR-10 copy.

One run per call, a run at a time (each takes the whole CPU for ~75 min on 2
cores; two at once run at half speed each)::

  pip install torch==2.13.0   # the reference only (CPU build)
  python -m experiments.fidelity --side=reference --seed=0
  python -m experiments.fidelity --side=ours --seed=0
  python -m experiments.fidelity --report      # fidelity.md from the results

Each run writes ``experiments/results/fidelity/<side>/seed<k>/run.json`` when
it starts (commit, dirty state, machine, load) and completes it when it ends;
its figures go in ``result.json`` beside it. ``--report`` reads only finished
runs. ``--epochs`` shortens a run for a smoke test; such runs go under
``fidelity_smoke/`` and never into the report.
"""

import argparse
import datetime
import glob
import json
import os
import shutil
import statistics
import sys

from experiments import provenance

REPO = provenance.REPO
RESULTS = os.path.join(REPO, "experiments", "results", "fidelity")
DATA = os.path.join(os.path.dirname(REPO), "shared", "data",
                    "cifar10-jpeg.zip")
SIDES = ("reference", "ours")
FULL_EPOCHS = 9.9


def _rel(path):
  return os.path.relpath(path, REPO)


def out_dir(side, seed, epochs):
  root = RESULTS if epochs == FULL_EPOCHS else RESULTS + "_smoke"
  return os.path.join(root, side, f"seed{seed}")


def run_reference(seed, data, epochs, out):
  """In this process: trains the reference and writes ``out/result.json``."""
  import torch
  from experiments.reference import airbench94  # needs torch
  airbench94.hyp["opt"]["train_epochs"] = epochs
  airbench94.print_columns(airbench94.logging_columns_list, is_head=True)
  result = airbench94.main(0, data_path=data, seed=seed)
  # The reference's clock (its total_time_seconds): the whitening, the
  # training epochs and the final TTA evaluation, not the per-epoch ones.
  result["timed_seconds_includes"] = "whitening, training, TTA evaluation"
  result.update(side="reference", seed=seed, epochs=epochs,
                torch=torch.__version__, threads=torch.get_num_threads())
  provenance.write_json(os.path.join(out, "result.json"), result)


def ours_command(seed, data, epochs, workdir):
  return [sys.executable, "-m", "mdr.main", "--config=configs/fast.py",
          "--config.model.dtype=float32", f"--config.data.path={data}",
          f"--config.seed={seed}", f"--config.train.epochs={epochs}",
          f"--workdir={workdir}"]


def collect_ours(seed, epochs, workdir, out):
  """Copies the run's small files and writes ``out/result.json``."""
  for name in ("eval/clean.json", "metrics.jsonl", "config.json"):
    if os.path.exists(os.path.join(workdir, name)):
      shutil.copy(os.path.join(workdir, name), out)
  clean = json.load(open(os.path.join(workdir, "eval", "clean.json")))
  metrics = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  train = [m for m in metrics if "accuracy" in m and "step" in m]
  timing = [m for m in metrics if "train_seconds" in m]
  provenance.write_json(os.path.join(out, "result.json"), dict(
      side="ours", seed=seed, epochs=epochs, tta_accuracy=clean["accuracy"],
      tta=clean.get("tta"), accuracy=clean.get("accuracy_no_tta"),
      train_accuracy_last_log=train[-1]["accuracy"] if train else None,
      steps=train[-1]["step"] if train else None,
      train_seconds=timing[-1]["train_seconds"] if timing else None))


def collect(seed, epochs):
  """Completes an ``ours`` step whose training and evaluation finished but
  whose file collection failed (before the fix of ``collect_ours``): the
  files are collected from its workdir, and its ``run.json`` completed with
  the time its evaluation file was written and a ``collected`` note."""
  out = out_dir("ours", seed, epochs)
  path = os.path.join(out, "run.json")
  record = json.load(open(path))
  workdir = os.path.join(REPO, record["workdir"])
  clean = os.path.join(workdir, "eval", "clean.json")
  if record.get("status") == "done" or not os.path.exists(clean):
    sys.exit(f"error: {_rel(out)}: nothing to collect (status "
             f"{record.get('status')!r}, {_rel(clean)} "
             f"{'exists' if os.path.exists(clean) else 'missing'})")
  collect_ours(seed, epochs, workdir, out)
  ended = datetime.datetime.fromtimestamp(os.path.getmtime(clean))
  started = datetime.datetime.fromisoformat(record["started"])
  record.update(
      status="done", finished=ended.isoformat(timespec="seconds"),
      wall_s=round((ended - started).total_seconds(), 1),
      collected=dict(
          command=f"python -m experiments.fidelity --side=ours --seed={seed}"
          " --collect", at=datetime.datetime.now().isoformat(
              timespec="seconds"), commit=provenance.git_commit()[0],
          why="the run trained and evaluated; copying its files failed "
              "(clean.json was looked for beside metrics.jsonl, not in "
              "eval/), so the files were collected afterwards"))
  provenance.write_json(path, record)
  print(f"collected {_rel(out)}")


def run(side, seed, data, epochs):
  out = out_dir(side, seed, epochs)
  if provenance.is_done(os.path.join(out, "run.json")):
    print(f"{_rel(out)} is done already; remove it to run again")
    return
  short = (f"python -m experiments.fidelity --side={side} --seed={seed}"
           + ("" if epochs == FULL_EPOCHS else f" --epochs={epochs}"))
  fields = dict(side=side, seed=seed, epochs=epochs, data=os.path.basename(data))
  if side == "reference":
    cmd = [sys.executable, "-m", "experiments.fidelity", "--child", f"--seed={seed}",
           f"--data={data}", f"--epochs={epochs}", f"--out={out}"]
    provenance.run_step(cmd, out, short, **fields)
  else:
    workdir = os.path.join(REPO, "workdirs", "fidelity", f"ours_seed{seed}"
                           + ("" if epochs == FULL_EPOCHS else "_smoke"))
    provenance.run_step(ours_command(seed, data, epochs, workdir), out, short,
                        after=lambda: collect_ours(seed, epochs, workdir, out),
                        workdir=_rel(workdir), **fields)


def _stats(values):
  values = [v for v in values if v is not None]
  if not values:
    return "–"
  if len(values) == 1:
    return f"{values[0]:.2f}"
  return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def report():
  """``fidelity.md`` from the finished runs."""
  rows, per_seed = [], []
  for side in SIDES:
    runs = []
    for path in sorted(glob.glob(os.path.join(RESULTS, side, "seed*", "run.json"))):
      record = json.load(open(path))
      result_path = os.path.join(os.path.dirname(path), "result.json")
      if provenance.finished(record) and os.path.exists(result_path):
        runs.append((record, json.load(open(result_path))))
    for record, r in runs:
      per_seed.append(
          f"| {side} | {r['seed']} | {r['tta_accuracy']:.2f} | "
          + (f"{r['accuracy']:.2f}" if r.get("accuracy") is not None else "–")
          + " | " + (f"{r['train_seconds'] / 60:.1f}" if r.get("train_seconds")
                     else "–")
          + f" | {record['wall_s'] / 60:.1f} | "
          f"{record['load_avg_1min_start']} / {record.get('load_avg_1min_end', '–')}"
          f" | {record['commit'][:7]}{' (dirty)' if record['code_dirty'] else ''} |")
    rows.append(f"| {side} | {len(runs)} | {_stats([r['tta_accuracy'] for _, r in runs])} | "
                f"{_stats([r.get('accuracy') for _, r in runs])} | "
                f"{_stats([r['train_seconds'] / 60 for _, r in runs if r.get('train_seconds')])} |")
  text = "\n".join([
      "# airbench94: the reference and mdr's port on the same data",
      "",
      "Generated by `python -m experiments.fidelity --report` from "
      "`experiments/results/fidelity/<side>/seed<k>/`. Both sides: full width, "
      "9.9 epochs, batch 1024, float32, on this project's 2-core CPU, "
      "CIFAR-10 (JPEG copy, `../shared/data/cifar10-jpeg.zip`), test split "
      "(10,000 images). The reference: `experiments/reference/airbench94.py` "
      "(Keller Jordan's code, changed only for the CPU, float32 and the data "
      "source). Ours: `python -m mdr.main --config configs/fast.py "
      "--config.model.dtype=float32`. Mean ± std over seeds. Timed: the "
      "reference's own clock (whitening, training and the final TTA "
      "evaluation; its per-epoch test evaluations excluded) and ours "
      "(training only); wall: the whole command, evaluations and data "
      "loading included.",
      "",
      "| side | seeds | TTA accuracy % | accuracy % (no TTA) | timed min |",
      "|---|---:|---:|---:|---:|",
      *rows,
      "",
      "| side | seed | TTA % | no TTA % | timed min | wall min | load start / end | commit |",
      "|---|---:|---:|---:|---:|---:|---|---|",
      *per_seed,
      "",
      *(["– in \"timed\": the run's files do not hold its training time "
         "(ours records it only in its log); its wall time includes other "
         "work on the same 2 cores (the load at its start and end), so it is "
         "no timing. Seeds whose files were collected after the run (`python "
         "-m experiments.fidelity --side=ours --seed=K --collect`, the "
         "`collected` note of their `run.json`) have no load at the end.", ""]
        if any("| – |" in row for row in per_seed) else [])])
  with open(os.path.join(RESULTS, "fidelity.md"), "w") as f:
    f.write(text)
  print(text)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--side", choices=SIDES)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--data", default=DATA, help="CIFAR-10 image folder or zip")
  p.add_argument("--epochs", type=float, default=FULL_EPOCHS,
                 help="shorter for a smoke test (kept out of the report)")
  p.add_argument("--report", action="store_true")
  p.add_argument("--collect", action="store_true",
                 help="complete a finished ours run whose file collection "
                 "failed")
  p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  p.add_argument("--out", help=argparse.SUPPRESS)
  a = p.parse_args()
  if a.child:
    return run_reference(a.seed, a.data, a.epochs, a.out)
  if a.report:
    return report()
  if a.collect:
    return collect(a.seed, a.epochs)
  if not a.side:
    p.error("pass --side=reference or --side=ours (or --report)")
  if not os.path.exists(a.data):
    p.error(f"--data={a.data} does not exist: pass the CIFAR-10 image zip")
  run(a.side, a.seed, os.path.abspath(a.data), a.epochs)


if __name__ == "__main__":
  main()
