"""Provenance of experiment runs: the commit, whether the code differs from
it, and the machine (CPU model, devices, library versions)."""

import datetime
import glob
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


CODE_PATHS = ("mdr", "configs", "pyproject.toml")


def load_module(path):
  """The Python file at ``path`` as a module (a config file, a test helper),
  without putting its directory on ``sys.path``."""
  spec = importlib.util.spec_from_file_location(
      os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def git_commit():
  """(HEAD commit, whether the code a run uses differs from it)."""
  def git(*a):
    return subprocess.run(["git", *a], cwd=REPO, capture_output=True,
                          text=True, check=False).stdout.strip()
  return git("rev-parse", "HEAD"), bool(
      git("status", "--porcelain", "--", *CODE_PATHS))


def machine():
  # In a child process: JAX in this one would hold GPU memory that the runs
  # need (it preallocates most of it on first use).
  # Floating-point results depend on the CPU (XLA's code generation) and the
  # library versions as well as on the seed, so both are recorded.
  proc = subprocess.run(
      [sys.executable, "-c", "import jax; d = jax.devices(); "
       "print(f'{len(d)} x {d[0].device_kind}')"],
      capture_output=True, text=True, check=False)
  devices = (proc.stdout.strip() or "unknown: " +
             (proc.stderr.strip().splitlines() or ["?"])[-1])
  return {"platform": platform.platform(), "cpus": os.cpu_count(),
          "cpu_model": cpu_model(), "devices": devices,
          "versions": versions()}


def cpu_model():
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def versions(packages=("jax", "jaxlib", "flax", "optax", "numpy", "pillow")):
  out = {}
  for name in packages:
    try:
      out[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      out[name] = None
  return out


def write_json(path, record):
  """Writes ``record`` to ``path`` atomically (a temporary file, renamed)."""
  with open(path + ".tmp", "w") as f:
    json.dump(record, f, indent=1)
  os.replace(path + ".tmp", path)


def is_done(path):
  """Whether the ``run.json`` at ``path`` exists and says done."""
  return os.path.exists(path) and json.load(open(path)).get(
      "status") == "done"


def finished(record):
  """Whether a loaded ``run.json`` record is of a finished run: its status
  says done, or it has no status (runs made before ``run_step``, whose
  ``run.json`` was written only when they ended)."""
  return record.get("status", "done") == "done"


def finished_runs(results):
  """``(name, seed_dir, run_json)`` of every finished run under ``results``.

  A results root holds ``<name>/seed<k>/run.json`` per run (written when the
  run starts, completed when it ends); runs still going or failed are left
  out, so that no report ever shows them. Sorted by path.
  """
  for path in sorted(glob.glob(os.path.join(results, "*", "seed*",
                                            "run.json"))):
    with open(path) as f:
      record = json.load(f)
    if finished(record):
      seed_dir = os.path.dirname(path)
      yield os.path.basename(os.path.dirname(seed_dir)), seed_dir, record


def workdir_of(argv):
  """The ``--workdir`` of an ``mdr.main`` argv, resolved against this
  checkout (recorded commands are relative to the checkout that ran them, a
  sibling of this one: ``../main/workdirs/...``), or None."""
  found = [a.partition("=")[2] for a in argv if a.startswith("--workdir=")]
  return os.path.normpath(os.path.join(REPO, found[-1])) if found else None


def _now():
  return datetime.datetime.now().isoformat(timespec="seconds")


def run_step(cmd, out, short, cwd=REPO, after=None, **fields):
  """Runs ``cmd`` as one step with its ``out/run.json``: written when it
  starts (``fields``, the command ``short``, commit, whether the code differs
  from it, machine, load) and completed when it ends (wall time, load,
  status "done", or "failed (exit k)" and an exit with that message).
  ``after()`` runs between the command and the completion (copying files)."""
  os.makedirs(out, exist_ok=True)
  path = os.path.join(out, "run.json")
  commit, dirty = git_commit()
  record = dict(fields, command=short, commit=commit, code_dirty=dirty,
                status="running", started=_now(),
                load_avg_1min_start=round(os.getloadavg()[0], 2),
                machine=machine())
  write_json(path, record)
  start = time.time()
  proc = subprocess.run(cmd, cwd=cwd, check=False)
  record["wall_s"] = round(time.time() - start, 1)
  if proc.returncode:
    record["status"] = f"failed (exit {proc.returncode})"
    write_json(path, record)
    sys.exit(f"error: {short} exited {proc.returncode}")
  if after:
    after()
  record.update(status="done", load_avg_1min_end=round(os.getloadavg()[0], 2),
                finished=_now())
  write_json(path, record)
