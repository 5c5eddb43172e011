"""run.json provenance of experiments/fast_cpu.py: written when a run starts
(commit, dirty state, machine) and completed when it ends; a resumed run
says from which step."""

import json
import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Stands in for `python -m mdr.main`: checks that run.json already exists
# and says "running" with the commit, then writes what a run leaves behind.
FAKE_RUN = textwrap.dedent("""
    import json, os, sys
    workdir, run_json = sys.argv[1], sys.argv[2]
    rec = json.load(open(run_json))
    assert rec["status"] == "running", rec
    assert len(rec["commit"]) == 40 and rec["machine"]["cpus"] >= 1, rec
    os.makedirs(os.path.join(workdir, "eval"), exist_ok=True)
    for name in ("metrics.jsonl", "config.json"):
      open(os.path.join(workdir, name), "w").write("{}")
    json.dump({"accuracy": 12.5}, open(os.path.join(workdir, "eval",
                                                    "clean.json"), "w"))
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
  assert rec["started"] <= rec["finished"] and rec["wall_s"] > 0
  assert isinstance(rec["code_dirty"], bool)
  assert json.load(open(os.path.join(path, "clean.json")))["accuracy"] == 12.5


def test_a_resumed_run_says_from_which_step(tmp_path):
  os.makedirs(tmp_path / "wd" / "airbench_w0.25_e1_seed0" / "checkpoints" /
              "48")
  rec, _ = _drive(tmp_path)
  assert rec["status"] == "done" and rec["resumed_from_step"] == 48
