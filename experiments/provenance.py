"""Provenance of experiment runs: the commit, whether the code differs from
it, and the machine (CPU model, devices, library versions)."""

import importlib.metadata
import os
import platform
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


CODE_PATHS = ("mdr", "configs", "pyproject.toml")


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
