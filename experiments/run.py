r"""The one runner of the experiments: train, evaluate, transfer, report.

  python -m experiments.run --help                      # the groups
  python -m experiments.run --group=mdr --stage=train   # its queue of runs
  python -m experiments.run --group=mdr --stage=train --runs=clean:0,mixed:1
  python -m experiments.run --group=mdr --stage=eval --evaluation=matrix
  python -m experiments.run --group=random_mask --stage=transfer
  python -m experiments.run --stage=report              # every report

An experiment group is data (``experiments/specs/<group>.py``): its runs
(each one ``python -m mdr.main`` with the run's flags), seeds, evaluation
settings, later evaluations and transfer matrix. Every step writes its
``run.json`` when it starts (command, commit, whether the code differs from
it, machine, load) and completes it when it ends; a step whose ``run.json``
says done is skipped, so a rerun resumes where an interruption stopped it
(training itself resumes from the run's checkpoints).

Stages:
  train     each run of ``--runs`` (default: the group's queue) in
            ``workdirs/<group>/<run>_seed<k>``; its eval files, config and
            metrics are copied to ``experiments/results/<group>/<run>/seed<k>/``.
  eval      a later evaluation (``--evaluation``) of the group's finished
            runs, with each run's own training command (its ``run.json``) in
            ``--mode=eval``: into ``<seed>/extra_eval/`` (or the evaluation's
            own directory); suites a finished evaluation ran are skipped. A
            run whose checkpoints are gone is evaluated from the weight store
            (``experiments/weights/<group>/<run>/seed<k>.msgpack``,
            ``--weights``).
  transfer  the group's black-box transfer matrix (``python -m mdr.transfer``).
  report    regenerates ``experiments/README.md``, its ``summary*.json`` and
            ``matrix.json``, and ``experiments/fast_cpu.md``.
"""

import json
import os
import shlex
import shutil
import sys
import time

from absl import app
from absl import flags

from experiments import provenance
from experiments import specs
from experiments.group_results import EXTRA_EVAL
from experiments.group_results import extra_evals

REPO = provenance.REPO
STAGES = ("train", "eval", "transfer", "report")


def _groups_help():
  return "; ".join(f"{g}: {specs.get(g).doc}" for g in specs.names())


_GROUP = flags.DEFINE_enum("group", None, specs.names(),
                           "The experiment group. " + _groups_help())
_STAGE = flags.DEFINE_enum("stage", "train", STAGES, "What to do.")
_RUNS = flags.DEFINE_string("runs", None, "run:seed,... (default: train: "
                            "the group's queue; eval: every finished run).")
_EVALUATION = flags.DEFINE_string(
    "evaluation", None, "--stage=eval: which of the group's later "
    "evaluations (its spec's `evaluations`).")
_DATA = flags.DEFINE_string("data", os.path.join(
    REPO, "..", "shared", "data", "cifar10-jpeg.zip"),
                            "CIFAR-10 image folder or zip.")
_OUT = flags.DEFINE_string("out", os.path.join(REPO, "experiments",
                                               "results"),
                           "Results root (<group results>/<run>/seed<k>/).")
_WORKDIRS = flags.DEFINE_string("workdirs", os.path.join(REPO, "workdirs"),
                                "Root of the run directories (checkpoints).")
_OVERRIDE = flags.DEFINE_multi_string(
    "override", [], "Extra --config.<field>=<value> for every command (one "
    "given here replaces the same flag of the spec).")
_DRY = flags.DEFINE_bool("dry_run", False, "Print the commands only.")


def short(cmd):
  """The command as recorded: ``python ...``, paths relative to the repo."""
  return "python " + shlex.join(cmd[1:]).replace(REPO + os.sep, "").replace(
      os.path.dirname(REPO) + os.sep, "../")


def merge(argv, extra):
  """``argv`` with the flags of ``extra`` replacing those of the same name
  (absl keeps the first of a repeated config override, not the last)."""
  names = {a.partition("=")[0] for a in extra}
  return [a for a in argv if a.partition("=")[0] not in names] + list(extra)


def parse_runs(group, text):
  """'clean:0,mixed:1' -> [('clean', 0), ('mixed', 1)], with clear errors."""
  out = []
  for item in text.split(","):
    run, _, seed = item.strip().partition(":")
    if group.find(run) is None:
      raise app.UsageError(f"--runs: {run!r} is not a run of --group="
                           f"{group.name}: use one of "
                           f"{[r.name for r in group.runs]}")
    if not seed.isdigit():
      raise app.UsageError(f"--runs: {item!r} needs a seed, e.g. {run}:0")
    out.append((run, int(seed)))
  return out


def results_dir(group, root=None):
  return os.path.join(os.path.abspath(root or _OUT.value), group.results)


def workdir(group, run, seed, root=None):
  return os.path.join(os.path.abspath(root or _WORKDIRS.value),
                      group.workdirs, f"{run}_seed{seed}")


def train_command(group, run, seed, data, wd, overrides=()):
  """The ``python -m mdr.main`` argv of one run of the group."""
  argv = [*group.run(run).flags, f"--config.data.path={data}",
          f"--config.seed={seed}", f"--workdir={wd}", *group.flags]
  return [sys.executable, "-m", "mdr.main", *merge(argv, overrides)]


def resumed_from_step(wd):
  """The newest checkpoint step in ``wd`` (a rerun resumes there)."""
  ckpts = os.path.join(wd, "checkpoints")
  steps = ([int(s) for s in os.listdir(ckpts) if s.isdigit()]
           if os.path.isdir(ckpts) else [])
  return max(steps) if steps else None


def copy_results(wd, out):
  """Copies the run's eval files (every fill), config and metrics to out."""
  evals = os.path.join(wd, "eval")
  for name in sorted(os.listdir(evals)):
    if name.endswith((".json", ".md", ".png")):
      shutil.copy(os.path.join(evals, name), out)
  for name in ("config.json", "metrics.jsonl"):
    if os.path.exists(os.path.join(wd, name)):
      shutil.copy(os.path.join(wd, name), out)


def train(group, runs, data):
  for i, (run, seed) in enumerate(runs):
    tag = f"[{i + 1}/{len(runs)}] {run} seed {seed}"
    out = os.path.join(results_dir(group), run, f"seed{seed}")
    if provenance.is_done(os.path.join(out, "run.json")):
      print(f"{tag}: done, skipped ({out}/run.json)", flush=True)
      continue
    wd = workdir(group, run, seed)
    cmd = train_command(group, run, seed, data, wd, _OVERRIDE.value)
    print(f"{tag}: {short(cmd)}", flush=True)
    if _DRY.value:
      continue
    start = time.time()
    provenance.run_step(cmd, out, short(cmd),
                        after=lambda wd=wd, out=out: copy_results(wd, out),
                        group=group.name, run=run, seed=seed,
                        resumed_from_step=resumed_from_step(wd))
    print(f"{tag}: {(time.time() - start) / 60:.1f} min, results in {out}",
          flush=True)


def finished(group):
  """``[(run, seed, seed_dir, run.json record)]`` of the group's finished
  training runs (of its spec's runs; other directories are not its runs)."""
  out = []
  for run, seed_dir, record in provenance.finished_runs(results_dir(group)):
    if group.find(run) is not None:
      out.append((run, int(os.path.basename(seed_dir)[4:]), seed_dir, record))
  return out


def eval_dir(seed_dir, suites, fixed=None):
  """Where an evaluation of ``suites`` goes, or None when it is done: the
  evaluation's own directory (``fixed``), else ``extra_eval/`` unless that
  holds a finished evaluation, else ``extra_eval_<suites>/``; None when a
  finished one already ran every suite of ``suites``."""
  if fixed:
    out = os.path.join(seed_dir, fixed)
    return None if provenance.is_done(os.path.join(out, "run.json")) else out
  done = extra_evals(seed_dir)
  if any(set(suites) <= set(r.get("suites", ())) for _, r in done):
    return None
  first = os.path.join(seed_dir, EXTRA_EVAL)
  if first not in [d for d, _ in done]:
    return first
  return os.path.join(seed_dir, "_".join([EXTRA_EVAL, *suites]))


def eval_command(train_command_text, suites, extra=()):
  """The trained run's argv with ``--mode=eval``, these suites and
  ``extra`` (a flag given here replaces the training command's)."""
  argv = shlex.split(train_command_text)
  if argv[:3] != ["python", "-m", "mdr.main"]:
    raise ValueError(f"not an mdr.main command: {train_command_text!r}")
  new = ["--mode=eval",
         f"--config.eval.suites=({','.join(repr(s) for s in suites)},)",
         *extra]
  return [sys.executable, "-m", "mdr.main", *merge(argv[3:], new)]


def weights_path(group, run, seed):
  """Where the weight store keeps a run's variables."""
  return os.path.join(REPO, "experiments", "weights", group.workdirs, run,
                      f"seed{seed}.msgpack")


def stored_weights(group, run, seed):
  """The run's stored weights (``mdr.weights``), or None."""
  path = weights_path(group, run, seed)
  return path if os.path.exists(path) else None


def evaluate(group, name, runs):
  if name not in group.evaluations:
    raise app.UsageError(f"--evaluation={name!r}: group {group.name!r} has "
                         f"{sorted(group.evaluations) or 'no later evaluations'}")
  spec = group.evaluations[name]
  todo = finished(group)
  if runs is not None:
    known = {(r, s) for r, s, _, _ in todo}
    missing = [f"{r}:{s}" for r, s in runs if (r, s) not in known]
    if missing:
      sys.exit(f"error: not trained (no run.json that says done): {missing}: "
               "train them first (--stage=train)")
    todo = [t for t in todo if (t[0], t[1]) in set(runs)]
  for run, seed, seed_dir, record in todo:
    skip = set(spec.skip(seed_dir)) if spec.skip else set()
    suites = [s for s in spec.suites if s not in skip]
    out = eval_dir(seed_dir, suites, spec.out)
    if out is None or not suites:
      why = (f"{', '.join(sorted(skip))} measured by its own evaluation"
             if not suites else f"{', '.join(suites)} done")
      print(f"{run} seed {seed}: {why}, skipped", flush=True)
      continue
    stored = stored_weights(group, run, seed)
    has_ckpt = os.path.isdir(os.path.join(
        provenance.workdir_of(shlex.split(record["command"])) or "",
        "checkpoints"))
    extra = merge(spec.flags, _OVERRIDE.value)
    if not has_ckpt and stored:
      extra = [*extra, f"--weights={os.path.relpath(stored, REPO)}"]
    elif not has_ckpt and not _DRY.value:
      sys.exit(f"error: {run} seed {seed}: no checkpoints in its workdir and "
               f"no stored weights ({weights_path(group, run, seed)}): "
               "retrain it (--stage=train) first")
    cmd = eval_command(record["command"], suites, extra)
    print(f"{run} seed {seed}: {short(cmd)}  -> {os.path.relpath(out, seed_dir)}/",
          flush=True)
    if _DRY.value:
      continue
    evals = os.path.join(provenance.workdir_of(cmd), "eval")
    prefixes = tuple(s + "." for s in suites) + tuple(
        f + "." for s in suites for f in _files(s))

    def copy(evals=evals, out=out, prefixes=prefixes):
      for fname in sorted(os.listdir(evals)):
        if fname.startswith(prefixes):
          shutil.copy(os.path.join(evals, fname), out)
    provenance.run_step(cmd, out, short(cmd), after=copy, run=run, seed=seed,
                        suites=list(suites), evaluation=name)


def _files(suite):
  from mdr import evaluators  # pylint: disable=g-import-not-at-top
  return evaluators.get(suite).files if suite in evaluators.REGISTRY else ()


def _run_workdir(group_name, run, seed):
  """The checkpoint directory of a trained run of any group: the
  ``--workdir`` its ``run.json`` records when it still holds checkpoints,
  else ``workdirs/<group>/<run>_seed<k>``."""
  group = specs.get(group_name)
  path = os.path.join(results_dir(group), run, f"seed{seed}", "run.json")
  if os.path.exists(path):
    with open(path) as f:
      wd = provenance.workdir_of(shlex.split(json.load(f).get("command", "")))
    if wd and os.path.isdir(os.path.join(wd, "checkpoints")):
      return wd
  return workdir(group, run, seed)


def transfer_command(group, data):
  """(argv, output directory) of the group's transfer matrix."""
  spec = group.transfer
  if spec is None:
    sys.exit(f"error: --group={group.name} has no transfer matrix; groups "
             f"with one: {[g for g in specs.names() if specs.get(g).transfer]}")
  has = lambda w: os.path.isdir(os.path.join(w, "checkpoints"))
  if spec.targets is None:
    targets = [(run, _run_workdir(group.name, run, seed))
               for run, seed, _, _ in finished(group)]
  else:
    targets = [(r, _run_workdir(g, r, s)) for g, r, s in spec.targets]
  if spec.sources is None:
    sources = [w for run, w in targets if group.run(run).role == "standard"]
  else:
    sources = [_run_workdir(g, r, s) for g, r, s in spec.sources]
  if not sources:
    sys.exit(f"error: no finished standard run of --group={group.name} in "
             f"{results_dir(group)}: train one first")
  missing = [w for w in sources if not has(w)]
  if missing and not _DRY.value:
    sys.exit(f"error: transfer sources without checkpoints: {missing}: "
             "train (or retrain) them first")
  left = [w for _, w in targets if not has(w)]
  if left:
    print(f"transfer: targets left out (no checkpoints): {left}", flush=True)
  out = os.path.join(results_dir(group), spec.out)
  cmd = [sys.executable, "-m", "mdr.transfer",
         "--sources=" + ",".join(sources),
         "--targets=" + ",".join(w for _, w in targets if has(w)),
         f"--data={data}", f"--images={spec.images}"]
  if spec.settings:
    cmd.append(f"--settings={','.join(spec.settings)}")
  return cmd + [f"--out={out}"], out


def transfer(group, data):
  cmd, out = transfer_command(group, data)
  if provenance.is_done(os.path.join(out, "run.json")):
    print(f"transfer: done, skipped ({out}/run.json; move {out} away to "
          "redo it over the runs trained since)", flush=True)
    return
  print(f"transfer: {short(cmd)}", flush=True)
  if not _DRY.value:
    provenance.run_step(cmd, out, short(cmd), step="transfer",
                        group=group.name)


def report():
  from experiments import fast_report  # pylint: disable=g-import-not-at-top
  from experiments import report as report_lib  # pylint: disable=g-import-not-at-top
  report_lib.main([sys.argv[0]])
  fast_report.main()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _STAGE.value == "report":
    report()
    return
  if _GROUP.value is None:
    raise app.UsageError(f"--group is needed for --stage={_STAGE.value}: "
                         f"one of {specs.names()}")
  group = specs.get(_GROUP.value)
  data = os.path.abspath(_DATA.value)
  if _STAGE.value in ("train", "transfer") and not os.path.exists(data):
    sys.exit(f"error: --data={data!r} does not exist: pass the CIFAR-10 "
             "image folder or zip (../shared/data/cifar10-jpeg.zip)")
  runs = parse_runs(group, _RUNS.value) if _RUNS.value else None
  if _STAGE.value == "train":
    train(group, runs or list(group.queue), data)
  elif _STAGE.value == "eval":
    if not _EVALUATION.value:
      raise app.UsageError(f"--stage=eval needs --evaluation: one of "
                           f"{sorted(group.evaluations)}")
    evaluate(group, _EVALUATION.value, runs)
  else:
    transfer(group, data)


if __name__ == "__main__":
  app.run(main)
