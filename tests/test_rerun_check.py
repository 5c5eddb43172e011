"""experiments/rerun_check.py: retrained runs against an earlier training of
the same runs, read from git history."""

import json
import os
import subprocess
import sys

from experiments import rerun_check


def _git(repo, *args):
  subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                 cwd=repo, check=True, capture_output=True)


def _run(seed_dir, started, clean, alpha, status="done"):
  seed_dir.mkdir(parents=True, exist_ok=True)
  (seed_dir / "run.json").write_text(json.dumps(
      {"status": status, "started": started}))
  (seed_dir / "clean.json").write_text(json.dumps({"accuracy": clean}))
  (seed_dir / "mask_sweep.json").write_text(json.dumps([
      {"attack": "alpha", "ratio": 0.2, "fill": "zero", "accuracy": alpha},
      {"attack": "beta", "ratio": 0.2, "fill": "zero", "accuracy": 40.0}]))
  (seed_dir / "robustness.json").write_text(json.dumps({"records": [
      {"attack": "pgd", "kind": "sweep", "loss": "ce", "eps": 8 / 255,
       "steps": 20, "n": 500, "accuracy": 1.5}]}))


def test_identical_and_changed_cells_against_the_training_before(tmp_path):
  repo = tmp_path
  _git(repo, "init", "-q")
  results = repo / "results"
  a, b = results / "a" / "seed0", results / "b" / "seed0"
  _run(a, "2026-01-01T00:00:00", 80.0, 30.0)
  _run(b, "2026-01-01T01:00:00", 70.0, 20.0)
  _git(repo, "add", "-A")
  _git(repo, "commit", "-qm", "first training")
  # An unfinished later training is no earlier training of anything.
  _run(b, "2026-01-01T02:00:00", 0.0, 0.0, status="running")
  _git(repo, "commit", "-qam", "a run that did not end")
  # Retrained after the reference time: a identical, b with one cell changed
  # and a new cell (alpha_pixels) the earlier training lacks.
  _run(a, "2026-02-01T00:00:00", 80.0, 30.0)
  _run(b, "2026-02-01T00:00:00", 70.0, 21.0)
  sweep = json.loads((b / "mask_sweep.json").read_text())
  sweep.append({"attack": "alpha_pixels", "ratio": 0.2, "fill": "zero",
                "accuracy": 25.0})
  (b / "mask_sweep.json").write_text(json.dumps(sweep))
  c = results / "c" / "seed1"
  _run(c, "2026-02-01T00:00:00", 60.0, 10.0)
  _git(repo, "add", "-A")
  _git(repo, "commit", "-qm", "retrained")
  res = rerun_check.compare(str(results), "2026-01-15T00:00:00", str(repo))
  # a: clean, alpha, beta, pgd; b: clean, beta, pgd identical, alpha changed.
  assert res["same"] == 7
  assert res["different"] == [
      ("b", "seed0", ("mask_sweep", ("attack", "alpha"), ("ratio", 0.2),
                      ("fill", "zero")), 21.0, 20.0)]
  assert res["unmatched"] == ["results/c/seed1"]
  assert len(res["commits"]) == 1
  # Before anything was trained: nothing to compare with.
  res = rerun_check.compare(str(results), "2025-01-01T00:00:00", str(repo))
  assert res["same"] == 0 and len(res["unmatched"]) == 3
