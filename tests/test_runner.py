"""experiments.run and experiments/specs: one runner for every group.

The runner's absl flags would clash with other scripts' in this process, so
its command line runs in subprocesses; its pure functions are imported.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap

import pytest

from experiments import provenance
from experiments import run as runner
from experiments import specs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TRAIN = ("python -m mdr.main --config=configs/clean.py:cpu "
         "--config.data.path=../shared/data/cifar10-jpeg.zip --config.seed=0 "
         "--config.eval.robust_images=1000 "
         "--workdir=../main/workdirs/cifar10_cpu/clean_seed0")
# Committed runs made before their group's spec existed, whose recorded
# command differs from the spec's on purpose: the ResNet-8 runs were made
# when ":cpu" meant ResNet-8 (the config is ":cpu_resnet8" now).
RENAMED = {"mdr_resnet8": (":cpu_resnet8", ":cpu")}


def _cli(*args, cwd=REPO):
  return subprocess.run([sys.executable, "-m", "experiments.run", *args],
                        capture_output=True, text=True, timeout=180,
                        cwd=cwd, check=False)


def test_help_lists_every_group_with_its_doc():
  out = _cli("--help")   # absl's --help exits 1 after printing
  assert "Try --helpfull" in out.stdout, out.stderr
  text = " ".join(out.stdout.split())
  for name in specs.names():
    assert name in text
    assert " ".join(specs.get(name).doc.split())[:30] in text


def test_every_committed_run_is_its_specs_command():
  """The spec of each group reproduces the recorded command of every
  finished run under its results directory, flag for flag (paths aside)."""
  checked = 0
  for name in specs.names():
    group = specs.get(name)
    root = os.path.join(REPO, "experiments", "results", group.results)
    for run, seed_dir, record in provenance.finished_runs(root):
      if group.find(run) is None:
        continue   # another group's directory nested here
      seed = int(os.path.basename(seed_dir)[4:])
      strip = lambda argv: {a for a in argv if not a.startswith(
          ("--config.data.path=", "--workdir="))}
      recorded = strip(shlex.split(record["command"])[3:])
      spec = strip(runner.train_command(group, run, seed, "d", "w")[3:])
      if name in RENAMED:
        spec = {a.replace(*RENAMED[name]) for a in spec}
      assert recorded == spec, (name, run, seed, recorded ^ spec)
      checked += 1
  assert checked >= 40


def test_train_command_and_queue():
  group = specs.get("mdr")
  cmd = runner.train_command(group, "masked_all", 3, "/d.zip", "/w")
  assert cmd[1:] == ["-m", "mdr.main", "--config=configs/masked.py:cpu",
                     '--config.train.mask_types=("alpha","beta","gamma")',
                     "--config.data.path=/d.zip", "--config.seed=3",
                     "--workdir=/w"]
  # An override replaces the spec's flag of the same name (absl keeps the
  # first of two), and is added when the spec has none.
  cmd = runner.train_command(specs.get("adversarial"), "airbench_w0.25_e3",
                             0, "d", "w", ["--config.eval.tta=1",
                                           "--config.train.epochs=1"])
  assert [a for a in cmd if a.startswith("--config.eval.tta")] == [
      "--config.eval.tta=1"]
  assert [a for a in cmd if a.startswith("--config.train.epochs")] == [
      "--config.train.epochs=1"]
  assert group.queue[:3] == (("clean", 0), ("masked", 0), ("mixed", 0))
  assert sorted(specs.get("mdr_gpu").queue) == sorted(
      (m, s) for m in ("clean", "masked", "mixed") for s in (0, 1, 2))
  assert runner.parse_runs(group, "clean:0, mixed:1") == [("clean", 0),
                                                           ("mixed", 1)]
  with pytest.raises(Exception, match="'cleen' is not a run of --group=mdr"):
    runner.parse_runs(group, "cleen:0")
  with pytest.raises(Exception, match="needs a seed"):
    runner.parse_runs(group, "clean")


def test_a_group_is_checked_when_registered():
  run = specs.Run("a", ("--config=configs/demo.py",))
  with pytest.raises(ValueError, match="registered twice"):
    specs.register(specs.Group("mdr", "x", "d", "r", "w", (run,), ()))
  with pytest.raises(KeyError, match="has no run 'b'"):
    specs.register(specs.Group("t1", "x", "d", "r", "w", (run,),
                               (("b", 0),)))
  with pytest.raises(ValueError, match="names a run twice"):
    specs.register(specs.Group("t2", "x", "d", "r", "w", (run, run), ()))
  assert "t1" not in specs.names() and "t2" not in specs.names()
  with pytest.raises(KeyError, match="no experiment group 'nope'"):
    specs.get("nope")


# Stands in for `python -m mdr.main`: checks that run.json already exists
# and says "running" with the commit, then writes what a run leaves behind.
FAKE_RUN = textwrap.dedent("""
    import json, os, sys, time
    workdir, run_json = sys.argv[1], sys.argv[2]
    rec = json.load(open(run_json))
    assert rec["status"] == "running", rec
    assert len(rec["commit"]) == 40 and rec["machine"]["cpus"] >= 1, rec
    time.sleep(0.3)  # the wall time must cover the run (rounded to 0.1 s)
    os.makedirs(os.path.join(workdir, "eval"), exist_ok=True)
    for name in ("metrics.jsonl", "config.json"):
      open(os.path.join(workdir, name), "w").write("{}")
    json.dump({"accuracy": 12.5}, open(os.path.join(workdir, "eval",
                                                    "clean.json"), "w"))
    for name in ("mask_sweep.json", "sparse_pixels.json",
                 "mask_sweep_mean.json"):
      open(os.path.join(workdir, "eval", name), "w").write("[]")
""")

DRIVER = textwrap.dedent("""
    import os, sys
    from absl import app
    from experiments import run
    def command(group, name, seed, data, workdir, overrides=()):
      out = os.path.join({out!r}, group.results, name, f"seed{{seed}}")
      return [sys.executable, "-c", {fake!r}, workdir,
              os.path.join(out, "run.json")]
    run.train_command = command
    sys.argv = ["run.py", "--group=mdr", "--runs=mixed:2", "--out=" + {out!r},
                "--workdirs=" + {workdirs!r}, "--data=" + {data!r}]
    app.run(run.main)
""")


def _drive(tmp_path):
  out, workdirs = str(tmp_path / "out"), str(tmp_path / "wd")
  data = tmp_path / "data.zip"
  data.write_bytes(b"")
  code = DRIVER.format(out=out, workdirs=workdirs, data=str(data),
                       fake=FAKE_RUN)
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, cwd=REPO, check=False, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  path = os.path.join(out, "cifar10_cpu", "mixed", "seed2")
  return json.load(open(os.path.join(path, "run.json"))), path


def test_train_writes_run_json_at_start_and_completes_it(tmp_path):
  head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO,
                        capture_output=True, text=True).stdout.strip()
  rec, path = _drive(tmp_path)
  assert rec["status"] == "done" and rec["commit"] == head
  assert rec["group"] == "mdr" and rec["run"] == "mixed" and rec["seed"] == 2
  assert rec["resumed_from_step"] is None and rec["wall_s"] >= 0.3
  assert rec["started"] <= rec["finished"]
  assert isinstance(rec["code_dirty"], bool)
  assert sorted(os.listdir(path)) == sorted([
      "run.json", "config.json", "metrics.jsonl", "clean.json",
      "mask_sweep.json", "mask_sweep_mean.json", "sparse_pixels.json"])
  assert json.load(open(os.path.join(path, "clean.json")))["accuracy"] == 12.5
  # Done: skipped. Resumed: says from which step.
  rec2, _ = _drive(tmp_path)
  assert rec2 == rec
  os.makedirs(tmp_path / "wd" / "cifar10_cpu" / "mixed_seed2" / "checkpoints"
              / "96")
  os.remove(os.path.join(path, "run.json"))
  rec, _ = _drive(tmp_path)
  assert rec["status"] == "done" and rec["resumed_from_step"] == 96


def test_eval_command_replaces_the_training_flags_it_sets():
  cmd = runner.eval_command(TRAIN, ["robustness", "patch"],
                            ["--config.eval.robust_images=500"])
  assert cmd[1:3] == ["-m", "mdr.main"]
  assert "--mode=eval" in cmd
  assert "--config.eval.suites=('robustness','patch',)" in cmd
  assert [a for a in cmd if a.startswith("--config.eval.robust_images")] == [
      "--config.eval.robust_images=500"]
  for kept in ("--config=configs/clean.py:cpu", "--config.seed=0",
               "--workdir=../main/workdirs/cifar10_cpu/clean_seed0"):
    assert kept in cmd
  with pytest.raises(ValueError, match="not an mdr.main command"):
    runner.eval_command("python train.py", ["patch"])


def _trained(root, group, run, seed, workdir, checkpoints=True,
             status="done"):
  d = (root / "experiments" / "results" / specs.get(group).results / run /
       f"seed{seed}")
  d.mkdir(parents=True)
  if checkpoints:
    (workdir / "checkpoints").mkdir(parents=True)
  (d / "run.json").write_text(json.dumps({
      "status": status, "command": "python -m mdr.main "
      f"--config=configs/fast.py:cpu --workdir={workdir}"}))
  return d


def _robustness(seed_dir, n, eps255=8, steps=20):
  (seed_dir / "robustness.json").write_text(json.dumps({"n": n, "records": [
      {"attack": "pgd", "eps": eps255 / 255, "accuracy": 30.0, "n": n,
       "steps": steps, "loss": "ce", "kind": "sweep"}]}))


def _eval_cli(tmp_path, *args):
  return _cli("--stage=eval", "--dry_run",
              f"--out={tmp_path / 'experiments' / 'results'}",
              f"--workdirs={tmp_path / 'w'}", *args)


def test_matrix_evaluation_skips_pgd_the_run_measured(tmp_path):
  """The matrix evaluation runs the robustness suite only where the run's
  own robustness.json lacks the matrix's cell (PGD-20 at 8/255, 500)."""
  e3 = "airbench_w0.25_e3"
  runs = {e3: (500, 8, 20), f"{e3}_fgsm_rs": (1000, 8, 20),
          f"{e3}_pgd_at": (500, 2, 20),
          f"{e3}_m2at_square_mixup": (500, 8, 10),
          f"{e3}_m2at_pixels_cutmix": None}
  for run, setting in runs.items():
    d = _trained(tmp_path, "adversarial", run, 0, tmp_path / "w" / run)
    if setting:
      _robustness(d, *setting)
  out = _eval_cli(tmp_path, "--group=adversarial", "--evaluation=matrix")
  assert out.returncode == 0, out.stderr
  lines = dict(l.split(" seed 0: ", 1) for l in out.stdout.strip().split("\n"))
  assert "--config.eval.suites=('patch',)" in shlex.split(lines[e3])
  both = "--config.eval.suites=('robustness','patch',)"
  for run in list(runs)[1:]:
    assert both in shlex.split(lines[run])
    assert "--config.eval.robust_images=500" in shlex.split(lines[run])
  out = _eval_cli(tmp_path, "--group=adversarial", "--evaluation=nope")
  assert out.returncode != 0 and "'matrix'" in out.stderr
  out = _eval_cli(tmp_path, "--group=adversarial", "--evaluation=matrix",
                  f"--runs={e3}:1")
  assert out.returncode == 1 and "not trained" in out.stderr


def test_a_run_without_checkpoints_is_evaluated_from_the_weight_store(
    tmp_path):
  """The committed clean seed 0 of the mdr group: no workdir here, its
  weights in the store: the evaluation command evaluates those."""
  out = _cli("--stage=eval", "--dry_run", "--group=mdr",
             "--evaluation=strong", "--runs=clean:0",
             f"--workdirs={tmp_path}")
  assert out.returncode == 0, out.stderr
  argv = shlex.split(out.stdout.strip().partition(": ")[2].rpartition(
      "  -> ")[0])
  assert "--weights=experiments/weights/cifar10_cpu/clean/seed0.msgpack" in argv
  assert "--mode=eval" in argv


def test_a_later_suite_is_added_beside_a_finished_evaluation(tmp_path):
  """A finished extra_eval/ skips only the suites it ran: others go to
  extra_eval_<suites>/ (nothing written is replaced), and group_results.load
  reads both, the later file over the earlier one of the same name."""
  from experiments import group_results  # pylint: disable=g-import-not-at-top
  seed = _trained(tmp_path, "mdr", "clean", 0, tmp_path / "w" / "c")
  (seed / "clean.json").write_text(json.dumps({"accuracy": 40.0}))

  def evaluated(name, suites, finished, files):
    (seed / name).mkdir()
    (seed / name / "run.json").write_text(json.dumps(
        {"status": "done", "suites": suites, "finished": finished}))
    for f, value in files.items():
      (seed / name / f"{f}.json").write_text(json.dumps({"value": value}))

  def target(*suites):
    out = runner.eval_dir(str(seed), list(suites))
    return None if out is None else os.path.basename(out)

  assert target("patch") == "extra_eval"
  evaluated("extra_eval", ["patch"], "2026-01-01T10:00:00",
            {"patch": 1, "robustness": 1})
  assert target("patch") is None
  assert target("pgd_strong") == "extra_eval_pgd_strong"
  assert target("pgd_strong", "patch") == "extra_eval_pgd_strong_patch"
  evaluated("extra_eval_pgd_strong", ["pgd_strong"], "2026-01-02T10:00:00",
            {"pgd_strong": 2, "robustness": 2})
  assert target("pgd_strong") is None and target("patch") is None
  (seed / "extra_eval_robustness").mkdir()
  (seed / "extra_eval_robustness" / "run.json").write_text(json.dumps(
      {"status": "running", "suites": ["robustness"]}))
  (seed / "extra_eval_robustness" / "robustness.json").write_text(
      json.dumps({"value": 3}))
  assert target("robustness") == "extra_eval_robustness"
  rec = group_results.load(str(seed.parent.parent))["clean"][0]
  assert {k: (rec[k] or {}).get("value") for k in
          ("patch", "pgd_strong", "robustness")} == {
              "patch": 1, "pgd_strong": 2, "robustness": 2}
  # An evaluation with its own directory is done once its run.json says so.
  assert target_fixed(seed) == "attacks"
  (seed / "attacks").mkdir()
  (seed / "attacks" / "run.json").write_text(json.dumps({"status": "done"}))
  assert target_fixed(seed) is None


def target_fixed(seed):
  out = runner.eval_dir(str(seed), ["clean"], "attacks")
  return None if out is None else os.path.basename(out)


def test_transfer_from_the_groups_standard_runs_onto_all_of_them(tmp_path):
  """Sources = the group's standard runs, targets = every finished run of
  the group, by the workdirs their run.json records (else the group's
  workdirs); a source without checkpoints stops it with its path; an
  explicit spec (random_mask) names its sources across groups."""
  e3 = "airbench_w0.25_e3"
  wds = tmp_path / "rec"
  for run, seed in ((e3, 0), (f"{e3}_pgd_at", 0), (f"{e3}_pgd_at", 1)):
    _trained(tmp_path, "adversarial", run, seed, wds / f"{run}_seed{seed}")
  _trained(tmp_path, "adversarial", f"{e3}_fgsm_rs", 0, wds / "f",
           status="running")

  def transfer(group):
    return _cli("--stage=transfer", "--dry_run", f"--group={group}",
                f"--out={tmp_path / 'experiments' / 'results'}",
                f"--workdirs={tmp_path / 'w'}", f"--data={tmp_path}")
  out = transfer("adversarial")
  assert out.returncode == 0, out.stderr
  argv = shlex.split(out.stdout.strip().split("\n")[-1].partition(": ")[2])
  assert argv[:3] == ["python", "-m", "mdr.transfer"]
  flag = lambda name: [a.partition("=")[2] for a in argv
                       if a.startswith(f"--{name}=")][0].split(",")
  assert [os.path.basename(s) for s in flag("sources")] == [f"{e3}_seed0"]
  assert [os.path.basename(s) for s in flag("targets")] == [
      f"{e3}_seed0", f"{e3}_pgd_at_seed0", f"{e3}_pgd_at_seed1"]
  assert flag("settings") == ["pgd16"] and flag("images") == ["5000"]
  assert flag("out")[0].endswith(os.path.join("cifar10_cpu", "adversarial",
                                              "transfer"))
  # The recorded workdir lost its checkpoints: the group's workdir is used.
  shutil.rmtree(wds / f"{e3}_pgd_at_seed1" / "checkpoints")
  out = transfer("adversarial")
  assert out.returncode == 0, out.stderr
  assert (f"targets left out (no checkpoints): ['{tmp_path}/w/adversarial/"
          f"{e3}_pgd_at_seed1']") in out.stdout
  out = transfer("random_mask")
  assert out.returncode == 0, out.stderr
  argv = shlex.split(out.stdout.strip().split("\n")[-1].partition(": ")[2])
  assert [os.path.relpath(s, tmp_path / "w") for s in flag("sources")] == [
      "random_mask/airbench_w0.25_e8_seed0",
      "random_mask/airbench_w0.25_e8_seed1", "fast_cpu/resnet_small_seed0"]
  assert not any(a.startswith("--settings=") for a in argv)
  out = _cli("--stage=transfer", "--group=random_mask",
             f"--out={tmp_path / 'experiments' / 'results'}",
             f"--workdirs={tmp_path / 'w'}", f"--data={tmp_path}")
  assert out.returncode == 1
  assert "sources without checkpoints" in out.stderr
  out = _cli("--stage=transfer", "--group=frontier", "--dry_run",
             f"--data={tmp_path}")
  assert out.returncode == 1 and "has no transfer matrix" in out.stderr
