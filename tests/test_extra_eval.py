"""experiments/extra_eval.py: the later evaluations of trained runs of any group.

It is run in subprocesses only: its absl flags (``--runs`` ...) would clash
with the other experiment scripts' that tests import into this process.
"""

import json
import os
import shlex
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TRAIN = ("python -m mdr.main --config=configs/clean.py:cpu "
         "--config.data.path=../shared/data/cifar10-jpeg.zip --config.seed=0 "
         "--config.eval.robust_images=1000 "
         "--workdir=../main/workdirs/cifar10_cpu/clean_seed0")


def _eval_command(train, suites, extra=()):
  code = textwrap.dedent(f"""
      import json, sys
      sys.path.insert(0, "experiments")
      import extra_eval
      try:
        print(json.dumps(extra_eval.eval_command({train!r}, {suites!r},
                                                 {list(extra)!r})))
      except ValueError as e:
        print(json.dumps(str(e)))
  """)
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, cwd=REPO, timeout=120, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return json.loads(proc.stdout)


def test_eval_command_replaces_the_training_flags_it_sets():
  cmd = _eval_command(TRAIN, ["robustness", "patch"],
                      ["--config.eval.robust_images=500"])
  assert cmd[1:3] == ["-m", "mdr.main"]
  assert "--mode=eval" in cmd
  assert "--config.eval.suites=('robustness','patch',)" in cmd
  # Replaced, not repeated (absl would keep the first of two).
  assert [a for a in cmd if a.startswith("--config.eval.robust_images")] == [
      "--config.eval.robust_images=500"]
  # The trained model's own flags are kept as they were.
  for kept in ("--config=configs/clean.py:cpu", "--config.seed=0",
               "--workdir=../main/workdirs/cifar10_cpu/clean_seed0"):
    assert kept in cmd
  assert _eval_command("python train.py", ["patch"]).startswith(
      "not an mdr.main command")


def _cli(dest, *args, script="extra_eval.py"):
  return subprocess.run(
      [sys.executable, os.path.join(REPO, "experiments", script),
       f"--dest={dest}", "--dry_run", *args],
      capture_output=True, text=True, timeout=120, check=False)


def _trained(root, status="done"):
  d = root / "experiments" / "results" / "cifar10_cpu" / "clean" / "seed0"
  d.mkdir(parents=True)
  (d / "run.json").write_text(json.dumps({"status": status,
                                          "command": TRAIN}))


def test_mdr_group_reads_the_seed_models_results(tmp_path):
  _trained(tmp_path)
  out = _cli(tmp_path, "--group=mdr", "--runs=clean:0",
             "--suites=robustness,patch")
  assert out.returncode == 0, out.stderr
  assert out.stdout.startswith("clean seed 0: python -m mdr.main "
                               "--config=configs/clean.py:cpu")
  assert "--mode=eval" in out.stdout
  # The default group looks under adversarial/, where this run is not.
  out = _cli(tmp_path, "--runs=clean:0", script="adversarial_eval.py")
  assert out.returncode == 1
  assert os.path.join("cifar10_cpu", "adversarial", "clean", "seed0",
                      "run.json") in out.stderr


def test_an_unfinished_run_is_refused_by_name(tmp_path):
  _trained(tmp_path, status="running")
  out = _cli(tmp_path, "--group=mdr", "--runs=clean:0")
  assert out.returncode == 1
  assert "clean seed 0 is not trained" in out.stderr
  out = _cli(tmp_path, "--group=everything", "--runs=clean:0")
  assert out.returncode == 1
  assert "everything" in out.stderr and "mdr" in out.stderr


def test_matrix_preset_parses_and_validates_on_the_cpu_configs(tmp_path):
  """--matrix's flags reach mdr.main intact (no shell quoting to lose) and
  make a valid config: PGD up to 8/255 on 500 images, the patch in the image
  domain only; a flag of --extra replaces the preset's."""
  _trained(tmp_path)
  out = _cli(tmp_path, "--group=mdr", "--runs=clean:0", "--matrix",
             "--extra=--config.eval.patch_images=50")
  assert out.returncode == 0, out.stderr
  argv = shlex.split(out.stdout.partition(": ")[2])
  assert "--config.eval.suites=('robustness','patch',)" in argv
  assert "--config.eval.patch_domains=('image',)" in argv
  assert [a for a in argv if "patch_images" in a] == [
      "--config.eval.patch_images=50"]
  code = textwrap.dedent("""
      import sys
      from absl import flags
      from ml_collections import config_flags
      from mdr import config as config_lib
      from mdr import evaluators
      config_flags.DEFINE_config_file("config")
      flags.FLAGS(["x", *sys.argv[1:]])
      c = flags.FLAGS.config
      config_lib.validate(c)
      evaluators.check_config(c)
      print(c.eval.patch_domains, c.eval.pgd_eps, c.eval.robust_images,
            c.eval.patch_images, c.eval.suites)
  """)
  overrides = [a for a in argv if a.startswith("--config")]
  proc = subprocess.run([sys.executable, "-c", code, *overrides],
                        capture_output=True, text=True, cwd=REPO,
                        timeout=120, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.split("\n")[0] == (
      "('image',) (0, 2, 8) 500 50 ('robustness', 'patch')")


def _robustness(seed_dir, n, eps255=8, steps=20):
  (seed_dir / "robustness.json").write_text(json.dumps({"n": n, "records": [
      {"attack": "pgd", "eps": eps255 / 255, "accuracy": 30.0, "n": n,
       "steps": steps, "loss": "ce", "kind": "sweep"}]}))


def test_matrix_skips_pgd_the_training_evaluation_measured(tmp_path):
  """--matrix runs the robustness suite only where the run's own
  robustness.json lacks the matrix's cell (PGD-20 at 8/255 on 500 images)."""
  workdirs = tmp_path / "workdirs"
  seed = tmp_path / "experiments" / "results" / "cifar10_cpu" / "adversarial"
  runs = {"measured": (500, 8, 20), "other_n": (1000, 8, 20),
          "other_eps": (500, 2, 20), "other_steps": (500, 8, 10),
          "unmeasured": None}
  for run, setting in runs.items():
    _adversarial(tmp_path, run, 0, workdirs)
    if setting:
      _robustness(seed / run / "seed0", *setting)
  out = _cli(tmp_path, "--matrix",
             "--runs=" + ",".join(f"{r}:0" for r in runs))
  assert out.returncode == 0, out.stderr
  suites = {}
  for line in out.stdout.strip().split("\n"):
    run, _, cmd = line.partition(" seed 0: ")
    suites[run] = [a for a in shlex.split(cmd)
                   if a.startswith("--config.eval.suites=")]
  both = ["--config.eval.suites=('robustness','patch',)"]
  assert suites == {"measured": ["--config.eval.suites=('patch',)"],
                    "other_n": both, "other_eps": both, "other_steps": both,
                    "unmeasured": both}


def _adversarial(root, run, seed, workdirs, checkpoints=True):
  d = (root / "experiments" / "results" / "cifar10_cpu" / "adversarial" /
       run / f"seed{seed}")
  d.mkdir(parents=True)
  wd = workdirs / f"{run}_seed{seed}"
  if checkpoints:
    (wd / "checkpoints").mkdir(parents=True)
  (d / "run.json").write_text(json.dumps({
      "status": "done", "command": "python -m mdr.main "
      f"--config=configs/fast.py:cpu --workdir={wd}"}))
  return str(wd)


def test_transfer_from_the_groups_standard_runs_onto_all_of_them(tmp_path):
  """--transfer: sources = the group's clean-training runs, targets = every
  finished run of the group, by the workdirs their run.json records; the
  output is the group's transfer directory that matrix_report reads."""
  wds = tmp_path / "w"
  e3 = "airbench_w0.25_e3"
  std = _adversarial(tmp_path, e3, 0, wds)
  at0 = _adversarial(tmp_path, f"{e3}_pgd_at", 0, wds)
  at1 = _adversarial(tmp_path, f"{e3}_pgd_at", 1, wds)
  out = _cli(tmp_path, "--group=adversarial", "--transfer", "--data=/d.zip")
  assert out.returncode == 0, out.stderr
  argv = shlex.split(out.stdout.partition(": ")[2])
  assert argv[:3] == ["python", "-m", "mdr.transfer"]
  # Printed relative to dest's parent, as recorded commands are.
  rel = lambda p: p.replace(str(tmp_path.parent) + os.sep, "../")
  assert f"--sources={rel(std)}" in argv
  assert f"--targets={rel(std)},{rel(at0)},{rel(at1)}" in argv
  assert "--settings=pgd16" in argv and "--data=/d.zip" in argv
  assert argv[-1].endswith(os.path.join("cifar10_cpu", "adversarial",
                                        "transfer"))
  # A target whose checkpoints are gone is named, and nothing runs.
  _adversarial(tmp_path, f"{e3}_fgsm_rs", 0, wds, checkpoints=False)
  out = _cli(tmp_path, "--group=adversarial", "--transfer")
  assert out.returncode == 1
  assert f"{e3}_fgsm_rs_seed0" in out.stderr and "retrain" in out.stderr


def test_a_later_suite_is_added_beside_a_finished_evaluation(tmp_path):
  """A finished extra_eval/ skips only the suites it ran: others go to
  extra_eval_<suites>/ (nothing written is replaced), and seed_runs.load
  reads both, the later file over the earlier one of the same name."""
  run = "airbench_w0.25_e3_pgd_at"
  _adversarial(tmp_path, run, 0, tmp_path / "w")
  seed = (tmp_path / "experiments" / "results" / "cifar10_cpu" /
          "adversarial" / run / "seed0")
  (seed / "clean.json").write_text(json.dumps({"accuracy": 40.0}))

  def evaluated(name, suites, finished, files):
    (seed / name).mkdir()
    (seed / name / "run.json").write_text(json.dumps(
        {"status": "done", "suites": suites, "finished": finished}))
    for f, value in files.items():
      (seed / name / f"{f}.json").write_text(json.dumps({"value": value}))

  def target(*suites):
    out = _cli(tmp_path, f"--runs={run}:0", "--suites=" + ",".join(suites))
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    return "skipped" if line.endswith("skipped") else line.rsplit(" ", 1)[1]

  assert target("patch") == "extra_eval/"
  evaluated("extra_eval", ["patch"], "2026-01-01T10:00:00",
            {"patch": 1, "robustness": 1})
  assert target("patch") == "skipped"
  assert target("pgd_strong") == "extra_eval_pgd_strong/"
  assert target("pgd_strong", "patch") == "extra_eval_pgd_strong_patch/"
  evaluated("extra_eval_pgd_strong", ["pgd_strong"], "2026-01-02T10:00:00",
            {"pgd_strong": 2, "robustness": 2})
  assert target("pgd_strong") == "skipped"
  assert target("patch") == "skipped"
  # Not finished: its files do not count, and it is redone where it is.
  (seed / "extra_eval_robustness").mkdir()
  (seed / "extra_eval_robustness" / "run.json").write_text(json.dumps(
      {"status": "running", "suites": ["robustness"]}))
  (seed / "extra_eval_robustness" / "robustness.json").write_text(
      json.dumps({"value": 3}))
  assert target("robustness") == "extra_eval_robustness/"
  code = textwrap.dedent(f"""
      import json, sys
      sys.path.insert(0, "experiments")
      import seed_runs
      rec = seed_runs.load({str(seed.parent.parent)!r})[{run!r}][0]
      print(json.dumps({{k: (rec[k] or {{}}).get("value") for k in
                        ("patch", "pgd_strong", "robustness")}}))
  """)
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, cwd=REPO, timeout=120, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert json.loads(proc.stdout) == {"patch": 1, "pgd_strong": 2,
                                     "robustness": 2}
