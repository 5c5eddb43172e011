"""Metric logging: TensorBoard event files and JSON lines, from process 0.

We use tensorboardX rather than clu's writers: clu 0.0.12's
``metric_writers`` package imports TensorFlow at import time (checked here:
``ModuleNotFoundError: No module named 'tensorflow'``), and TensorFlow is a
~600 MB dependency we otherwise never need. tensorboardX writes the same event
files TensorBoard reads, from pure Python.
"""

from __future__ import annotations

import json
import os
import time
from typing import Mapping, Optional

from absl import logging
import jax
import numpy as np


class MetricWriter:
  """Writes scalars to ``{workdir}/tb`` (TensorBoard) and ``metrics.jsonl``.

  Only process 0 writes; on other processes every call is a no-op.
  """

  def __init__(self, workdir: str, filename: str = "metrics.jsonl",
               resume_step: Optional[int] = None):
    """``resume_step``: drop JSON records logged after it (a resumed run
    logs those steps again)."""
    self._active = jax.process_index() == 0
    self._tb = None
    self._jsonl = None
    if self._active:
      os.makedirs(workdir, exist_ok=True)
      path = os.path.join(workdir, filename)
      if resume_step is not None and os.path.exists(path):
        with open(path) as f:
          keep = [l for l in f if l.strip() and
                  json.loads(l).get("step", 0) <= resume_step]
        with open(path + ".tmp", "w") as f:
          f.writelines(keep)
        os.replace(path + ".tmp", path)
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      self._tb = SummaryWriter(os.path.join(workdir, "tb"))
      self._jsonl = open(os.path.join(workdir, filename), "a")

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    if not self._active:
      return
    scalars = {k: float(np.asarray(v)) for k, v in scalars.items()}
    for name, value in scalars.items():
      self._tb.add_scalar(name, value, step)
    self._jsonl.write(json.dumps({"step": int(step), **scalars}) + "\n")
    self._jsonl.flush()
    self._tb.flush()

  def close(self) -> None:
    if self._active:
      self._tb.close()
      self._jsonl.close()


class Progress:
  """Console progress line: step, steps/s and ETA (from process 0)."""

  def __init__(self, total_steps: int, start_step: int):
    self.total = total_steps
    self._last_step = start_step
    self._last_time = time.perf_counter()

  def report(self, step: int, scalars: Optional[Mapping[str, float]] = None):
    now = time.perf_counter()
    rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
    self._last_step, self._last_time = step, now
    eta = (self.total - step) / rate if rate > 0 else float("inf")
    extra = " ".join(f"{k}={float(v):.4g}" for k, v in (scalars or {}).items())
    if jax.process_index() == 0:
      logging.info("step %d/%d  %.2f steps/s  ETA %s  %s", step, self.total,
                   rate, _duration(eta), extra)
    return rate


def _duration(seconds: float) -> str:
  if not np.isfinite(seconds):
    return "?"
  seconds = int(seconds)
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
