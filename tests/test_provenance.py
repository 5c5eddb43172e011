"""run.json provenance of experiments/fast_cpu.py and experiments/cifar10.py:
written when a run starts (commit, dirty state, machine) and completed when
it ends; a resumed run says from which step."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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
    sys.path.insert(0, os.path.join({repo!r}, "experiments"))
    import fast_cpu
    from absl import app
    def command(run, seed, data_zip, workdir, extra_flags=()):
      run_json = os.path.join({out!r}, run, f"seed{{seed}}", "run.json")
      return [sys.executable, "-c", {fake!r}, workdir, run_json]
    fast_cpu.command = command
    sys.argv = ["fast_cpu.py", "--runs=airbench_w0.25_e1:0",
                "--out=" + {out!r}, "--workdirs=" + {workdirs!r},
                "--zip=" + {zip!r}]
    app.run(fast_cpu.main)
""")


def _drive(tmp_path):
  out, workdirs = str(tmp_path / "out"), str(tmp_path / "wd")
  data = tmp_path / "data.zip"
  data.write_bytes(b"")
  code = DRIVER.format(repo=REPO, out=out, workdirs=workdirs, zip=str(data),
                       fake=FAKE_RUN)
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, cwd=REPO, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  path = os.path.join(out, "airbench_w0.25_e1", "seed0")
  return json.load(open(os.path.join(path, "run.json"))), path


def test_run_json_written_at_start_and_completed_at_end(tmp_path):
  head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO,
                        capture_output=True, text=True).stdout.strip()
  rec, path = _drive(tmp_path)
  assert rec["status"] == "done" and rec["commit"] == head
  assert rec["resumed_from_step"] is None
  assert rec["started"] <= rec["finished"] and rec["wall_s"] >= 0.3
  assert isinstance(rec["code_dirty"], bool)
  assert json.load(open(os.path.join(path, "clean.json")))["accuracy"] == 12.5


def test_a_resumed_run_says_from_which_step(tmp_path):
  os.makedirs(tmp_path / "wd" / "airbench_w0.25_e1_seed0" / "checkpoints" /
              "48")
  rec, _ = _drive(tmp_path)
  assert rec["status"] == "done" and rec["resumed_from_step"] == 48


CIFAR10_DRIVER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, os.path.join({repo!r}, "experiments"))
    import cifar10
    from absl import app
    def command(model, seed, scale, epochs, data_zip, workdir, overrides=()):
      run_json = os.path.join({out!r}, "cifar10_cpu", model, f"seed{{seed}}",
                              "run.json")
      return [sys.executable, "-c", {fake!r}, workdir, run_json]
    cifar10.command = command
    sys.argv = ["cifar10.py", "--runs=mixed:2", "--out=" + {out!r},
                "--workdirs=" + {workdirs!r}, "--zip=" + {zip!r}]
    app.run(cifar10.main)
""")


def _drive_cifar10(tmp_path):
  out, workdirs = str(tmp_path / "out"), str(tmp_path / "wd")
  data = tmp_path / "data.zip"
  data.write_bytes(b"")
  code = CIFAR10_DRIVER.format(repo=REPO, out=out, workdirs=workdirs,
                               zip=str(data), fake=FAKE_RUN)
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, cwd=REPO, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  path = os.path.join(out, "cifar10_cpu", "mixed", "seed2")
  return json.load(open(os.path.join(path, "run.json"))), path


def test_cifar10_runs_record_provenance_and_copy_every_fill(tmp_path):
  head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO,
                        capture_output=True, text=True).stdout.strip()
  rec, path = _drive_cifar10(tmp_path)
  assert rec["status"] == "done" and rec["commit"] == head
  assert rec["model"] == "mixed" and rec["seed"] == 2
  assert rec["resumed_from_step"] is None and rec["wall_s"] >= 0.3
  assert rec["started"] <= rec["finished"]
  assert isinstance(rec["code_dirty"], bool)
  assert sorted(os.listdir(path)) == sorted([
      "run.json", "config.json", "metrics.jsonl", "clean.json",
      "mask_sweep.json", "mask_sweep_mean.json", "sparse_pixels.json"])
  os.makedirs(tmp_path / "wd" / "cifar10_cpu" / "mixed_seed2" / "checkpoints"
              / "96")
  os.remove(os.path.join(path, "run.json"))
  rec, _ = _drive_cifar10(tmp_path)
  assert rec["status"] == "done" and rec["resumed_from_step"] == 96


def test_cifar10_scales_name_their_configs():
  """--scale=gpu trains configs/<name>.py:gpu (three seeds of clean, masked
  and mixed by default); --scale=full the full configs; --scale=cpu the
  :cpu ones with the model's own overrides."""
  code = textwrap.dedent("""
      import json, sys
      sys.path.insert(0, "experiments")
      import cifar10
      out = {s: cifar10.command("masked_all", 1, s, None, "d.zip", "w")[3:]
             for s in cifar10.SCALES}
      out["gpu_runs"] = cifar10.parse_runs(cifar10.GPU_RUNS)
      print(json.dumps(out))
  """)
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, cwd=REPO, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = json.loads(proc.stdout)
  tail = ["--config.data.path=d.zip", "--config.seed=1", "--workdir=w",
          '--config.train.mask_types=("alpha","beta","gamma")']
  assert out["gpu"] == ["--config=configs/masked.py:gpu"] + tail
  assert out["cpu"] == ["--config=configs/masked.py:cpu"] + tail
  assert out["cpu_resnet8"] == ["--config=configs/masked.py:cpu_resnet8"] + tail
  assert out["full"] == ["--config=configs/masked.py"] + tail
  assert sorted(map(tuple, out["gpu_runs"])) == sorted(
      (m, s) for m in ("clean", "masked", "mixed") for s in (0, 1, 2))


def test_cifar10_transfer_sources_are_the_trained_clean_seeds(tmp_path):
  """--transfer crafts on every done clean seed and shows the examples to
  every done run of the scale (not to running ones). A recorded workdir is
  relative to the checkout that ran it (here: relative to this one); where
  it holds no checkpoints, --workdirs/cifar10_<scale>/<run> is used; a done
  run with checkpoints in neither is an error that names it."""
  results = tmp_path / "out" / "cifar10_cpu"
  wd = tmp_path / "wd"
  for model, seed, status in (("clean", 0, "done"), ("clean", 1, "done"),
                              ("mixed", 0, "done"), ("masked", 0, "running")):
    d = results / model / f"seed{seed}"
    os.makedirs(d)
    os.makedirs(wd / f"{model}_seed{seed}" / "checkpoints" / "384")
    rel = os.path.relpath(wd / f"{model}_seed{seed}", REPO)
    json.dump({"status": status, "command": (
        f"python -m mdr.main --config=configs/{model}.py:cpu "
        f"--workdir={rel}")}, open(d / "run.json", "w"))
  other = tmp_path / "other"   # --workdirs
  os.makedirs(other / "cifar10_cpu" / "mixed_seed0" / "checkpoints")
  data = tmp_path / "data.zip"
  data.write_bytes(b"")

  def transfer():
    return subprocess.run(
        [sys.executable, "experiments/cifar10.py", "--transfer", "--dry_run",
         f"--out={tmp_path / 'out'}", f"--zip={data}",
         f"--workdirs={other}"],
        capture_output=True, text=True, cwd=REPO, check=False, timeout=120)
  proc = transfer()
  assert proc.returncode == 0, proc.stderr[-2000:]
  argv = proc.stdout.split()
  flag = lambda name: [a.partition("=")[2] for a in argv
                       if a.startswith(f"--{name}=")][0].split(",")
  assert [os.path.basename(s) for s in flag("sources")] == [
      "clean_seed0", "clean_seed1"]
  assert [os.path.basename(s) for s in flag("targets")] == [
      "clean_seed0", "clean_seed1", "mixed_seed0"]
  assert flag("settings") == ["pgd16"] and flag("images") == ["5000"]
  assert flag("out")[0].endswith(os.path.join("cifar10_cpu", "transfer"))
  assert os.path.realpath(flag("targets")[2]) == os.path.realpath(
      wd / "mixed_seed0")
  shutil.rmtree(wd / "mixed_seed0" / "checkpoints")
  proc = transfer()
  assert proc.returncode == 0, proc.stderr[-2000:]
  argv = proc.stdout.split()
  assert os.path.realpath(flag("targets")[2]) == os.path.realpath(
      other / "cifar10_cpu" / "mixed_seed0")
  shutil.rmtree(other / "cifar10_cpu" / "mixed_seed0" / "checkpoints")
  proc = transfer()
  assert proc.returncode == 1 and "mixed_seed0" in proc.stderr
